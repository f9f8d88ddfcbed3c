//! Alerts for keepit-watch: the two rule kinds MSPs ask for, their lifecycle, and
//! the messages and notifications that tell people about them.
//!
//! The vocabulary (rules, scopes, thresholds, states, severities, alerts) is
//! `keepit_domain`'s; this crate evaluates it and acts on the result.
//!
//! - [`engine`]: [`evaluate`], a pure function from (connector facts, rules, open
//!   alerts, now) to [`Decision`]s: open, escalate, remind, resolve, with
//!   remedy-aware paging ([`Paging`]).
//! - [`message`]: [`compose`] turns what changed between syncs into message drafts.
//! - [`notify`]: e-mail (SMTP) and webhook channels with bounded retries.
//! - [`preview`]: [`dry_run`], what a new or changed rule would hold open now and
//!   would have sent over the stored history, through [`evaluate`] itself.
//! - [`adapter`]: [`AlertPass`], the thin layer that loads facts from `keepit-store`,
//!   runs the engine, applies its decisions, stores notices and messages with their
//!   deliveries queued, and works through the delivery queue.
//!
//! Only `adapter` knows the store; the engine, the dry run and the composition are pure and know
//! nothing about databases or transports.

pub mod adapter;
pub mod engine;
pub mod message;
pub mod notify;
pub mod preview;
pub mod tickets;

pub use adapter::{AlertPass, AlertPassSummary, Notifiers, PreviewReport};
pub use engine::{BackupOutcome, ConnectorFacts, Decision, FailureEvent, Paging, Why, evaluate};
pub use message::{ChangeEvent, ConnectorRef, MessageDraft, compose};
pub use preview::{RulePreview, dry_run};
pub use tickets::PsaSupport;

/// Why an alert pass could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be read or written; what was applied before stays.
    #[error("the alert pass could not use the database")]
    Store(#[from] keepit_store::Error),
}
