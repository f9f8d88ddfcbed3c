//! Typed results of the client's calls, built from the wire types and expressed in
//! `keepit-domain` vocabulary.
//!
//! The structs that carry Keepit's answers are `#[non_exhaustive]`: Keepit's API is
//! documented only in part, and fields are added as more of it is understood, in minor
//! releases. Read them; build them only through the client (or the constructors given).

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, AuditCategory, AuditFacts, BackupStatistics, ConnectorErrorCode, ConnectorId,
    ConnectorKind, ConnectorState, FailureReason, Health, HealthReason, JobId, JobObservation,
    JobStatistics, JobStatus, JobType, RestoreStatistics, SnapshotKind, Volume, categorize_audit,
    decide_status,
};

use crate::error::{Error, Result};
use crate::wire;
use crate::xml::XmlCursor;

/// Settings of one account (`GET /users/{a}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AccountInfo {
    /// The account.
    pub id: AccountId,
    /// Whether the account is enabled.
    pub enabled: Option<bool>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// The product directly assigned, if any (otherwise inherited from the parent).
    pub product: Option<String>,
    /// The parent account; `None` for a top-level account.
    pub parent: Option<AccountId>,
    /// Whether the account is subscribed.
    pub subscribed: Option<bool>,
    /// Scheduled deletion time, if any.
    pub deletion: Option<DateTime<Utc>>,
    /// The id of the account in a provisioning system.
    pub external_id: Option<String>,
}

/// A direct child account (`GET /users/{a}/users`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChildAccount {
    /// The account.
    pub id: AccountId,
    /// The parent account, as Keepit reports it.
    pub parent: Option<AccountId>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// Company name (v1 `company_name` or v3 `contact/companyname`); `None` when empty.
    pub company_name: Option<String>,
    /// Contact person's name.
    pub contact_name: Option<String>,
    /// Contact e-mail address.
    pub contact_email: Option<String>,
    /// Set when the account is scheduled for deletion.
    pub deletion_deadline: Option<DateTime<Utc>>,
}

impl ChildAccount {
    /// The best available display name: the company, else the contact, else the GUID.
    pub fn display_name(&self) -> String {
        self.company_name
            .clone()
            .or_else(|| self.contact_name.clone())
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// One account found by the recursive walk, with its place in the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountNode {
    /// The account.
    pub account: ChildAccount,
    /// 1 for direct children of the start account, 2 for their children, and so on.
    pub depth: usize,
}

/// Result of [`crate::KeepitClient::test_connection`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionReport {
    /// The parent account the credentials reach.
    pub account: AccountId,
    /// Customer accounts visible under it (every descendant account).
    pub customer_accounts: usize,
}

/// A connector (`GET /users/{a}/devices`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Connector {
    /// The connector.
    pub id: ConnectorId,
    /// Display name.
    pub name: String,
    /// What it backs up.
    pub kind: ConnectorKind,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// Whether the credentials may see it; Keepit omits the element for accessible connectors in some versions.
    pub accessible: bool,
    /// Set when the connector is scheduled for deletion.
    pub deletion_deadline: Option<DateTime<Utc>>,
    /// Backup retention as an ISO 8601 duration (Keepit's wire form for "unlimited" is unknown, so kept as text).
    pub backup_retention: Option<String>,
    /// Link to the Microsoft 365 organisation connection.
    pub orglink: Option<String>,
}

impl Connector {
    /// The facts that decide whether the connector is watched.
    pub fn state(&self) -> ConnectorState {
        ConnectorState {
            accessible: self.accessible,
            deletion_deadline: self.deletion_deadline,
        }
    }
}

/// A connector's health (`GET .../health?reason=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectorHealth {
    /// The health.
    pub health: Health,
    /// Why, when Keepit said.
    pub reason: Option<HealthReason>,
}

impl ConnectorHealth {
    /// A health as a caller already knows it (a stored one, say).
    pub fn new(health: Health, reason: Option<HealthReason>) -> ConnectorHealth {
        ConnectorHealth { health, reason }
    }

    /// The health reason mapped onto the failure catalogue.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.reason
            .as_ref()
            .and_then(FailureReason::from_health_reason)
    }
}

/// One entry of a connector's status list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusEntry {
    /// Keepit's numeric status (0-7, largely undocumented).
    pub status: Option<u32>,
    /// The error code of the entry.
    pub error_code: Option<ConnectorErrorCode>,
    /// Objects uploaded so far.
    pub objects_uploaded: Option<u64>,
    /// Objects in total.
    pub objects_total: Option<u64>,
}

/// A connector's status (`GET .../status`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeviceStatus {
    /// The entries in Keepit's order.
    pub entries: Vec<StatusEntry>,
}

impl DeviceStatus {
    /// The current numeric status: Keepit's tools take the last entry.
    pub fn current_status(&self) -> Option<u32> {
        self.entries.last().and_then(|entry| entry.status)
    }

    /// The current error code: the first entry's code, as Keepit's tools read it,
    /// else the first code found in any entry.
    pub fn error_code(&self) -> Option<&ConnectorErrorCode> {
        self.entries
            .first()
            .and_then(|entry| entry.error_code.as_ref())
            .or_else(|| {
                self.entries
                    .iter()
                    .find_map(|entry| entry.error_code.as_ref())
            })
    }
}

/// A snapshot (`<backup>` in `<history>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Complete or partial.
    pub kind: SnapshotKind,
    /// Total size in bytes.
    pub size: Option<u64>,
    /// The snapshot's root hash.
    pub root: Option<String>,
    /// The snapshot id, in newer responses.
    pub id: Option<String>,
    /// The owning account.
    pub account: Option<AccountId>,
}

/// The last backup of one connector, from the account-level backup summary.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackupSummaryEntry {
    /// The connector.
    pub connector: ConnectorId,
    /// Time of the last snapshot, complete or partial.
    pub last_snapshot_at: Option<DateTime<Utc>>,
    /// Time of the last complete snapshot; absent while onboarding.
    pub last_complete_snapshot_at: Option<DateTime<Utc>>,
    /// Size of the last snapshot in bytes.
    pub last_snapshot_size: Option<u64>,
    /// Change in size against the snapshot before (may be negative).
    pub size_change: Option<i64>,
}

/// A job (`<job>`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Job {
    /// The job.
    pub id: JobId,
    /// What it does.
    pub job_type: JobType,
    /// Keepit's machine-ish description, such as `[backup][bl][auto][o365-admin]{...}`.
    pub description: Option<String>,
    /// Keepit's scheduling priority.
    pub priority: Option<i64>,
    /// Whether the job is running.
    pub active: bool,
    /// When it was queued.
    pub scheduled: Option<DateTime<Utc>>,
    /// The requested start.
    pub start: Option<DateTime<Utc>>,
    /// When it was handed to a worker.
    pub dispatched: Option<DateTime<Utc>>,
    /// When execution began.
    pub started: Option<DateTime<Utc>>,
    /// When it succeeded.
    pub succeeded: Option<DateTime<Utc>>,
    /// When it failed.
    pub failed: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled: Option<DateTime<Utc>>,
    /// Progress from 0.0 to 1.0.
    pub progress: Option<f64>,
    /// Statistics, when the stat names were recognised.
    pub statistics: Option<JobStatistics>,
    /// The human-readable outcome from the execution summary.
    pub summary: Option<String>,
    /// Every statistic as sent, name and value (Keepit's stat names are undocumented).
    pub raw_stats: Vec<(String, String)>,
    /// The snapshot time the job used or produced.
    pub snapshot_time: Option<DateTime<Utc>>,
}

impl Job {
    /// The facts that decide the job's status.
    pub fn observation(&self) -> JobObservation {
        JobObservation {
            job_type: self.job_type.clone(),
            active: self.active,
            scheduled: self.scheduled,
            start: self.start,
            started: self.started,
            succeeded: self.succeeded,
            failed: self.failed,
            cancelled: self.cancelled,
            progress: self.progress,
            statistics: self.statistics,
            failure_summary: self.summary.clone(),
        }
    }

    /// The job's status at `now`, decided by [`keepit_domain::decide_status`].
    pub fn status(&self, now: DateTime<Utc>) -> JobStatus {
        decide_status(&self.observation(), now)
    }

    /// The failure reason read from the summary, for jobs that need attention.
    pub fn failure_reason(&self, now: DateTime<Utc>) -> Option<FailureReason> {
        if self.status(now).needs_attention() {
            self.observation().failure_reason()
        } else {
            None
        }
    }
}

/// One audit-log record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The account it belongs to.
    pub account: AccountId,
    /// Company name of that account.
    pub company: Option<String>,
    /// Login of the actor: an e-mail address for people, a generated login for API tokens.
    pub actor: Option<String>,
    /// Caller IP address (personal data: keep only if you must).
    pub client_ip: Option<String>,
    /// ACL name of the audited call.
    pub acl: Option<String>,
    /// HTTP method of the audited call, lowercased.
    pub method: Option<String>,
    /// False when the call was denied by permissions.
    pub allowed: Option<bool>,
    /// False when the audited call failed.
    pub succeeded: Option<bool>,
    /// Keepit's area, such as `User events`.
    pub area: Option<String>,
    /// Human-readable description.
    pub message: Option<String>,
    /// The connector concerned, if any.
    pub connector: Option<ConnectorId>,
    /// Extra key/value parameters.
    pub metadata: Vec<(String, String)>,
}

impl AuditRecord {
    /// The record's facts for categorisation.
    pub fn facts(&self) -> AuditFacts<'_> {
        AuditFacts {
            area: self.area.as_deref().unwrap_or_default(),
            acl: self.acl.as_deref().unwrap_or_default(),
            message: self.message.as_deref().unwrap_or_default(),
            allowed: self.allowed,
            succeeded: self.succeeded,
        }
    }

    /// The record's category.
    pub fn category(&self) -> AuditCategory {
        categorize_audit(&self.facts())
    }

    /// The actor as it may be shown and stored: e-mail addresses as they are, API-token
    /// logins (which identify a credential) shortened to their first four characters.
    pub fn actor_display(&self) -> Option<String> {
        let actor = self.actor.as_deref()?;
        if actor.contains('@') {
            return Some(actor.to_owned());
        }
        let prefix: String = actor.chars().take(4).collect();
        Some(format!("api-token:{prefix}…"))
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditPage {
    /// The records of this page.
    pub records: Vec<AuditRecord>,
    /// The offset of the next page; `None` on the last page.
    pub next_offset: Option<u64>,
}

/// One line of a job's skipped-items report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedItem {
    /// When the item was skipped.
    pub time: Option<DateTime<Utc>>,
    /// The account.
    pub account: Option<String>,
    /// The connector.
    pub connector: Option<String>,
    /// The job.
    pub job: Option<String>,
    /// What went wrong, as Keepit wrote it.
    pub message: String,
}

// --- conversion helpers -------------------------------------------------------------

/// Trims a text value; an empty value counts as absent.
pub(crate) fn text(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// Trims a text value into an owned string; an empty value counts as absent.
fn owned(value: Option<&str>) -> Option<String> {
    text(value).map(str::to_owned)
}

pub(crate) struct Field<'a> {
    pub(crate) endpoint: &'static str,
    pub(crate) name: &'a str,
}

impl Field<'_> {
    fn error(&self, value: &str, expected: &str) -> Error {
        Error::Decode {
            endpoint: self.endpoint,
            reason: format!(
                "element <{}> holds {value:?}, which is not {expected}",
                self.name
            ),
            snippet: String::new(),
        }
    }

    fn missing(&self) -> Error {
        Error::Decode {
            endpoint: self.endpoint,
            reason: format!("element <{}> is missing or empty", self.name),
            snippet: String::new(),
        }
    }
}

pub(crate) fn time(
    endpoint: &'static str,
    name: &str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    parse_time(value)
        .map(Some)
        .ok_or_else(|| Field { endpoint, name }.error(value, "an ISO 8601 time"))
}

pub(crate) fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn flag(endpoint: &'static str, name: &str, value: Option<&str>) -> Result<Option<bool>> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    let is = |word: &str| value.eq_ignore_ascii_case(word);
    if is("true") || is("1") || is("yes") {
        Ok(Some(true))
    } else if is("false") || is("0") || is("no") {
        Ok(Some(false))
    } else {
        Err(Field { endpoint, name }.error(value, "true or false"))
    }
}

fn unsigned(endpoint: &'static str, name: &str, value: Option<&str>) -> Result<Option<u64>> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| Field { endpoint, name }.error(value, "a whole number"))
}

fn signed(endpoint: &'static str, name: &str, value: Option<&str>) -> Result<Option<i64>> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    value
        .parse()
        .map(Some)
        .map_err(|_| Field { endpoint, name }.error(value, "a whole number"))
}

fn fraction(endpoint: &'static str, name: &str, value: Option<&str>) -> Result<Option<f64>> {
    let Some(value) = text(value) else {
        return Ok(None);
    };
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(Some(number.clamp(0.0, 1.0))),
        _ => Err(Field { endpoint, name }.error(value, "a number")),
    }
}

pub(crate) fn account_id(
    endpoint: &'static str,
    name: &str,
    value: Option<&str>,
) -> Result<AccountId> {
    let value = text(value).ok_or_else(|| Field { endpoint, name }.missing())?;
    AccountId::new(value)
        .map_err(|err| Field { endpoint, name }.error(value, &format!("an account id ({err})")))
}

fn optional_account(
    endpoint: &'static str,
    name: &str,
    value: Option<&str>,
) -> Result<Option<AccountId>> {
    match text(value) {
        None => Ok(None),
        Some(value) => account_id(endpoint, name, Some(value)).map(Some),
    }
}

fn connector_id(endpoint: &'static str, name: &str, value: Option<&str>) -> Result<ConnectorId> {
    let value = text(value).ok_or_else(|| Field { endpoint, name }.missing())?;
    ConnectorId::new(value)
        .map_err(|err| Field { endpoint, name }.error(value, &format!("a connector id ({err})")))
}

impl AccountInfo {
    pub(crate) fn from_wire(
        endpoint: &'static str,
        id: AccountId,
        wire: wire::AccountSettings,
    ) -> Result<Self> {
        Ok(AccountInfo {
            id,
            enabled: flag(endpoint, "enabled", wire.enabled.as_deref())?,
            created: time(endpoint, "created", wire.created.as_deref())?,
            product: owned(wire.product.as_deref()),
            parent: optional_account(endpoint, "parent", wire.parent.as_deref())?,
            subscribed: flag(endpoint, "subscribed", wire.subscribed.as_deref())?,
            deletion: time(endpoint, "deletion", wire.deletion.as_deref())?,
            external_id: owned(wire.external_id.as_deref()),
        })
    }
}

impl ChildAccount {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::User) -> Result<Self> {
        let contact = wire.contact.unwrap_or_default();
        Ok(ChildAccount {
            id: account_id(endpoint, "id", wire.id.as_deref())?,
            parent: optional_account(endpoint, "parent_id", wire.parent_id.as_deref())?,
            created: time(endpoint, "created", wire.created.as_deref())?,
            company_name: owned(wire.company_name.as_deref())
                .or_else(|| owned(contact.companyname.as_deref())),
            contact_name: owned(wire.full_name.as_deref())
                .or_else(|| owned(contact.fullname.as_deref())),
            contact_email: owned(wire.email.as_deref()).or_else(|| owned(contact.email.as_deref())),
            deletion_deadline: time(
                endpoint,
                "deletion-deadline",
                wire.deletion_deadline.as_deref(),
            )?,
        })
    }

    pub(crate) fn from_bare_id(
        endpoint: &'static str,
        parent: &AccountId,
        id: String,
    ) -> Result<Self> {
        Ok(ChildAccount {
            id: account_id(endpoint, "id", Some(&id))?,
            parent: Some(parent.clone()),
            created: None,
            company_name: None,
            contact_name: None,
            contact_email: None,
            deletion_deadline: None,
        })
    }
}

impl Connector {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::Device<'_>) -> Result<Self> {
        let id = connector_id(endpoint, "guid", wire.guid.as_deref())?;
        let kind_text = text(wire.kind.as_deref()).ok_or_else(|| {
            Field {
                endpoint,
                name: "type",
            }
            .missing()
        })?;
        let agent = text(wire.agent_type.as_deref());
        Ok(Connector {
            name: owned(wire.name.as_deref()).unwrap_or_else(|| id.to_string()),
            id,
            kind: ConnectorKind::from_wire(kind_text, agent),
            created: time(endpoint, "created", wire.created.as_deref())?,
            // Keepit's tools treat a missing `accessible` as accessible.
            accessible: flag(endpoint, "accessible", wire.accessible.as_deref())?.unwrap_or(true),
            deletion_deadline: time(
                endpoint,
                "deletion-deadline",
                wire.deletion_deadline.as_deref(),
            )?,
            backup_retention: owned(wire.backup_retention.as_deref()),
            orglink: owned(wire.orglink.as_deref()),
        })
    }
}

impl ConnectorHealth {
    pub(crate) fn from_wire(wire: wire::DevHealth) -> Self {
        ConnectorHealth {
            health: text(wire.health.as_deref())
                .map(Health::from_wire)
                .unwrap_or(Health::Unknown),
            reason: text(wire.reason.as_deref()).map(HealthReason::from_wire),
        }
    }
}

impl DeviceStatus {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::DevStatus) -> Result<Self> {
        let entries = wire
            .entry
            .into_iter()
            .map(|entry| {
                let adata = entry.adata.unwrap_or_default();
                let status = unsigned(endpoint, "status", entry.status.as_deref())?
                    .map(|status| status.min(u64::from(u32::MAX)) as u32);
                Ok(StatusEntry {
                    status,
                    error_code: text(adata.ecode.as_deref())
                        .or_else(|| text(entry.ecode.as_deref()))
                        .map(ConnectorErrorCode::from_wire),
                    objects_uploaded: unsigned(
                        endpoint,
                        "objectsuploaded",
                        adata.objectsuploaded.as_deref(),
                    )?,
                    objects_total: unsigned(
                        endpoint,
                        "objectstotal",
                        adata.objectstotal.as_deref(),
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DeviceStatus { entries })
    }
}

impl Snapshot {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::Backup) -> Result<Self> {
        Ok(Snapshot {
            taken_at: time(endpoint, "tstamp", wire.tstamp.as_deref())?.ok_or_else(|| {
                Field {
                    endpoint,
                    name: "tstamp",
                }
                .missing()
            })?,
            kind: text(wire.kind.as_deref())
                .map(SnapshotKind::from_wire)
                .unwrap_or(SnapshotKind::Complete),
            size: unsigned(endpoint, "size", wire.size.as_deref())?,
            root: owned(wire.root.as_deref()),
            id: owned(wire.id.as_deref()),
            account: optional_account(endpoint, "account", wire.account.as_deref())?,
        })
    }

    /// Snapshots in a `<history>`, accepting the shape with fields at the root too.
    pub(crate) fn list_from_history(
        endpoint: &'static str,
        history: wire::History,
    ) -> Result<Vec<Self>> {
        if history.backup.is_empty() && text(history.tstamp.as_deref()).is_some() {
            let single = wire::Backup {
                tstamp: history.tstamp,
                root: history.root,
                id: history.id,
                kind: history.kind,
                size: history.size,
                account: history.account,
            };
            return Ok(vec![Snapshot::from_wire(endpoint, single)?]);
        }
        history
            .backup
            .into_iter()
            .map(|backup| Snapshot::from_wire(endpoint, backup))
            .collect()
    }
}

impl BackupSummaryEntry {
    pub(crate) fn from_wire(
        endpoint: &'static str,
        wire: wire::BackupSummaryDevice,
    ) -> Result<Self> {
        Ok(BackupSummaryEntry {
            connector: connector_id(endpoint, "guid", wire.guid.as_deref())?,
            last_snapshot_at: time(
                endpoint,
                "last-snapshot-time",
                wire.last_snapshot_time.as_deref(),
            )?,
            last_complete_snapshot_at: time(
                endpoint,
                "last-complete-snapshot-time",
                wire.last_complete_snapshot_time.as_deref(),
            )?,
            last_snapshot_size: unsigned(
                endpoint,
                "last-snapshot-size",
                wire.last_snapshot_size.as_deref(),
            )?,
            size_change: signed(endpoint, "size-change", wire.size_change.as_deref())?,
        })
    }
}

/// Reads the human-readable summary out of an `execsummary` value.
///
/// The value is an XML document carried as escaped text. Its schema is undocumented
/// beyond a `<summary>` element, so a value that is not such a document is kept as
/// plain text rather than rejected.
pub(crate) fn exec_summary(raw: Option<&str>) -> Option<String> {
    let raw = text(raw)?;
    if raw.starts_with('<') {
        if let Ok(parsed) = quick_xml::de::from_str::<wire::ExecSummary>(raw) {
            return owned(parsed.summary.as_deref());
        }
        return None;
    }
    Some(raw.to_owned())
}

/// Reads job statistics from Keepit's name/value list.
///
/// Keepit's stat names are not documented. The names recognised here are
/// `<what>-count` and `<what>-size` (also with `_` or no separator, and `bytes`
/// for size) for what = added, removed, skipped (backups) and restored,
/// overwritten, skipped (restores). Unrecognised names are kept in `raw_stats`.
fn statistics(job_type: &JobType, raw: &[(String, String)]) -> Option<JobStatistics> {
    let mut found = false;
    let mut read = |what: &str| -> Volume {
        let mut volume = Volume::default();
        for (name, value) in raw {
            let key: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            let Ok(number) = value.trim().parse::<u64>() else {
                continue;
            };
            if key == format!("{what}count") || key == what || key == format!("{what}items") {
                volume.count = number;
                found = true;
            } else if key == format!("{what}size") || key == format!("{what}bytes") {
                volume.bytes = number;
                found = true;
            }
        }
        volume
    };
    let stats = match job_type.family() {
        keepit_domain::JobFamily::Backup => JobStatistics::Backup(BackupStatistics {
            added: read("added"),
            removed: read("removed"),
            skipped: read("skipped"),
        }),
        keepit_domain::JobFamily::Restore => JobStatistics::Restore(RestoreStatistics {
            restored: read("restored"),
            overwritten: read("overwritten"),
            skipped: read("skipped"),
        }),
    };
    found.then_some(stats)
}

impl Job {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::Job<'_>) -> Result<Self> {
        let id_text = text(wire.guid.as_deref()).ok_or_else(|| {
            Field {
                endpoint,
                name: "guid",
            }
            .missing()
        })?;
        let id = JobId::new(id_text).map_err(|err| {
            Field {
                endpoint,
                name: "guid",
            }
            .error(id_text, &format!("a job id ({err})"))
        })?;
        let job_type = JobType::from_wire(text(wire.kind.as_deref()).unwrap_or_default());
        let raw_stats: Vec<(String, String)> = wire
            .stats
            .unwrap_or_default()
            .into_iter()
            .filter_map(|stat| {
                Some((
                    owned(stat.name.as_deref())?,
                    owned(stat.value.as_deref()).unwrap_or_default(),
                ))
            })
            .collect();
        Ok(Job {
            statistics: statistics(&job_type, &raw_stats),
            id,
            job_type,
            description: owned(wire.description.as_deref()),
            priority: signed(endpoint, "priority", wire.priority.as_deref())?,
            active: flag(endpoint, "active", wire.active.as_deref())?.unwrap_or(false),
            scheduled: time(endpoint, "scheduled", wire.scheduled.as_deref())?,
            start: time(endpoint, "start", wire.start.as_deref())?,
            dispatched: time(endpoint, "dispatched", wire.dispatched.as_deref())?,
            started: time(endpoint, "started", wire.started.as_deref())?,
            succeeded: time(endpoint, "succeeded", wire.succeeded.as_deref())?,
            failed: time(endpoint, "failed", wire.failed.as_deref())?,
            cancelled: time(endpoint, "cancelled", wire.cancelled.as_deref())?,
            progress: fraction(endpoint, "progress", wire.progress.as_deref())?,
            summary: exec_summary(wire.execsummary.as_deref()),
            raw_stats,
            snapshot_time: time(endpoint, "snaptime", wire.snaptime.as_deref())?,
        })
    }
}

impl AuditRecord {
    pub(crate) fn from_wire(endpoint: &'static str, wire: wire::AuditRecord<'_>) -> Result<Self> {
        let connector = match text(wire.device.as_deref()) {
            Some(device) => Some(connector_id(endpoint, "device", Some(device))?),
            None => None,
        };
        Ok(AuditRecord {
            time: time(endpoint, "time", wire.time.as_deref())?.ok_or_else(|| {
                Field {
                    endpoint,
                    name: "time",
                }
                .missing()
            })?,
            account: account_id(endpoint, "account", wire.account.as_deref())?,
            company: owned(wire.company.as_deref()),
            actor: owned(wire.token.as_deref()),
            client_ip: owned(wire.client_ip.as_deref()),
            acl: owned(wire.acl.as_deref()),
            method: owned(wire.method.as_deref()).map(|mut method| {
                method.make_ascii_lowercase();
                method
            }),
            allowed: flag(endpoint, "allowed", wire.allowed.as_deref())?,
            succeeded: flag(endpoint, "succeeded", wire.succeeded.as_deref())?,
            area: owned(wire.area.as_deref()),
            message: owned(wire.message.as_deref()),
            connector,
            metadata: wire
                .metadata
                .unwrap_or_default()
                .into_iter()
                .filter_map(|parameter| {
                    Some((
                        owned(parameter.key.as_deref())?,
                        owned(parameter.value.as_deref()).unwrap_or_default(),
                    ))
                })
                .collect(),
        })
    }
}

// --- list decoding ------------------------------------------------------------------

/// Fewest body bytes per item assumed when sizing a list up front. A real audit record,
/// connector or job is about twice this long, so the guess rarely overshoots and the
/// list rarely grows (growing a list of 10,000 records copies megabytes); the memory
/// reserved stays below the size of the body.
const AUDIT_RECORD_BYTES: usize = 384;
const DEVICE_BYTES: usize = 256;
const JOB_BYTES: usize = 384;

fn capacity_for(body: &str, item_bytes: usize) -> usize {
    body.len() / item_bytes
}

/// Decodes an audit page body record by record.
///
/// With `skip_without_account`, a record without an account is dropped with a
/// warning (Keepit's own tooling drops them too); otherwise it is a decode error.
pub(crate) fn decode_audit_records(
    endpoint: &'static str,
    body: &str,
    skip_without_account: bool,
) -> Result<Vec<AuditRecord>> {
    let mut xml = XmlCursor::new(endpoint, body);
    let mut records = Vec::with_capacity(capacity_for(body, AUDIT_RECORD_BYTES));
    wire::read_audit(&mut xml, |record| {
        if skip_without_account && text(record.account.as_deref()).is_none() {
            tracing::warn!(endpoint, "skipping an audit record without an account");
            return Ok(());
        }
        records.push(AuditRecord::from_wire(endpoint, record)?);
        Ok(())
    })?;
    Ok(records)
}

/// Decodes a connector list body: the `<cloud>` entries, then the `<device>` entries.
pub(crate) fn decode_connectors(endpoint: &'static str, body: &str) -> Result<Vec<Connector>> {
    let mut xml = XmlCursor::new(endpoint, body);
    let mut clouds = Vec::with_capacity(capacity_for(body, DEVICE_BYTES));
    let mut devices = Vec::new();
    // Clouds come first in the result, so a bad cloud entry is reported before a bad
    // device entry wherever the two stand in the document.
    let mut cloud_error = None;
    let mut device_error = None;
    wire::read_devices(&mut xml, |cloud, device| {
        let (list, error) = if cloud {
            (&mut clouds, &mut cloud_error)
        } else {
            (&mut devices, &mut device_error)
        };
        if error.is_none() {
            match Connector::from_wire(endpoint, device) {
                Ok(connector) => list.push(connector),
                Err(err) => *error = Some(err),
            }
        }
        Ok(())
    })?;
    if let Some(error) = cloud_error.or(device_error) {
        return Err(error);
    }
    clouds.append(&mut devices);
    Ok(clouds)
}

/// Decodes a `<jobs>` list body.
pub(crate) fn decode_jobs(endpoint: &'static str, body: &str) -> Result<Vec<Job>> {
    let mut xml = XmlCursor::new(endpoint, body);
    let mut jobs = Vec::with_capacity(capacity_for(body, JOB_BYTES));
    wire::read_jobs(&mut xml, |job| {
        jobs.push(Job::from_wire(endpoint, job)?);
        Ok(())
    })?;
    Ok(jobs)
}

/// Decodes one job: a `<job>` document, or a `<jobs>` list whose first job is taken.
/// A `<jobs>` list without a job is [`Error::NotFound`]; anything else is a decode error.
pub(crate) fn decode_single_job(endpoint: &'static str, body: &str) -> Result<Job> {
    let mut xml = XmlCursor::new(endpoint, body);
    let root = xml.expect_root(&["job", "jobs"])?;
    if root.local_name() == b"job" {
        let job = wire::Job::read(&mut xml, &root)?;
        xml.finish()?;
        return Job::from_wire(endpoint, job);
    }
    // Some answers wrap the job in <jobs>.
    let mut xml = XmlCursor::new(endpoint, body);
    let mut first = None;
    wire::read_jobs(&mut xml, |job| {
        if first.is_none() {
            first = Some(job);
        }
        Ok(())
    })?;
    let first = first.ok_or(Error::NotFound { endpoint })?;
    Job::from_wire(endpoint, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICES: &str = "GET /users/{a}/devices";
    const AUDIT: &str = "PUT /audit/filter/pretty";
    const JOB: &str = "GET /users/{a}/devices/{d}/jobs/{j}";

    fn reason(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::Decode { reason, .. }) => reason,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn connectors_list_clouds_before_devices_and_trim_text() {
        let body = "<devices><device><guid>dev001-aaaaaa-bbbbbb</guid><type>windows</type></device>\
            <cloud><guid> C00001-AAAAAA-BBBBBB </guid><name> One &amp; Two </name><type> GSuite </type>\
            <accessible> FALSE </accessible><created>2024-05-02T10:15:00Z</created></cloud></devices>";
        let connectors = decode_connectors(DEVICES, body).unwrap();
        let ids: Vec<&str> = connectors.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c00001-aaaaaa-bbbbbb", "dev001-aaaaaa-bbbbbb"]);
        assert_eq!(connectors[0].name, "One & Two");
        assert_eq!(connectors[0].kind, ConnectorKind::from_wire("gsuite", None));
        assert!(!connectors[0].accessible);
        assert!(connectors[0].created.is_some());
        assert!(
            connectors[1].accessible,
            "a missing <accessible> is accessible"
        );
        assert_eq!(connectors[1].name, "dev001-aaaaaa-bbbbbb");
    }

    #[test]
    fn connector_errors_name_the_element_and_xml_errors_come_first() {
        let bad_time = "<devices><cloud><guid>c1-a</guid><type>gsuite</type><created>soon</created></cloud></devices>";
        let why = reason(decode_connectors(DEVICES, bad_time));
        assert!(why.contains("<created>") && why.contains("soon"), "{why}");
        let bad_flag = "<devices><cloud><guid>c1-a</guid><type>gsuite</type><accessible>maybe</accessible></cloud></devices>";
        assert!(reason(decode_connectors(DEVICES, bad_flag)).contains("<accessible>"));
        // The bad time is in the first item, but the truncation wins, as it did with serde.
        let truncated = "<devices><cloud><guid>c1-a</guid><type>gsuite</type><created>soon</created></cloud><cloud>";
        let why = reason(decode_connectors(DEVICES, truncated));
        assert!(why.contains("before all elements are closed"), "{why}");
    }

    #[test]
    fn audit_records_without_an_account_are_skipped_or_refused() {
        let body = "<audit><record><time>2026-01-07T12:00:00Z</time><account>5d67ai-hl7znb-f2ykpu</account>\
            <method> PUT </method><allowed>Yes</allowed><succeeded>0</succeeded><metadata/></record>\
            <record><time>2026-01-07T12:00:00Z</time><account> </account></record></audit>";
        let records = decode_audit_records(AUDIT, body, true).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].method.as_deref(), Some("put"));
        assert_eq!(records[0].allowed, Some(true));
        assert_eq!(records[0].succeeded, Some(false));
        assert!(records[0].metadata.is_empty());
        let why = reason(decode_audit_records(AUDIT, body, false));
        assert!(why.contains("<account>"), "{why}");
    }

    #[test]
    fn audit_metadata_keeps_keyed_parameters() {
        let body = "<audit><record><time>2026-01-07T12:00:00Z</time><account>acct01-aaaaaa-bbbbbb</account>\
            <metadata><parameter><key> job </key><value> j1 </value><type>guid</type></parameter>\
            <parameter><value>no key</value></parameter><parameter><key>empty</key></parameter>\
            <note>ignored</note></metadata></record></audit>";
        let records = decode_audit_records(AUDIT, body, false).unwrap();
        assert_eq!(
            records[0].metadata,
            vec![
                ("job".to_owned(), "j1".to_owned()),
                ("empty".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn a_single_job_may_come_wrapped() {
        let bare = "<job><guid>aaaaaa-bbbbbb-cccccc-dddddd</guid><type>backup</type><stats><stat><name>added-count</name><value>3</value></stat></stats></job>";
        let job = decode_single_job(JOB, bare).unwrap();
        assert_eq!(job.id.as_str(), "aaaaaa-bbbbbb-cccccc-dddddd");
        assert_eq!(
            job.raw_stats,
            vec![("added-count".to_owned(), "3".to_owned())]
        );
        let wrapped = "<jobs><job><guid>aaaaaa-bbbbbb-cccccc-dddddd</guid><type>restore</type></job><job><guid>x</guid></job></jobs>";
        let job = decode_single_job(JOB, wrapped).unwrap();
        assert_eq!(job.job_type, JobType::from_wire("restore"));
        assert!(matches!(
            decode_single_job(JOB, "<jobs/>"),
            Err(Error::NotFound { .. })
        ));
        // An empty body or another document is not "no such job".
        assert!(reason(decode_single_job(JOB, "")).contains("empty"));
        assert!(reason(decode_single_job(JOB, "<html><body/></html>")).contains("<html>"));
        reason(decode_single_job(JOB, "<job><guid>a-b</guid>"));
    }
}
