//! What Keepit said, as the store's records.

use chrono::{DateTime, Utc};
use keepit_client::Connector;
use keepit_domain::{
    AccountId, BackupSeen, ConnectorId, FailureReason, JobFamily, SnapshotKind, StatusBefore,
    StatusEvidence, derive_connector_status,
};
use keepit_store::{AuditEventRecord, ConnectorRecord, ConnectorStatusRecord, JobRecord};

pub(super) fn connector_record(account: &AccountId, connector: &Connector) -> ConnectorRecord {
    ConnectorRecord {
        connector: connector.id.clone(),
        account: account.clone(),
        name: connector.name.clone(),
        kind: connector.kind.clone(),
        created: connector.created,
        accessible: connector.accessible,
        deletion_deadline: connector.deletion_deadline,
        backup_retention: connector.backup_retention.clone(),
    }
}

pub(super) fn job_record(
    account: &AccountId,
    connector: &ConnectorId,
    job: &keepit_client::Job,
    now: DateTime<Utc>,
) -> JobRecord {
    JobRecord {
        job: job.id.clone(),
        connector: connector.clone(),
        account: account.clone(),
        job_type: job.job_type.clone(),
        status: job.status(now),
        active: job.active,
        scheduled: job.scheduled,
        start: job.start,
        dispatched: job.dispatched,
        started: job.started,
        succeeded: job.succeeded,
        failed: job.failed,
        cancelled: job.cancelled,
        progress: job.progress,
        snapshot_at: job.snapshot_time,
        statistics: job.statistics,
        failure_reason: job.failure_reason(now),
        failure_summary: job.summary.clone(),
        description: job.description.clone(),
        raw_stats: job.raw_stats.clone(),
    }
}

pub(super) type SnapshotFacts = (
    Option<DateTime<Utc>>,
    Option<SnapshotKind>,
    Option<u64>,
    Option<DateTime<Utc>>,
);

/// A connector's status after one look: the derivation is the domain's
/// ([`keepit_domain::derive_connector_status`]); this gathers its evidence.
pub(super) fn status_record(
    connector: &Connector,
    previous: Option<&ConnectorStatusRecord>,
    health: &keepit_client::ConnectorHealth,
    error_code: Option<keepit_domain::ConnectorErrorCode>,
    jobs: &[JobRecord],
    (snapshot_at, snapshot_kind, snapshot_size, complete_at): SnapshotFacts,
    now: DateTime<Utc>,
) -> ConnectorStatusRecord {
    let evidence = StatusEvidence {
        backups: jobs
            .iter()
            .filter(|job| job.job_type.family() == JobFamily::Backup)
            .map(|job| BackupSeen {
                status: job.status,
                started: job.started,
                ended: job.ended_at(),
                failure_reason: job.failure_reason.as_ref(),
            })
            .collect(),
        before: previous.map_or_else(StatusBefore::default, |status| StatusBefore {
            last_success: status.last_successful_backup_at,
            last_attempt: status.last_attempt_at,
            last_job_status: status.last_job_status,
            failure_reason: status.failure_reason.as_ref(),
        }),
        error_code_reason: error_code
            .as_ref()
            .map(|code| FailureReason::from_error_code(code, Some(&connector.kind))),
        health_reason: health.failure_reason(),
        complete_snapshot_at: complete_at,
    };
    let derived = derive_connector_status(&evidence);
    ConnectorStatusRecord {
        connector: connector.id.clone(),
        latest_snapshot_at: snapshot_at,
        latest_snapshot_kind: snapshot_kind,
        latest_snapshot_size: snapshot_size,
        last_successful_backup_at: derived.last_successful_backup_at,
        last_job_status: derived.last_job_status,
        last_attempt_at: derived.last_attempt_at,
        health: health.health,
        health_reason: health.reason.clone(),
        error_code,
        failure_reason: derived.failure_reason,
        checked_at: now,
    }
}

pub(super) fn audit_record(record: &keepit_client::AuditRecord) -> AuditEventRecord {
    AuditEventRecord {
        time: record.time,
        account: record.account.clone(),
        connector: record.connector.clone(),
        actor: record.actor_display(),
        client_ip: record.client_ip.clone(),
        acl: record.acl.clone().unwrap_or_default(),
        method: record.method.clone().unwrap_or_default(),
        allowed: record.allowed,
        succeeded: record.succeeded,
        area: record.area.clone().unwrap_or_default(),
        category: record.category(),
        message: record.message.clone().unwrap_or_default(),
        metadata: record.metadata.clone(),
    }
}
