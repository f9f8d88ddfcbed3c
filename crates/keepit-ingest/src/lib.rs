//! The keepit-watch sync engine.
//!
//! [`sync_once`] is one pass over one integration (an MSP's Keepit parent account):
//! it checks the credentials, walks the account tree, matches each child account to a
//! customer, then syncs every account with bounded concurrency (connectors, health,
//! error codes, latest snapshots, job history since the account's cursors, and the
//! audit log on a rolling window) and commits each account in one transaction, cursors
//! included. One account failing is recorded and does not stop the others. At the end
//! of the pass a [`PassHook`] runs (alert evaluation and messages in the shipped
//! binaries). [`run_every`] repeats passes at an interval until shut down.
//!
//! This crate knows nothing about HTTP servers; it talks to Keepit only through
//! `keepit-client` and to the database only through `keepit-store`.

mod changes;
mod config;
mod connect;
mod error;
mod hook;
mod lease;
mod schedule;
mod sync;

pub use config::{Clock, Progress, SyncConfig};
pub use connect::{
    ClientLimits, ConnectError, client_for_integration, client_with_credentials,
    credentials_from_stored,
};
pub use error::{Error, Result};
pub use hook::{NoopHook, PassContext, PassHook, PassNotes};
pub use lease::LeaseHolder;
pub use schedule::{Shutdown, ShutdownSignal, run_every};
pub use sync::{HelpReport, Integration, SyncReport, help_pass, sync_once};
