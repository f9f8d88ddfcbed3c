//! A connector's backup status from what one look at Keepit found: when it last
//! backed up successfully, when it last tried, how its latest backup ended, and
//! which failure reason explains its state.

use chrono::{DateTime, Utc};

use crate::{FailureReason, JobStatus};

/// One backup job as the derivation needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackupSeen<'a> {
    /// Its decided status.
    pub status: JobStatus,
    /// When it started, if it did.
    pub started: Option<DateTime<Utc>>,
    /// When it ended (succeeded, failed or was cancelled), if it did.
    pub ended: Option<DateTime<Utc>>,
    /// Why it failed, when it did.
    pub failure_reason: Option<&'a FailureReason>,
}

/// What the status said before this look.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatusBefore<'a> {
    /// End of the last successful backup known.
    pub last_success: Option<DateTime<Utc>>,
    /// The last backup attempt known.
    pub last_attempt: Option<DateTime<Utc>>,
    /// How the latest finished backup known ended.
    pub last_job_status: Option<JobStatus>,
    /// The failure reason known.
    pub failure_reason: Option<&'a FailureReason>,
}

/// Everything one look at a connector found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusEvidence<'a> {
    /// The connector's backup jobs seen in this look (restores are left out by the
    /// caller), in any order.
    pub backups: Vec<BackupSeen<'a>>,
    /// The status before this look, if there was one.
    pub before: StatusBefore<'a>,
    /// The reason of the connector's error code, when it has one.
    pub error_code_reason: Option<FailureReason>,
    /// The reason Keepit's health rating gives, when it gives one.
    pub health_reason: Option<FailureReason>,
    /// When the latest complete snapshot was taken (a success even without a job).
    pub complete_snapshot_at: Option<DateTime<Utc>>,
}

/// The status that follows.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedStatus {
    /// End of the last successful backup: the latest of the one known before, the
    /// newest successful job and the latest complete snapshot.
    pub last_successful_backup_at: Option<DateTime<Utc>>,
    /// The latest of the attempt known before and the newest job's end (or start,
    /// while it runs).
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// How the latest finished backup ended; the one known before when none finished.
    pub last_job_status: Option<JobStatus>,
    /// Which reason explains the state, in this order: the error code, the health
    /// rating, then the latest finished backup when it needs attention. A look in
    /// which no backup finished keeps the reason known before.
    pub failure_reason: Option<FailureReason>,
}

/// Derives a connector's status from one look (see [`DerivedStatus`] for each rule).
pub fn derive_connector_status(evidence: &StatusEvidence<'_>) -> DerivedStatus {
    let backups = &evidence.backups;
    let before = &evidence.before;
    let latest_finished = backups
        .iter()
        .filter(|job| job.status.is_finished())
        .max_by_key(|job| job.ended);
    let newest_success = backups
        .iter()
        .filter(|job| job.status == JobStatus::Successful)
        .filter_map(|job| job.ended)
        .max();
    let last_successful_backup_at = [
        before.last_success,
        newest_success,
        evidence.complete_snapshot_at,
    ]
    .into_iter()
    .flatten()
    .max();
    let newest_attempt = backups
        .iter()
        .filter_map(|job| job.ended.or(job.started))
        .max();
    let last_attempt_at = [before.last_attempt, newest_attempt]
        .into_iter()
        .flatten()
        .max();
    let last_job_status = match latest_finished {
        Some(job) => Some(job.status),
        None => before.last_job_status,
    };
    let failure_reason = evidence
        .error_code_reason
        .clone()
        .or_else(|| evidence.health_reason.clone())
        .or_else(|| match latest_finished {
            Some(job) if job.status.needs_attention() => job.failure_reason.cloned(),
            Some(_) => None,
            // No backup finished since the last look: the latest known outcome stands.
            None => before.failure_reason.cloned(),
        });
    DerivedStatus {
        last_successful_backup_at,
        last_attempt_at,
        last_job_status,
        failure_reason,
    }
}

#[cfg(test)]
mod tests;
