//! Identifiers of rows the store numbers itself (Keepit things use their GUIDs).

use std::fmt;

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
    /// A customer of the MSP.
    CustomerId
);
row_id!(
    /// An alert rule.
    AlertRuleId
);
row_id!(
    /// One alert.
    AlertId
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
