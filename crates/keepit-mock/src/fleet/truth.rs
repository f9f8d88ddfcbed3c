//! The ground-truth records of a fleet: what the mock serves, in domain types.

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, AuditCategory, AuditFacts, ConnectorErrorCode, ConnectorId, ConnectorKind,
    ConnectorState, Health, HealthReason, JobFamily, JobId, JobObservation, JobStatistics,
    JobStatus, JobType, ReasonCode, SnapshotKind,
};

use crate::fleet::scenario::ConnectorScenario;

/// Where an account sits in the MSP's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    /// The MSP's own top account, which the credentials belong to.
    Partner,
    /// A reseller or sub-partner between the MSP and some customers.
    SubPartner,
    /// A customer account, which owns connectors.
    Customer,
}

/// One Keepit account of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthAccount {
    /// The account GUID.
    pub id: AccountId,
    /// The parent account (none for the MSP's top account).
    pub parent: Option<AccountId>,
    /// Partner, sub-partner or customer.
    pub role: AccountRole,
    /// Distance from the top account (0 for the top account).
    pub depth: usize,
    /// Company name (the v1 `company_name`, v3 `contact/companyname`, audit `company`).
    pub company_name: String,
    /// Primary contact e-mail.
    pub email: String,
    /// Primary contact name.
    pub full_name: String,
    /// Country code (ISO 3166-1 alpha-2).
    pub country: String,
    /// When the account was created.
    pub created: DateTime<Utc>,
    /// The product assigned directly to the account (none: inherited from the parent).
    pub product: Option<String>,
    /// Set when the account is scheduled for deletion.
    pub deletion_deadline: Option<DateTime<Utc>>,
    /// Direct children, in the order Keepit lists them.
    pub children: Vec<AccountId>,
    /// Connectors, in the order Keepit lists them.
    pub connectors: Vec<ConnectorId>,
    /// Logins of people at this account (e-mails); they appear as audit `token`s.
    pub users: Vec<String>,
    /// The login of this account's API token; it appears as an audit `token`.
    pub api_token_login: String,
}

/// One snapshot of a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthSnapshot {
    /// Snapshot time.
    pub tstamp: DateTime<Utc>,
    /// Snapshot id (64 hex digits).
    pub root: String,
    /// Complete or partial.
    pub kind: SnapshotKind,
    /// Total size in bytes.
    pub size: u64,
}

/// One connector of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthConnector {
    /// The connector GUID.
    pub id: ConnectorId,
    /// The owning account.
    pub account: AccountId,
    /// Display name.
    pub name: String,
    /// What it backs up.
    pub kind: ConnectorKind,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Keepit's `accessible`.
    pub accessible: bool,
    /// Set when the connector is scheduled for deletion (listed only with `?all=1`).
    pub deletion_deadline: Option<DateTime<Utc>>,
    /// Keepit's `backup-retention` (ISO 8601 duration).
    pub backup_retention: Option<String>,
    /// Keepit's `orglink` (Microsoft connectors only).
    pub orglink: Option<String>,
    /// The situation this connector was generated to show.
    pub scenario: ConnectorScenario,
    /// Health as served by `…/health`.
    pub health: Health,
    /// Health reason as served by `…/health?reason=true`.
    pub health_reason: HealthReason,
    /// The numeric `status` of the last `…/status` entry.
    pub status_code: u8,
    /// The `ecode` served by `…/status`, exactly as on the wire.
    pub ecode: Option<String>,
    /// The catalogue reason a person would give for this connector's condition, if any.
    pub condition: Option<ReasonCode>,
    /// Snapshots, oldest first.
    pub snapshots: Vec<TruthSnapshot>,
}

impl TruthConnector {
    /// The served `ecode` read back as a domain error code.
    pub fn error_code(&self) -> Option<ConnectorErrorCode> {
        self.ecode.as_deref().map(ConnectorErrorCode::from_wire)
    }

    /// The newest snapshot (what `…/history/latest` serves), if any.
    pub fn latest_snapshot(&self) -> Option<&TruthSnapshot> {
        self.snapshots.last()
    }

    /// The newest complete snapshot.
    pub fn latest_complete_snapshot(&self) -> Option<&TruthSnapshot> {
        self.snapshots
            .iter()
            .rev()
            .find(|snapshot| snapshot.kind == SnapshotKind::Complete)
    }

    /// When the last successful backup ended: the newest complete snapshot.
    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        self.latest_complete_snapshot()
            .map(|snapshot| snapshot.tstamp)
    }

    /// Whether the connector's last successful backup is older than `threshold` at `now`
    /// (a connector that never backed up is stale too).
    pub fn is_stale(&self, now: DateTime<Utc>, threshold: chrono::TimeDelta) -> bool {
        self.last_success()
            .is_none_or(|last_success| now - last_success > threshold)
    }

    /// The facts that decide whether keepit-watch watches this connector.
    pub fn state(&self) -> ConnectorState {
        ConnectorState {
            accessible: self.accessible,
            deletion_deadline: self.deletion_deadline,
        }
    }
}

/// One job of the fleet, with the status the domain decides for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthJob {
    /// The job GUID.
    pub id: JobId,
    /// The owning account.
    pub account: AccountId,
    /// The connector the job ran on.
    pub connector: ConnectorId,
    /// Keepit's machine-ish description, e.g. `[backup][bl][auto][o365-admin]{Name(1)}`.
    pub description: String,
    /// Keepit's `priority`.
    pub priority: u8,
    /// When the job was handed to a worker.
    pub dispatched: Option<DateTime<Utc>>,
    /// Everything served about the job that bears on its status.
    pub observation: JobObservation,
    /// `decide_status(&observation, now)` at the fleet's current time.
    pub status: JobStatus,
    /// The catalogue reason the job's failure summary was written for, if any.
    pub reason: Option<ReasonCode>,
}

impl TruthJob {
    /// The job's type.
    pub fn job_type(&self) -> &JobType {
        &self.observation.job_type
    }

    /// Backup or restore rules.
    pub fn family(&self) -> JobFamily {
        self.observation.job_type.family()
    }

    /// The statistics served in `<stats>`.
    pub fn statistics(&self) -> Option<&JobStatistics> {
        self.observation.statistics.as_ref()
    }

    /// The summary served inside the escaped `execsummary`.
    pub fn failure_summary(&self) -> Option<&str> {
        self.observation.failure_summary.as_deref()
    }

    /// When the job ended, if it did.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.observation.ended_at()
    }

    /// Whether the job has ended (succeeded, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.ended_at().is_some()
    }

    /// Number of skipped items according to the statistics.
    pub fn skipped_count(&self) -> u64 {
        match self.observation.statistics {
            Some(JobStatistics::Backup(stats)) => stats.skipped.count,
            Some(JobStatistics::Restore(stats)) => stats.skipped.count,
            None => 0,
        }
    }
}

/// One row of a job's skipped-items CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthSkippedItem {
    /// When the item was skipped.
    pub time: DateTime<Utc>,
    /// The account.
    pub account: AccountId,
    /// The connector.
    pub device: ConnectorId,
    /// The job.
    pub job: JobId,
    /// Keepit's message, e.g. `/uservisiblemsg: Failed to restore file: …`.
    pub message: String,
}

/// One audit record of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthAuditEvent {
    /// A fleet-wide sequence number: the tie-breaker of the served order.
    pub seq: u64,
    /// Event time.
    pub time: DateTime<Utc>,
    /// The account the event belongs to.
    pub account: AccountId,
    /// That account's company name.
    pub company: String,
    /// The actor's login (an e-mail, or an API token login).
    pub token: String,
    /// The caller's IP address (from 203.0.113.0/24).
    pub client_ip: String,
    /// The ACL name of the audited call.
    pub acl: String,
    /// The HTTP method of the audited call.
    pub method: String,
    /// Whether permissions allowed the call.
    pub allowed: bool,
    /// Whether the call succeeded.
    pub succeeded: bool,
    /// Keepit's area.
    pub area: String,
    /// The human-readable message.
    pub message: String,
    /// The connector involved, if any.
    pub device: Option<ConnectorId>,
    /// Metadata key/value pairs.
    pub metadata: Vec<(String, String)>,
    /// `categorize_audit` of this record.
    pub category: AuditCategory,
}

impl TruthAuditEvent {
    /// The facts `categorize_audit` reads.
    pub fn facts(&self) -> AuditFacts<'_> {
        AuditFacts {
            area: &self.area,
            acl: &self.acl,
            message: &self.message,
            allowed: Some(self.allowed),
            succeeded: Some(self.succeeded),
        }
    }
}

/// A cancellation the mock received (`PUT …/jobs/{j}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// The job.
    pub job: JobId,
    /// The `cancelled` time from the request body (the fleet's clock when absent).
    pub at: DateTime<Utc>,
    /// Whether the job was still running or scheduled, and so became cancelled.
    pub took_effect: bool,
}
