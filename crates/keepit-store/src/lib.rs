//! Persistence for keepit-watch: sea-orm entities, migrations and repositories on
//! SQLite (the default) and PostgreSQL.
//!
//! [`Store`] is the one handle: [`Store::connect_and_migrate`] opens a database from a
//! `DATABASE_URL`-style [`StoreConfig`] and applies the migrations; its methods, grouped
//! by area in this crate's modules, take and return `keepit-domain` types or the plain
//! record types defined here (for example [`JobRecord`], [`ConnectorRecord`],
//! [`AuditEventRecord`]). The sea-orm entities and migrations stay inside the crate.
//!
//! Upserts are batched and idempotent: each returns how many rows it inserted or
//! changed, and a re-sync of unchanged data writes nothing. A sync commits one account
//! at a time with [`Store::commit_account_sync`], which stores the data and moves the
//! sync cursors in one transaction. Credentials at rest are sealed with AES-256-GCM
//! ([`secrets`]).
//!
//! This crate must not know about HTTP, XML or the Keepit client, and it reads no
//! environment variables: binaries pass configuration and the master key in.

mod alerts;
mod audit;
mod connectors;
mod convert;
mod cursor;
mod customers;
mod entity;
mod error;
mod ids;
mod integrations;
mod jobs;
mod messages;
mod migration;
mod pass;
mod psa;
pub mod secrets;
mod sessions;
mod store;
mod sync;
mod upsert;
mod users;

pub use alerts::{
    AlertFilter, AlertObservation, AlertRuleRecord, AlertTransitionRecord, AlertUpdate,
    NewAlertTransition,
};
pub use audit::{
    AuditEventRecord, AuditQuery, PurgeReport, RetentionConfig, StoredAuditEvent, TimelineEntry,
    TimelinePage, truncate_client_ip,
};
pub use connectors::{
    ConnectorFilter, ConnectorRecord, ConnectorStatusRecord, FleetVersion, StoredConnector,
    StoredConnectorStatus,
};
pub use cursor::{CursorError, JobCursor, TimelineCursor};
pub use customers::{
    CustomerRecord, CustomerSource, CustomerSyncOutcome, ImportReport, ImportRowError,
    KeepitAccountRecord, KeepitAccountSighting, LinkState,
};
pub use error::{Error, Result};
pub use ids::{
    AlertId, AlertRuleId, ApiTokenId, CustomerId, DeliveryId, IntegrationId, MessageId,
    PsaConnectionId, PsaTicketId, SyncRunId,
};
pub use integrations::{
    IntegrationChange, IntegrationRecord, IntegrationSettings, KeepitCredentials, NewIntegration,
};
pub use jobs::{FinishedBackup, JobPage, JobQuery, JobRecord, StoredJob};
pub use messages::{
    DeliveryAttempt, DeliveryRecord, DeliveryStatus, InboxItem, InboxQuery, MessageRecord,
    NewMessage, StoredMessage,
};
pub use pass::{
    ClaimedAccount, PassAccount, PassAccountRecord, PassAccountResult, PassAccountState,
};
pub use psa::{
    NewPsaConnection, NewPsaTicket, PsaConnectionChange, PsaConnectionRecord, PsaSettings,
    PsaTicketChange, PsaTicketRecord, PsaTicketState,
};
pub use sessions::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, WebSession, check_password};
pub use store::{Backend, Store, StoreConfig};
pub use sync::{
    AccountSyncBatch, AccountSyncReport, CursorKey, CursorMove, DurationHistogram, LeaseGrant,
    SYNC_DURATION_BOUNDS, SyncAccountError, SyncOutcome, SyncRunRecord, SyncRunSummary,
    SyncRunTotals,
};
pub use upsert::UpsertCounts;
pub use users::{ApiTokenRecord, NewUser, Role, UserChange, UserRecord};

#[cfg(test)]
mod tests;
