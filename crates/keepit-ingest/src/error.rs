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
    #[error("another sync process ({holder}) is syncing this integration")]
    LeaseHeld {
        /// Who we are (the other holder is not known here).
        holder: String,
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
