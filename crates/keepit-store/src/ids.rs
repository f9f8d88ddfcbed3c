//! Identifiers of rows the store numbers itself (Keepit things use their GUIDs).

use std::fmt;

// The ids of the alert vocabulary live with it in the domain.
pub use keepit_domain::{AlertId, AlertRuleId, CustomerId};

macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

row_id!(
    /// A Keepit integration (one parent account connection).
    IntegrationId
);
row_id!(
    /// An in-app message.
    MessageId
);
row_id!(
    /// One delivery of a message over a notification channel.
    DeliveryId
);
row_id!(
    /// One sync run.
    SyncRunId
);
row_id!(
    /// An API token.
    ApiTokenId
);
row_id!(
    /// A PSA connection.
    PsaConnectionId
);
row_id!(
    /// A ticket keepit-watch opened in a PSA.
    PsaTicketId
);
