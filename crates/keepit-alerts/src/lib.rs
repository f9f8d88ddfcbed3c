//! Alerts for keepit-watch: the two rule kinds MSPs ask for, their lifecycle, and
//! the messages and notifications that tell people about them.
//!
//! - [`rule`]: rule configuration ([`RuleConfig`]) with scope and per-customer overrides.
//! - [`engine`]: [`evaluate`], a pure function from (connector facts, rules, open
//!   alerts, now) to [`Decision`]s: open, escalate, remind, resolve.
//! - [`message`]: [`compose`] turns what changed between syncs into message drafts.
//! - [`notify`]: e-mail (SMTP) and webhook channels with bounded retries.
//! - [`adapter`]: [`AlertPass`], the thin layer that loads facts from `keepit-store`,
//!   runs the engine, applies its decisions, stores routed messages and delivers them.
//!
//! Only `adapter` knows the store; the engine and the composition are pure and know
//! nothing about databases or transports.

pub mod adapter;
pub mod engine;
pub mod message;
pub mod notify;
pub mod rule;

pub use adapter::{AlertPass, AlertPassSummary, Notifiers};
pub use engine::{
    AlertState, BackupOutcome, ConnectorFacts, Decision, FailureEvent, OpenAlert, Severity, Why,
    evaluate,
};
pub use message::{ChangeEvent, ConnectorRef, MessageDraft, compose};
pub use rule::{
    MAX_RULE_DURATION_DAYS, RuleConfig, RuleError, RuleId, RuleKind, RuleOverride, RuleParams,
    RuleScope,
};
