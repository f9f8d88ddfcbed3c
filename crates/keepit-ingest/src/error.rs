//! The sync engine's error type.

use keepit_domain::AccountId;

/// Why a pass (or one account of it) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Talking to Keepit failed.
    #[error("keepit request failed")]
    Keepit(#[from] keepit_client::Error),
    /// Reading or writing the database failed.
    #[error("database operation failed")]
    Store(#[from] keepit_store::Error),
    /// Another process holds the integration's sync lease.
    #[error(
        "another sync ({holder}) is syncing this integration; its lease runs until {until} unless renewed"
    )]
    LeaseHeld {
        /// The other holder, described for people (`process 12 on host`).
        holder: String,
        /// When its lease expires unless it renews it.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Another process took the lease over while this pass ran (this one stalled past
    /// the lease's expiry); the pass stopped where it was.
    #[error("the sync lease was taken over by {holder} while this pass ran")]
    LeaseLost {
        /// The new holder, described for people, when known.
        holder: String,
    },
    /// The configured parent account does not exist or the credentials cannot see it.
    #[error(
        "the parent account {account} does not exist or these credentials cannot see it; check the account GUID"
    )]
    ParentNotVisible {
        /// The configured parent account.
        account: AccountId,
        /// Keepit's answer.
        #[source]
        source: keepit_client::Error,
    },
    /// One account took longer than the pass allows.
    #[error("the account took longer than {limit:?} and was abandoned for this pass")]
    AccountDeadline {
        /// The limit.
        limit: std::time::Duration,
    },
    /// One account failed; used inside a pass.
    #[error("account {account} failed")]
    Account {
        /// The account.
        account: AccountId,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// The pass was asked to stop before it began.
    #[error("the sync was shut down before it started")]
    ShutDown,
}

/// The sync engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error and its causes on one line, for the `sync_runs` table and logs.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
