//! Alerts for keepit-watch: the two rule kinds MSPs ask for, their lifecycle, and
//! the messages and notifications that tell people about them.
//!
//! - [`rule`]: rule configuration ([`RuleConfig`]) with scope and per-customer overrides.
//! - [`engine`]: [`evaluate`], a pure function from (connector facts, rules, open
//!   alerts, now) to [`Decision`]s: open, escalate, remind, resolve.
//!
//! The engine knows nothing about databases or transports; adapters feed it facts and
//! apply its decisions.

pub mod engine;
pub mod message;
pub mod notify;
pub mod rule;

pub use engine::{
    AlertState, BackupOutcome, ConnectorFacts, Decision, FailureEvent, OpenAlert, Severity, Why,
    evaluate,
};
pub use message::{ChangeEvent, ConnectorRef, MessageDraft, compose};
pub use rule::{RuleConfig, RuleError, RuleId, RuleKind, RuleOverride, RuleParams, RuleScope};
