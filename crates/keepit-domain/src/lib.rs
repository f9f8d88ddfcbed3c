//! The vocabulary of keepit-watch.
//!
//! Everything the rest of the workspace talks about is named here:
//! Keepit identifiers ([`AccountId`], [`ConnectorId`], [`JobId`]),
//! connector kinds and health ([`ConnectorKind`], [`Health`]),
//! jobs, their statistics and the one function that decides a job's status ([`decide_status`]),
//! the failure-reason catalogue ([`ReasonCode`], [`catalogue`]),
//! audit categories ([`AuditCategory`], [`categorize_audit`]),
//! message kinds and who receives them ([`MessageKind`], [`route_message`]),
//! the alert vocabulary: rules, scopes, thresholds, states and severities ([`AlertRule`], [`Thresholds`], [`Alert`]),
//! and company-name normalisation for matching Keepit accounts to customers ([`normalize_company_name`]).
//!
//! # Example
//!
//! ```
//! use keepit_domain::{AccountId, normalize_company_name};
//!
//! // Keepit's GUIDs are checked once, at the edge, and typed from then on.
//! let account = AccountId::new("acct01-aaaaaa-bbbbbb").expect("a Keepit account GUID");
//! assert_eq!(account.to_string(), "acct01-aaaaaa-bbbbbb");
//! assert!(AccountId::new("").is_err());
//!
//! // Company names match across case, accents, punctuation and legal suffixes.
//! assert_eq!(
//!     normalize_company_name("Contoso, Ltd."),
//!     normalize_company_name("CONTOSO")
//! );
//! ```
//!
//! This crate must not know about I/O, serialisation formats, XML, SQL or HTTP.
//! It depends on no async runtime and derives no `Serialize`/`Deserialize`;
//! the wire and storage layers convert to and from these types explicitly.

mod alert;
mod audit;
mod company;
mod connector;
mod duration;
mod failure;
mod id;
mod job;
mod message;
mod status;

pub use alert::{
    Alert, AlertEvent, AlertId, AlertRule, AlertRuleId, AlertRuleSpec, AlertScope, AlertState,
    CustomerId, CustomerOverride, MAX_THRESHOLD_DAYS, RuleKind, Severity, Threshold,
    ThresholdError, ThresholdOverrides, Thresholds, UnknownCode,
};
pub use audit::{AuditCategory, AuditFacts, categorize_audit};
pub use company::{CustomerMatch, match_customer, normalize_company_name};
pub use connector::{
    ConnectorErrorCode, ConnectorKind, ConnectorState, DslAgent, Health, HealthReason,
    ParseHealthError, SnapshotKind,
};
pub use duration::{DurationError, parse_duration};
pub use failure::{
    ConditionClass, FailureReason, ReasonCode, ReasonEntry, ReasonScope, Remedy, SupportDetail,
    catalogue,
};
pub use id::{AccountId, ConnectorId, IdError, JobId, UserId};
pub use job::{
    BackupStatistics, JobFamily, JobObservation, JobStatistics, JobStatus, JobType,
    ParseJobStatusError, RestoreStatistics, Volume, decide_status,
};
pub use message::{
    Audience, DownloadKind, MessageKind, MessagePreference, ParseMessageKindError,
    RecipientCandidate, route_message,
};
pub use status::{
    BackupSeen, DerivedStatus, StatusBefore, StatusEvidence, derive_connector_status,
};
