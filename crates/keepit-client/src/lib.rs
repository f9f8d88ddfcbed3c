//! A typed, async, resilient client for Keepit's REST API.
//!
//! Keepit answers XML over HTTPS with HTTP Basic authentication on every request.
//! This crate wraps the endpoints a monitoring integration needs (accounts and the
//! account tree, connectors, health, status, snapshots, jobs, skipped items and the
//! audit log) and converts what Keepit sends into `keepit-domain` types.
//!
//! - **Lenient where Keepit is vague**: text is trimmed, unknown elements are ignored,
//!   lists of one and empty wrappers decode as lists, empty bodies are empty answers,
//!   a 404 means "nothing there" where Keepit uses it that way, and enums keep values
//!   they do not know.
//! - **Strict where it matters**: an answer that cannot be understood is an
//!   [`Error::Decode`] naming the endpoint and a short, masked snippet.
//! - **Resilient**: safe calls (GET and Keepit's read-only PUT filters) are retried on
//!   408, 429, 5xx and transport errors with jittered exponential backoff, honouring
//!   `Retry-After`; job cancellation is never retried. A client-wide concurrency cap
//!   and an optional rate limit protect Keepit.
//! - **Quiet about secrets**: passwords and API-token logins never appear in `Debug`
//!   output, traces or errors. Every request runs in a `keepit.request` tracing span
//!   with the method, endpoint template, status, attempt and duration.
//!
//! # Example
//!
//! ```no_run
//! use futures::TryStreamExt as _;
//! use keepit_client::{AuditQuery, Credentials, KeepitClient};
//!
//! # async fn run() -> Result<(), keepit_client::Error> {
//! let credentials = Credentials::choose(
//!     Some("admin@msp.example".into()),
//!     Some("correct horse battery staple".into()),
//!     None,
//!     None,
//! )
//! .expect("complete credentials");
//! let client = KeepitClient::builder().region("us-dc").credentials(credentials).max_concurrency(5).build()?;
//!
//! let report = client.test_connection().await?;
//! println!("{} sees {} customer accounts", report.account, report.customer_accounts);
//!
//! for node in client.account_tree(&report.account).await? {
//!     for connector in client.connectors(&node.account.id, true).await? {
//!         let health = client.connector_health(&node.account.id, &connector.id).await?;
//!         println!("{} / {}: {}", node.account.display_name(), connector.name, health.health);
//!     }
//! }
//!
//! let since = chrono::Utc::now() - chrono::Duration::days(1);
//! let query = AuditQuery::between(report.account.clone(), since, chrono::Utc::now());
//! let records: Vec<_> = client.audit_log(query, 500).try_collect().await?;
//! println!("{} audit records in the last day", records.len());
//! # Ok(())
//! # }
//! ```
//!
//! A complete program that runs against a local fake Keepit lives in
//! `crates/keepit-client/examples/embed.rs` (`cargo run -p keepit-client --example embed`).
//!
//! This crate knows nothing about databases, alerting or HTTP servers.

mod api;
mod auth;
mod client;
mod error;
pub mod model;
#[cfg(test)]
mod props;
mod redact;
mod wire;
mod xml;

pub use api::{AuditQuery, JobHistoryFilter};
pub use auth::Credentials;
pub use client::{
    DEFAULT_DEADLINE, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_RESPONSE_BYTES, KeepitClient,
    KeepitClientBuilder, NO_ANSWER, RetryPolicy, resolve_base_url,
};
pub use error::{Error, Result};
pub use model::{
    AccountInfo, AccountNode, AuditPage, AuditRecord, BackupSummaryEntry, ChildAccount,
    ConnectionReport, Connector, ConnectorHealth, DeviceStatus, Job, SkippedItem, Snapshot,
    StatusEntry,
};

/// Decodes an audit page body without a network round trip, for benchmarks and tools
/// that read captured responses.
///
/// Unlike [`KeepitClient::audit_page`], a record without an account is an error here.
pub fn decode_audit_page(body: &str) -> Result<Vec<AuditRecord>> {
    model::decode_audit_records("PUT /audit/filter/pretty", body, false)
}

/// Decodes a connector list body without a network round trip, for benchmarks and tools.
pub fn decode_connectors(body: &str) -> Result<Vec<Connector>> {
    model::decode_connectors("GET /users/{a}/devices", body)
}
