//! JSON bodies of the API, converted explicitly from store and domain types.
//!
//! Times are RFC 3339 strings in UTC with a `Z` suffix; absent values are `null`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use keepit_domain::{
    Alert, AlertScope, FailureReason, JobStatistics, ReasonEntry, Remedy, Threshold,
};
use keepit_store::{
    AlertRuleRecord, AlertTransitionRecord, CustomerRecord, IntegrationRecord, StoredConnector,
    StoredConnectorStatus, StoredJob, SyncRunRecord, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::routes::{Bounded, at_most};

mod preview;
mod psa;

pub use preview::{
    PreviewDifferenceDto, PreviewFindingDto, PreviewHistoryDto, PreviewOutcomeDto, ReplayDto,
    RulePreviewDto,
};
pub use psa::{
    CompanyImportDto, PicklistDto, PicklistEntryDto, PsaConnectionDto, PsaConnectionRequest,
    PsaSettingsDto, PsaTestDto, PsaTicketDto,
};

/// RFC 3339 in UTC, second precision unless the value has a fraction.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time)
}

/// A number of items and their size.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeDto {
    /// Items.
    pub count: u64,
    /// Bytes.
    pub bytes: u64,
}

impl From<keepit_domain::Volume> for VolumeDto {
    fn from(volume: keepit_domain::Volume) -> Self {
        VolumeDto {
            count: volume.count,
            bytes: volume.bytes,
        }
    }
}

/// What a job did. Backups fill `added`, `removed`, `skipped`; restores fill
/// `restored`, `overwritten`, `skipped`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatisticsDto {
    /// `backup` or `restore`.
    pub family: String,
    /// Items added or changed (backups).
    pub added: Option<VolumeDto>,
    /// Items dropped from the snapshot (backups).
    pub removed: Option<VolumeDto>,
    /// Items restored (restores).
    pub restored: Option<VolumeDto>,
    /// Items replaced at the target (restores).
    pub overwritten: Option<VolumeDto>,
    /// Items that could not be handled.
    pub skipped: VolumeDto,
}

impl From<JobStatistics> for StatisticsDto {
    fn from(statistics: JobStatistics) -> Self {
        match statistics {
            JobStatistics::Backup(backup) => StatisticsDto {
                family: "backup".to_owned(),
                added: Some(backup.added.into()),
                removed: Some(backup.removed.into()),
                restored: None,
                overwritten: None,
                skipped: backup.skipped.into(),
            },
            JobStatistics::Restore(restore) => StatisticsDto {
                family: "restore".to_owned(),
                added: None,
                removed: None,
                restored: Some(restore.restored.into()),
                overwritten: Some(restore.overwritten.into()),
                skipped: restore.skipped.into(),
            },
        }
    }
}

/// One job, as the Job Monitor lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobDto {
    /// Keepit's job GUID.
    pub job_guid: String,
    /// The connector's GUID.
    pub connector_guid: String,
    /// The connector's name.
    pub connector_name: Option<String>,
    /// The Keepit account's GUID.
    pub account_guid: String,
    /// The customer's id.
    pub customer_id: Option<i64>,
    /// The customer's name.
    pub customer_name: Option<String>,
    /// Job type code (`backup`, `restore`, `srestore`, `pstrestore`, `zipdownload`, or another code Keepit sent).
    #[serde(rename = "type")]
    pub job_type: String,
    /// Status: scheduled, in_progress, successful, incomplete, unsuccessful, cancelled.
    #[schema(value_type = crate::openapi::JobStatusCode)]
    pub status: String,
    /// Whether the Job Monitor highlights it (cancelled, unsuccessful, incomplete).
    pub needs_attention: bool,
    /// Whether Keepit still lists it as active.
    pub active: bool,
    /// When it was scheduled.
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
    /// When it started.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// When it ended (succeeded, failed or cancelled).
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// The time the Job Monitor sorts by (newest first).
    #[schema(format = DateTime)]
    pub sort_time: String,
    /// Progress between 0 and 1, while running.
    pub progress: Option<f64>,
    /// The failure reason's code, when it did not succeed.
    pub failure_reason: Option<String>,
    /// Keepit's failure summary text.
    pub failure_summary: Option<String>,
    /// Keepit's description.
    pub description: Option<String>,
    /// Statistics, when Keepit reported them.
    pub statistics: Option<StatisticsDto>,
}

impl From<&StoredJob> for JobDto {
    fn from(stored: &StoredJob) -> Self {
        let job = &stored.record;
        JobDto {
            job_guid: job.job.as_str().to_owned(),
            connector_guid: job.connector.as_str().to_owned(),
            connector_name: stored.connector_name.clone(),
            account_guid: job.account.as_str().to_owned(),
            customer_id: stored.customer.map(|c| c.0),
            customer_name: stored.customer_name.clone(),
            job_type: job.job_type.as_str().to_owned(),
            status: job.status.as_str().to_owned(),
            needs_attention: job.status.needs_attention(),
            active: job.active,
            scheduled_at: opt_time(job.scheduled),
            started_at: opt_time(job.started),
            ended_at: opt_time(job.ended_at()),
            sort_time: time(stored.sort_time),
            progress: job.progress,
            failure_reason: job.failure_reason.as_ref().map(reason_code),
            failure_summary: job.failure_summary.clone(),
            description: job.description.clone(),
            statistics: job.statistics.map(StatisticsDto::from),
        }
    }
}

pub(crate) fn reason_code(reason: &FailureReason) -> String {
    match reason {
        FailureReason::Known(_) => reason.code().to_owned(),
        FailureReason::Unrecognized { raw } => raw.clone(),
    }
}

/// One page of the Job Monitor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobPageDto {
    /// Jobs, newest first.
    pub jobs: Vec<JobDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Why a job did not succeed, explained by the failure-reason catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasonDto {
    /// The reason's code (or the raw value when it is not catalogued).
    pub code: String,
    /// Whether the catalogue knows it.
    pub known: bool,
    /// A short title.
    pub title: Option<String>,
    /// What happened.
    pub explanation: Option<String>,
    /// What to do about it.
    pub resolution: Option<String>,
    /// none_rescheduled, watch_for_repeats, retry_later, user_action or contact_support.
    pub remedy: Option<String>,
    /// Whether someone must act for the next job to succeed.
    pub action_required: Option<bool>,
    /// What to send Keepit support, when contacting support is the advice.
    pub support_details: Vec<String>,
}

impl ReasonDto {
    pub(crate) fn new(reason: &FailureReason, entry: Option<&ReasonEntry>) -> ReasonDto {
        ReasonDto {
            code: reason_code(reason),
            known: entry.is_some(),
            title: entry.map(|e| e.title.to_owned()),
            explanation: entry.map(|e| e.explanation.to_owned()),
            resolution: entry.map(|e| e.resolution.to_owned()),
            remedy: entry.map(|e| remedy(e.remedy).to_owned()),
            action_required: entry.map(ReasonEntry::action_required),
            support_details: entry
                .map(|e| e.support_details.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        }
    }
}

fn remedy(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::NoneRescheduled => "none_rescheduled",
        Remedy::WatchForRepeats => "watch_for_repeats",
        Remedy::RetryLater => "retry_later",
        Remedy::UserAction => "user_action",
        Remedy::ContactSupport => "contact_support",
    }
}

/// A job's report: the job, its statistics and the explained failure reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobReportDto {
    /// The job.
    pub job: JobDto,
    /// The failure reason explained, when there is one.
    pub reason: Option<ReasonDto>,
    /// Whether the skipped-items report can still be fetched from Keepit (one month after the job ended).
    pub skipped_items_available: bool,
    /// Keepit's statistics exactly as sent, names and values, including those
    /// `job.statistics` does not interpret.
    pub raw_statistics: Vec<RawStatisticDto>,
}

/// One statistic as Keepit sent it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RawStatisticDto {
    /// Keepit's name for it.
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

/// A customer of the MSP.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerDto {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Id in the PSA, when imported.
    pub external_id: Option<String>,
    /// When it was created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&CustomerRecord> for CustomerDto {
    fn from(customer: &CustomerRecord) -> Self {
        CustomerDto {
            id: customer.id.0,
            name: customer.name.clone(),
            external_id: customer.external_id.clone(),
            created_at: time(customer.created_at),
        }
    }
}

/// One entry of a customer's timeline: a finished job or an audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntryDto {
    /// `job` or `audit`.
    pub kind: String,
    /// When it happened (a job's end, an event's time).
    #[schema(format = DateTime)]
    pub time: String,
    /// The job, for `job` entries.
    pub job: Option<JobDto>,
    /// The audit event, for `audit` entries.
    pub audit: Option<AuditEventDto>,
}

/// An audit event from Keepit's audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventDto {
    /// The account.
    pub account_guid: String,
    /// The connector, if any.
    pub connector_guid: Option<String>,
    /// Who did it.
    pub actor: Option<String>,
    /// The caller's network (never the full address).
    pub client_network: Option<String>,
    /// keepit-watch's category.
    #[schema(value_type = crate::openapi::AuditCategoryCode)]
    pub category: String,
    /// Keepit's area.
    pub area: String,
    /// Whether it succeeded.
    pub succeeded: Option<bool>,
    /// Text.
    pub message: String,
}

impl From<&TimelineEntry> for TimelineEntryDto {
    fn from(entry: &TimelineEntry) -> Self {
        let position = entry.position();
        match entry {
            TimelineEntry::Job(job) => TimelineEntryDto {
                kind: "job".to_owned(),
                time: time(position.time),
                job: Some(JobDto::from(job)),
                audit: None,
            },
            TimelineEntry::Audit(event) => TimelineEntryDto {
                kind: "audit".to_owned(),
                time: time(position.time),
                job: None,
                audit: Some(AuditEventDto {
                    account_guid: event.account.as_str().to_owned(),
                    connector_guid: event.connector.as_ref().map(|c| c.as_str().to_owned()),
                    actor: event.actor.clone(),
                    client_network: event.client_network.clone(),
                    category: event.category.as_str().to_owned(),
                    area: event.area.clone(),
                    succeeded: event.succeeded,
                    message: event.message.clone(),
                }),
            },
        }
    }
}

/// One page of a customer's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelinePageDto {
    /// Entries, newest first.
    pub entries: Vec<TimelineEntryDto>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A connector and its latest backup status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectorDto {
    /// The connector's GUID.
    pub connector_guid: String,
    /// The account's GUID.
    pub account_guid: String,
    /// The customer's id.
    pub customer_id: Option<i64>,
    /// Name.
    pub name: String,
    /// Kind code.
    pub kind: String,
    /// Kind for people.
    pub kind_name: String,
    /// Whether the credentials may see it.
    pub accessible: bool,
    /// Whether alerts watch it (accessible, not being deleted, not removed).
    pub active: bool,
    /// When it disappeared from Keepit.
    #[schema(format = DateTime)]
    pub removed_at: Option<String>,
    /// Latest backup status, once known.
    pub status: Option<ConnectorStatusDto>,
}

/// A connector's latest backup status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectorStatusDto {
    /// Keepit's health verdict.
    #[schema(value_type = crate::openapi::HealthCode)]
    pub health: String,
    /// Why, when Keepit says.
    pub health_reason: Option<String>,
    /// End of the last successful backup.
    #[schema(format = DateTime)]
    pub last_success_at: Option<String>,
    /// Start of the latest attempt.
    #[schema(format = DateTime)]
    pub last_attempt_at: Option<String>,
    /// Status of the latest backup job.
    #[schema(value_type = Option<crate::openapi::JobStatusCode>)]
    pub last_job_status: Option<String>,
    /// Time of the latest snapshot.
    #[schema(format = DateTime)]
    pub latest_snapshot_at: Option<String>,
    /// The failure reason's code.
    pub failure_reason: Option<String>,
    /// When this was read from Keepit.
    #[schema(format = DateTime)]
    pub checked_at: String,
}

impl ConnectorDto {
    pub(crate) fn new(
        connector: &StoredConnector,
        status: Option<&StoredConnectorStatus>,
    ) -> ConnectorDto {
        let record = &connector.record;
        ConnectorDto {
            connector_guid: record.connector.as_str().to_owned(),
            account_guid: record.account.as_str().to_owned(),
            customer_id: connector.customer.map(|c| c.0),
            name: record.name.clone(),
            kind: record.kind.code(),
            kind_name: record.kind.display_name(),
            accessible: record.accessible,
            active: connector.is_active(),
            removed_at: opt_time(connector.removed_at),
            status: status.map(|stored| {
                let status = &stored.status;
                ConnectorStatusDto {
                    health: status.health.as_str().to_owned(),
                    health_reason: status.health_reason.as_ref().map(|r| r.as_str().to_owned()),
                    last_success_at: opt_time(status.last_successful_backup_at),
                    last_attempt_at: opt_time(status.last_attempt_at),
                    last_job_status: status.last_job_status.map(|s| s.as_str().to_owned()),
                    latest_snapshot_at: opt_time(status.latest_snapshot_at),
                    failure_reason: status.failure_reason.as_ref().map(reason_code),
                    checked_at: time(status.checked_at),
                }
            }),
        }
    }
}

/// An alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertDto {
    /// Id.
    pub id: i64,
    /// The rule that raised it.
    pub rule_id: i64,
    /// The connector.
    pub connector_guid: String,
    /// The account.
    pub account_guid: String,
    /// The customer.
    pub customer_id: Option<i64>,
    /// pending, firing or resolved.
    #[schema(value_type = crate::openapi::AlertStateCode)]
    pub state: String,
    /// warning or critical.
    #[schema(value_type = crate::openapi::SeverityCode)]
    pub severity: String,
    /// The failure reason's code.
    pub reason: Option<String>,
    /// Last successful backup.
    #[schema(format = DateTime)]
    pub last_success_at: Option<String>,
    /// Last attempt.
    #[schema(format = DateTime)]
    pub last_attempt_at: Option<String>,
    /// When it opened.
    #[schema(format = DateTime)]
    pub opened_at: String,
    /// When it resolved.
    #[schema(format = DateTime)]
    pub resolved_at: Option<String>,
    /// When a person acknowledged it.
    #[schema(format = DateTime)]
    pub acknowledged_at: Option<String>,
    /// Who acknowledged it (user id).
    pub acknowledged_by: Option<i64>,
    /// Silenced until then.
    #[schema(format = DateTime)]
    pub silenced_until: Option<String>,
}

impl From<&Alert> for AlertDto {
    fn from(alert: &Alert) -> Self {
        AlertDto {
            id: alert.id.0,
            rule_id: alert.rule.0,
            connector_guid: alert.connector.as_str().to_owned(),
            account_guid: alert.account.as_str().to_owned(),
            customer_id: alert.customer.map(|c| c.0),
            state: alert.state.as_str().to_owned(),
            severity: alert.severity.as_str().to_owned(),
            reason: alert.reason.as_ref().map(reason_code),
            last_success_at: opt_time(alert.last_success_at),
            last_attempt_at: opt_time(alert.last_attempt_at),
            opened_at: time(alert.opened_at),
            resolved_at: opt_time(alert.resolved_at),
            acknowledged_at: opt_time(alert.acknowledged_at),
            acknowledged_by: alert.acknowledged_by.map(|u| u.0),
            silenced_until: opt_time(alert.silenced_until),
        }
    }
}

/// Body of `POST /alerts/{id}/silence`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Silence until then (RFC 3339); `null` lifts the silence.
    #[schema(format = DateTime, max_length = 64)]
    pub until: Option<String>,
}

impl Bounded for SilenceRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("until", self.until.as_deref(), 64)
    }
}

/// One entry of an alert's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertTransitionDto {
    /// What happened.
    #[schema(value_type = crate::openapi::AlertEventCode)]
    pub event: String,
    /// The state before; `null` when the alert opened.
    #[schema(value_type = Option<crate::openapi::AlertStateCode>)]
    pub from_state: Option<String>,
    /// The state after.
    #[schema(value_type = crate::openapi::AlertStateCode)]
    pub to_state: String,
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// Why, or what was done (the evaluation's reasoning, a silence's end).
    pub note: Option<String>,
    /// The user who did it, for acknowledgements and silences.
    pub user_id: Option<i64>,
}

impl From<&AlertTransitionRecord> for AlertTransitionDto {
    fn from(record: &AlertTransitionRecord) -> Self {
        let t = &record.transition;
        AlertTransitionDto {
            event: t.event.as_str().to_owned(),
            from_state: t.from.map(|state| state.as_str().to_owned()),
            to_state: t.to.as_str().to_owned(),
            at: time(t.at),
            note: t.note.clone(),
            user_id: t.by.map(|user| user.0),
        }
    }
}

/// Where a rule applies: `{"type": "all"}`, `{"type": "customer", "customer_id": 3}` or
/// `{"type": "connector_kind", "connector_kind": "o365"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum ScopeDto {
    /// Every connector. (A struct variant, so that serde refuses unknown fields in it
    /// as it does in the others.)
    All {},
    /// One customer's connectors.
    Customer {
        /// The customer.
        customer_id: i64,
    },
    /// Connectors of one kind.
    ConnectorKind {
        /// The kind code (as in `ConnectorDto::kind`).
        connector_kind: String,
    },
}

impl From<&AlertScope> for ScopeDto {
    fn from(scope: &AlertScope) -> Self {
        match scope {
            AlertScope::All => ScopeDto::All {},
            AlertScope::Customer(customer) => ScopeDto::Customer {
                customer_id: customer.0,
            },
            AlertScope::ConnectorKind(kind) => ScopeDto::ConnectorKind {
                connector_kind: kind.code(),
            },
        }
    }
}

/// An alert rule as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertRuleDto {
    /// Id.
    pub id: i64,
    /// `backup_stale` or `backup_failed`.
    #[schema(value_type = crate::openapi::RuleKindCode)]
    pub kind: String,
    /// Name.
    pub name: String,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Where it applies.
    pub scope: ScopeDto,
    /// Stale after this many hours without a successful backup.
    pub stale_after_hours: i64,
    /// Earlier warning stage, in hours; `null` when switched off.
    pub warn_after_hours: Option<i64>,
    /// How far back failures count, in hours.
    pub lookback_hours: i64,
    /// A failure that needs someone (or whose reason is unknown) pages after this many
    /// failed backups in a row.
    pub min_consecutive_failures: u32,
    /// A failure Keepit retries by itself pages after this many failed backups in a row.
    pub repeats_before_paging: u32,
    /// Remind while firing this often, in hours.
    pub reminder_every_hours: i64,
    /// Per-customer changes.
    pub overrides: Vec<OverrideDto>,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&AlertRuleRecord> for AlertRuleDto {
    fn from(record: &AlertRuleRecord) -> Self {
        let spec = &record.rule.spec;
        let thresholds = &spec.thresholds;
        AlertRuleDto {
            id: record.rule.id.0,
            kind: spec.kind.as_str().to_owned(),
            name: spec.name.clone(),
            enabled: spec.enabled,
            scope: ScopeDto::from(&spec.scope),
            stale_after_hours: thresholds.stale_after.num_hours(),
            warn_after_hours: thresholds.warn_after.map(|d| d.num_hours()),
            lookback_hours: thresholds.lookback.num_hours(),
            min_consecutive_failures: thresholds.min_consecutive_failures,
            repeats_before_paging: thresholds.repeats_before_paging,
            reminder_every_hours: thresholds.reminder_every.num_hours(),
            overrides: record
                .rule
                .overrides
                .iter()
                .map(OverrideDto::from)
                .collect(),
            updated_at: time(record.updated_at),
        }
    }
}

/// Body of `POST /alert-rules` and `PUT /alert-rules/{id}`. Omitted thresholds take the
/// defaults (48 h stale, 24 h warning, 24 h lookback, paging after 1 failure that needs
/// someone or 3 that Keepit retries by itself, 24 h reminders).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleRequest {
    /// `backup_stale` or `backup_failed`.
    #[schema(value_type = crate::openapi::RuleKindCode)]
    pub kind: String,
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Whether it is evaluated (default true).
    pub enabled: Option<bool>,
    /// Where it applies (default all).
    pub scope: Option<ScopeDto>,
    /// Hours (at most ten years).
    #[schema(minimum = 1, maximum = 87_840)]
    pub stale_after_hours: Option<i64>,
    /// Hours, shorter than `stale_after_hours`, of the stale rule's warning stage;
    /// `null` switches the warning stage off (as `GET` shows a rule without one), and
    /// omitting it takes the default.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 87_840)]
    #[serde(default, deserialize_with = "present")]
    pub warn_after_hours: Option<Option<i64>>,
    /// Hours (at most ten years).
    #[schema(minimum = 1, maximum = 87_840)]
    pub lookback_hours: Option<i64>,
    /// Failed backups in a row before a failure that needs someone pages.
    #[schema(minimum = 1, maximum = 1000)]
    pub min_consecutive_failures: Option<u32>,
    /// Failed backups in a row before a failure Keepit retries by itself pages.
    #[schema(minimum = 1, maximum = 1000)]
    pub repeats_before_paging: Option<u32>,
    /// Hours (at most ten years).
    #[schema(minimum = 1, maximum = 87_840)]
    pub reminder_every_hours: Option<i64>,
}

/// Reads a field that may be absent (`None`, through `#[serde(default)]`), `null`
/// (`Some(None)`) or a value: the three mean different things.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl AlertRuleRequest {
    /// The thresholds the request gives, each with the field that gave it, in the
    /// domain's units (seconds or counts). Omitted ones are absent, and so is a
    /// warning stage switched off (see [`AlertRuleRequest::warning_off`]).
    pub(crate) fn thresholds(&self) -> Vec<(Threshold, &'static str, i64)> {
        threshold_fields(
            self.stale_after_hours,
            self.warn_after_hours.flatten(),
            self.lookback_hours,
            self.min_consecutive_failures,
            self.repeats_before_paging,
            self.reminder_every_hours,
        )
    }

    /// Whether the request switches the warning stage off (`"warn_after_hours": null`).
    pub(crate) fn warning_off(&self) -> bool {
        self.warn_after_hours == Some(None)
    }
}

/// The API's threshold fields (hours and counts) as domain thresholds, each with the
/// field's name; absent fields are left out.
fn threshold_fields(
    stale_after_hours: Option<i64>,
    warn_after_hours: Option<i64>,
    lookback_hours: Option<i64>,
    min_consecutive_failures: Option<u32>,
    repeats_before_paging: Option<u32>,
    reminder_every_hours: Option<i64>,
) -> Vec<(Threshold, &'static str, i64)> {
    let hours = |value: Option<i64>| value.map(|hours| hours.saturating_mul(3_600));
    [
        (
            Threshold::StaleAfter,
            "stale_after_hours",
            hours(stale_after_hours),
        ),
        (
            Threshold::WarnAfter,
            "warn_after_hours",
            hours(warn_after_hours),
        ),
        (Threshold::Lookback, "lookback_hours", hours(lookback_hours)),
        (
            Threshold::MinConsecutiveFailures,
            "min_consecutive_failures",
            min_consecutive_failures.map(i64::from),
        ),
        (
            Threshold::RepeatsBeforePaging,
            "repeats_before_paging",
            repeats_before_paging.map(i64::from),
        ),
        (
            Threshold::ReminderEvery,
            "reminder_every_hours",
            hours(reminder_every_hours),
        ),
    ]
    .into_iter()
    .filter_map(|(threshold, field, value)| Some((threshold, field, value?)))
    .collect()
}

/// One customer's changes to a rule, as the API shows them. A `null` field follows the
/// rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverrideDto {
    /// The customer.
    pub customer_id: i64,
    /// Turns the rule off (`false`) or on (`true`) for this customer.
    pub enabled: Option<bool>,
    /// Hours.
    pub stale_after_hours: Option<i64>,
    /// Hours.
    pub warn_after_hours: Option<i64>,
    /// Hours.
    pub lookback_hours: Option<i64>,
    /// Count.
    pub min_consecutive_failures: Option<u32>,
    /// Count.
    pub repeats_before_paging: Option<u32>,
    /// Hours.
    pub reminder_every_hours: Option<i64>,
}

/// Body of `PUT /alert-rules/{id}/overrides/{customer_id}`. An omitted or `null` field
/// follows the rule.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Turns the rule off (`false`) or on (`true`) for this customer.
    pub enabled: Option<bool>,
    /// Hours.
    #[schema(minimum = 1, maximum = 87_840)]
    pub stale_after_hours: Option<i64>,
    /// Hours.
    #[schema(minimum = 1, maximum = 87_840)]
    pub warn_after_hours: Option<i64>,
    /// Hours.
    #[schema(minimum = 1, maximum = 87_840)]
    pub lookback_hours: Option<i64>,
    /// Count.
    #[schema(minimum = 1, maximum = 1000)]
    pub min_consecutive_failures: Option<u32>,
    /// Count.
    #[schema(minimum = 1, maximum = 1000)]
    pub repeats_before_paging: Option<u32>,
    /// Hours.
    #[schema(minimum = 1, maximum = 87_840)]
    pub reminder_every_hours: Option<i64>,
}

impl Bounded for OverrideRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        // Numbers only: their ranges are checked as thresholds.
        Ok(())
    }
}

impl OverrideRequest {
    /// The thresholds it changes, with their fields.
    pub(crate) fn thresholds(&self) -> Vec<(Threshold, &'static str, i64)> {
        threshold_fields(
            self.stale_after_hours,
            self.warn_after_hours,
            self.lookback_hours,
            self.min_consecutive_failures,
            self.repeats_before_paging,
            self.reminder_every_hours,
        )
    }
}

impl From<&keepit_domain::CustomerOverride> for OverrideDto {
    fn from(o: &keepit_domain::CustomerOverride) -> Self {
        let value = |threshold| o.thresholds.0.get(&threshold).copied().flatten();
        let hours = |threshold| value(threshold).map(|secs| secs / 3_600);
        let count = |threshold| value(threshold).and_then(|n| u32::try_from(n).ok());
        OverrideDto {
            customer_id: o.customer.0,
            enabled: o.enabled,
            stale_after_hours: hours(Threshold::StaleAfter),
            warn_after_hours: hours(Threshold::WarnAfter),
            lookback_hours: hours(Threshold::Lookback),
            min_consecutive_failures: count(Threshold::MinConsecutiveFailures),
            repeats_before_paging: count(Threshold::RepeatsBeforePaging),
            reminder_every_hours: hours(Threshold::ReminderEvery),
        }
    }
}

/// One message in the caller's inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageDto {
    /// Id.
    pub id: i64,
    /// Kind code.
    #[schema(value_type = crate::openapi::MessageKindCode)]
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// The customer concerned.
    pub customer_id: Option<i64>,
    /// The connector concerned.
    pub connector_guid: Option<String>,
    /// The job concerned.
    pub job_guid: Option<String>,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the caller read it.
    #[schema(format = DateTime)]
    pub read_at: Option<String>,
}

impl From<&keepit_store::InboxItem> for MessageDto {
    fn from(item: &keepit_store::InboxItem) -> Self {
        let message = &item.message;
        MessageDto {
            id: message.id.0,
            kind: message.kind.as_str().to_owned(),
            subject: message.subject.clone(),
            body: message.body.clone(),
            customer_id: message.customer.map(|c| c.0),
            connector_guid: message.connector.as_ref().map(|c| c.as_str().to_owned()),
            job_guid: message.job.as_ref().map(|j| j.as_str().to_owned()),
            created_at: time(message.created_at),
            read_at: opt_time(item.read_at),
        }
    }
}

/// The caller's inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxDto {
    /// Messages, newest first.
    pub messages: Vec<MessageDto>,
    /// How many are unread in total.
    pub unread: u64,
}

/// An integration (a connection to the MSP's Keepit parent account). Credentials are never returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntegrationDto {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Keepit region.
    pub region: Option<String>,
    /// Base URL override.
    pub base_url: Option<String>,
    /// The parent account's GUID.
    pub parent_account_guid: String,
    /// Whether syncs include it.
    pub enabled: bool,
    /// When its last sync finished.
    #[schema(format = DateTime)]
    pub last_sync_at: Option<String>,
    /// How its last sync ended.
    #[schema(value_type = Option<crate::openapi::SyncOutcomeCode>)]
    pub last_sync_outcome: Option<String>,
    /// When a "sync now" was asked for that no daemon has started yet; `null` when
    /// none is waiting.
    #[schema(format = DateTime)]
    pub sync_requested_at: Option<String>,
    /// Keepit requests its syncs keep in flight at once.
    pub concurrency: u16,
    /// Time one attempt of one Keepit request may take, in seconds.
    pub request_timeout_secs: u64,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&IntegrationRecord> for IntegrationDto {
    fn from(record: &IntegrationRecord) -> Self {
        IntegrationDto {
            id: record.id.0,
            name: record.name.clone(),
            region: record.region.clone(),
            base_url: record.base_url.clone(),
            parent_account_guid: record.parent_account.as_str().to_owned(),
            enabled: record.enabled,
            last_sync_at: opt_time(record.last_sync_at),
            last_sync_outcome: record
                .last_sync_outcome
                .map(|outcome| outcome.as_str().to_owned()),
            sync_requested_at: opt_time(record.sync_requested_at),
            concurrency: record.settings.concurrency(),
            request_timeout_secs: record.settings.request_timeout().as_secs(),
            created_at: time(record.created_at),
        }
    }
}

/// Body of `POST /integrations`. The secrets are write-only: stored encrypted, never returned or logged.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegrationRequest {
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Keepit region (`us-dc`, `dk-co`, ...); this or `base_url` is required.
    #[schema(max_length = 32)]
    pub region: Option<String>,
    /// Base URL override.
    #[schema(max_length = 2048)]
    pub base_url: Option<String>,
    /// The parent account's GUID.
    #[schema(min_length = 1, max_length = 128)]
    pub parent_account_guid: String,
    /// Keepit administrator login.
    #[schema(max_length = 320)]
    pub username: Option<String>,
    /// That login's password (write-only).
    #[schema(max_length = 1024)]
    pub password: Option<String>,
    /// Login half of a Keepit API token.
    #[schema(max_length = 1024)]
    pub api_token_login: Option<String>,
    /// Password half of a Keepit API token (write-only).
    #[schema(max_length = 1024)]
    pub api_token_password: Option<String>,
    /// Whether syncs include it (default true).
    pub enabled: Option<bool>,
    /// Keepit requests its syncs keep in flight at once (1 to 64; default 5).
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: Option<u16>,
    /// Time one attempt of one Keepit request may take, in seconds (5 to 600; default 30).
    #[schema(minimum = 5, maximum = 600)]
    pub request_timeout_secs: Option<u64>,
}

impl Bounded for NewIntegrationRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("name", Some(&self.name), 200)?;
        at_most("region", self.region.as_deref(), 32)?;
        at_most("base_url", self.base_url.as_deref(), 2048)?;
        at_most("parent_account_guid", Some(&self.parent_account_guid), 128)?;
        at_most("username", self.username.as_deref(), 320)?;
        at_most("password", self.password.as_deref(), 1024)?;
        at_most("api_token_login", self.api_token_login.as_deref(), 1024)?;
        at_most(
            "api_token_password",
            self.api_token_password.as_deref(),
            1024,
        )
    }
}

impl Bounded for AlertRuleRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("kind", Some(&self.kind), 64)?;
        at_most("name", Some(&self.name), 200)
    }
}

impl std::fmt::Debug for NewIntegrationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("NewIntegrationRequest")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("base_url", &self.base_url)
            .field("parent_account_guid", &self.parent_account_guid)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("api_token_login", &self.api_token_login)
            .field("api_token_password", &hidden(&self.api_token_password))
            .field("enabled", &self.enabled)
            .field("concurrency", &self.concurrency)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish()
    }
}

/// The result of testing an integration's connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionTestDto {
    /// Whether Keepit accepted the credentials.
    pub ok: bool,
    /// The parent account the credentials reach.
    pub account_guid: Option<String>,
    /// Customer accounts visible under it.
    pub customer_accounts: Option<u64>,
    /// What went wrong, when it failed: a fixed sentence for the category, never
    /// text from the other host.
    pub error: Option<String>,
    /// The category of the failure, when it failed.
    #[schema(value_type = Option<String>, pattern = "^(unreachable|timeout|refused_credentials|forbidden|not_found|rate_limited|undecodable_answer|misconfigured|upstream_error)$")]
    pub error_category: Option<String>,
}

/// One sync run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRunDto {
    /// Id.
    pub id: i64,
    /// The integration synced.
    pub integration_id: Option<i64>,
    /// running, ok, partial or failed.
    #[schema(value_type = crate::openapi::SyncOutcomeCode)]
    pub outcome: String,
    /// Start.
    #[schema(format = DateTime)]
    pub started_at: String,
    /// End.
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Accounts visited.
    pub accounts: u64,
    /// Accounts that failed.
    pub accounts_failed: u64,
    /// Connectors seen.
    pub connectors: u64,
    /// Jobs stored for the first time.
    pub jobs_new: u64,
    /// Audit events stored for the first time.
    pub audit_events_new: u64,
    /// Requests made to Keepit.
    pub requests: u64,
    /// The same requests by Keepit's answer: an HTTP status such as `200` or `429`, or
    /// `no_answer` when the connection failed or timed out.
    pub requests_by_status: BTreeMap<String, u64>,
    /// What went wrong, per failed account (or for the whole run, without an account).
    pub errors: Vec<SyncRunErrorDto>,
}

/// One failure of a sync run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRunErrorDto {
    /// The Keepit account that failed; absent when the run failed before any account.
    pub account_guid: Option<String>,
    /// What went wrong.
    pub error: String,
}

impl From<&SyncRunRecord> for SyncRunDto {
    fn from(run: &SyncRunRecord) -> Self {
        SyncRunDto {
            id: run.id.0,
            integration_id: run.integration.map(|i| i.0),
            outcome: run.summary.outcome.as_str().to_owned(),
            started_at: time(run.started_at),
            finished_at: opt_time(run.finished_at),
            accounts: run.summary.accounts,
            accounts_failed: run.summary.accounts_failed,
            connectors: run.summary.connectors,
            jobs_new: run.summary.jobs_new,
            audit_events_new: run.summary.audit_events_new,
            requests: run.summary.requests,
            requests_by_status: run.summary.requests_by_status.clone(),
            errors: run
                .summary
                .errors
                .iter()
                .map(|error| SyncRunErrorDto {
                    account_guid: error.account.as_ref().map(|a| a.as_str().to_owned()),
                    error: error.error.clone(),
                })
                .collect(),
        }
    }
}

/// The error envelope every failure answers with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The inside of [`ErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code such as `invalid_parameter` or `not_found`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
    /// For `invalid_parameter` and `validation_failed`: the query parameter, path
    /// segment or body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserDto {
    /// Id.
    pub id: i64,
    /// E-mail address (the sign-in).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin` or `viewer`.
    #[schema(pattern = "^(admin|viewer)$")]
    pub role: String,
    /// The primary administrator, who receives messages unless they opt out.
    pub primary_admin: bool,
    /// Whether the user receives messages (seed 000: the primary administrator by
    /// default, others once opted in).
    pub send_messages: bool,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Body of `POST /users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// E-mail address; unique.
    #[schema(min_length = 3, max_length = 320)]
    pub email: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `admin` or `viewer`.
    #[schema(pattern = "^(admin|viewer)$")]
    pub role: String,
    /// Receives messages (default: no, unless primary administrator).
    pub send_messages: Option<bool>,
}

impl Bounded for NewUserRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("email", Some(self.email.as_str()), 320)?;
        at_most("name", Some(&self.name), 200)?;
        at_most("role", Some(&self.role), 16)
    }
}

/// Body of `PATCH /users/{id}`; omitted fields keep their value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `admin` or `viewer`.
    #[schema(pattern = "^(admin|viewer)$")]
    pub role: Option<String>,
    /// Receives messages.
    pub send_messages: Option<bool>,
}

impl Bounded for UserPatchRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("name", self.name.as_deref(), 200)?;
        at_most("role", self.role.as_deref(), 16)
    }
}

/// An API token, without its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenDto {
    /// Id (what `DELETE /tokens/{id}` takes).
    pub id: i64,
    /// Its owner.
    pub user_id: i64,
    /// What it is for.
    pub label: String,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last used (refreshed at most once a minute).
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// When it was revoked.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

/// The answer to `POST /tokens`: the token's details and its secret, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenCreatedDto {
    /// The secret, for `Authorization: Bearer <token>`. It is not stored and cannot be
    /// shown again.
    pub token: String,
    /// The token's details.
    #[serde(flatten)]
    pub details: TokenDto,
}

/// Body of `POST /tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What it is for (a script, a dashboard).
    #[schema(min_length = 1, max_length = 100)]
    pub label: String,
    /// Whose token it is (administrators only; default: the caller).
    pub user_id: Option<i64>,
}

impl Bounded for NewTokenRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("label", Some(&self.label), 100)
    }
}

/// Body of `PATCH /integrations/{id}`; omitted fields keep their value. Credentials
/// are write-only and rotate as a whole: give a complete pair (username and password,
/// or API token login and password), which replaces the stored one.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatchRequest {
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Keepit region (clears the base URL).
    #[schema(max_length = 32)]
    pub region: Option<String>,
    /// Base URL override (clears the region).
    #[schema(max_length = 2048)]
    pub base_url: Option<String>,
    /// The MSP's parent account GUID.
    #[schema(min_length = 1, max_length = 128)]
    pub parent_account_guid: Option<String>,
    /// Keepit login of an administrator.
    #[schema(max_length = 320)]
    pub username: Option<String>,
    /// Its password.
    #[schema(max_length = 1024)]
    pub password: Option<String>,
    /// Login half of a Keepit API token.
    #[schema(max_length = 1024)]
    pub api_token_login: Option<String>,
    /// Password half of a Keepit API token.
    #[schema(max_length = 1024)]
    pub api_token_password: Option<String>,
    /// Keepit requests its syncs keep in flight at once (1 to 64; default 5).
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: Option<u16>,
    /// Time one attempt of one Keepit request may take, in seconds (5 to 600; default 30).
    #[schema(minimum = 5, maximum = 600)]
    pub request_timeout_secs: Option<u64>,
}

impl std::fmt::Debug for IntegrationPatchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationPatchRequest")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("base_url", &self.base_url.as_ref().map(|_| "[set]"))
            .field("parent_account_guid", &self.parent_account_guid)
            .field("concurrency", &self.concurrency)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .finish_non_exhaustive()
    }
}

impl Bounded for IntegrationPatchRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("name", self.name.as_deref(), 200)?;
        at_most("region", self.region.as_deref(), 32)?;
        at_most("base_url", self.base_url.as_deref(), 2048)?;
        at_most(
            "parent_account_guid",
            self.parent_account_guid.as_deref(),
            128,
        )?;
        at_most("username", self.username.as_deref(), 320)?;
        at_most("password", self.password.as_deref(), 1024)?;
        at_most("api_token_login", self.api_token_login.as_deref(), 1024)?;
        at_most(
            "api_token_password",
            self.api_token_password.as_deref(),
            1024,
        )
    }
}
