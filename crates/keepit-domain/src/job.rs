//! Jobs: their types, statistics, and the one function that decides a job's status.
//!
//! Keepit sends no status field. A job carries timestamps (`scheduled`, `start`,
//! `started`, `succeeded`, `failed`, `cancelled`), an `active` flag, a progress
//! fraction, optional statistics and an optional failure summary, and
//! [`decide_status`] turns those into the six statuses of Keepit's Job Monitor.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::failure::{FailureReason, ReasonCode};

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobType {
    /// A backup, producing a snapshot (`backup`).
    Backup,
    /// A restore of one or more data types (`restore`); imports count as restores.
    Restore,
    /// A restore of single items or folders (`srestore`).
    ItemRestore,
    /// Preparing a PST file for download (`pstrestore`).
    PstDownload,
    /// Preparing a ZIP file for download (`zipdownload`).
    ZipDownload,
    /// A job type this version does not know, kept verbatim (trimmed, lowercased).
    Other(String),
}

const JOB_TYPES: &[(JobType, &str, &str)] = &[
    (JobType::Backup, "backup", "Backup"),
    (JobType::Restore, "restore", "Restore"),
    (JobType::ItemRestore, "srestore", "Item restore"),
    (JobType::PstDownload, "pstrestore", "PST download"),
    (JobType::ZipDownload, "zipdownload", "ZIP download"),
];

impl JobType {
    /// Every job type known to this version.
    pub fn known() -> impl Iterator<Item = JobType> {
        JOB_TYPES.iter().map(|(job_type, _, _)| job_type.clone())
    }

    /// The codes of every job type known to this version, in the order of [`JobType::known`].
    pub fn known_codes() -> impl Iterator<Item = &'static str> {
        JOB_TYPES.iter().map(|(_, wire, _)| *wire)
    }

    /// Reads Keepit's `type` element; unknown values are kept.
    pub fn from_wire(raw: &str) -> Self {
        let value = raw.trim().to_ascii_lowercase();
        JOB_TYPES
            .iter()
            .find(|(_, wire, _)| *wire == value)
            .map(|(job_type, _, _)| job_type.clone())
            .unwrap_or(JobType::Other(value))
    }

    /// Keepit's name for the type, also used as the stored code.
    pub fn as_str(&self) -> &str {
        match self {
            JobType::Other(raw) => raw,
            known => JOB_TYPES
                .iter()
                .find(|(job_type, _, _)| job_type == known)
                .map(|(_, wire, _)| *wire)
                .unwrap_or(""),
        }
    }

    /// A human-readable name.
    pub fn display_name(&self) -> &str {
        match self {
            JobType::Other(raw) => raw,
            known => JOB_TYPES
                .iter()
                .find(|(job_type, _, _)| job_type == known)
                .map(|(_, _, name)| *name)
                .unwrap_or(""),
        }
    }

    /// Whether the job follows the backup rules or the restore rules.
    ///
    /// Downloads produce data for a person, like restores, so they follow the
    /// restore rules. An unknown type follows the restore rules when its name
    /// says restore or download, and the backup rules otherwise.
    pub fn family(&self) -> JobFamily {
        match self {
            JobType::Backup => JobFamily::Backup,
            JobType::Restore
            | JobType::ItemRestore
            | JobType::PstDownload
            | JobType::ZipDownload => JobFamily::Restore,
            JobType::Other(raw) if raw.contains("restore") || raw.contains("download") => {
                JobFamily::Restore
            }
            JobType::Other(_) => JobFamily::Backup,
        }
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The two rule sets of the Job Monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobFamily {
    /// Backup jobs.
    Backup,
    /// Restore, item restore and download jobs.
    Restore,
}

/// A job's status as the Job Monitor shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobStatus {
    /// Queued and not started.
    Scheduled,
    /// Running.
    InProgress,
    /// Finished as intended.
    Successful,
    /// Finished partly: a backup stopped by an error after it began, or a restore that skipped items.
    Incomplete,
    /// Failed: a backup that failed entirely, or a restore that failed or skipped everything.
    Unsuccessful,
    /// Cancelled by a person or by Keepit (for example for a server update).
    Cancelled,
}

/// A stored status code that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown job status {0:?}; expected one of scheduled, in_progress, successful, incomplete, unsuccessful, cancelled"
)]
pub struct ParseJobStatusError(pub String);

impl JobStatus {
    /// Every status, in the order above.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Scheduled,
        JobStatus::InProgress,
        JobStatus::Successful,
        JobStatus::Incomplete,
        JobStatus::Unsuccessful,
        JobStatus::Cancelled,
    ];

    /// Stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Scheduled => "scheduled",
            JobStatus::InProgress => "in_progress",
            JobStatus::Successful => "successful",
            JobStatus::Incomplete => "incomplete",
            JobStatus::Unsuccessful => "unsuccessful",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Reverses [`JobStatus::as_str`], strictly.
    pub fn parse(code: &str) -> Result<Self, ParseJobStatusError> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == code)
            .ok_or_else(|| ParseJobStatusError(code.to_owned()))
    }

    /// The Job Monitor highlights these in red: cancelled, unsuccessful and incomplete jobs.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            JobStatus::Cancelled | JobStatus::Unsuccessful | JobStatus::Incomplete
        )
    }

    /// Whether the job has ended (no further change is expected).
    pub fn is_finished(self) -> bool {
        !matches!(self, JobStatus::Scheduled | JobStatus::InProgress)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number of items and their size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Volume {
    /// Number of items (for skipped items: items and folders).
    pub count: u64,
    /// Size in bytes (for skipped items: items only, not folders).
    pub bytes: u64,
}

/// What a backup job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BackupStatistics {
    /// Items added or changed since the previous backup.
    pub added: Volume,
    /// Items dropped from the snapshot because they no longer exist in the SaaS service.
    pub removed: Volume,
    /// Items that could not be reached this time; the next backup tries them again.
    pub skipped: Volume,
}

/// What a restore job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RestoreStatistics {
    /// Items restored.
    pub restored: Volume,
    /// Items at the target replaced by the snapshot's version.
    pub overwritten: Volume,
    /// Items that could not be restored.
    pub skipped: Volume,
}

/// Statistics of a job, by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatistics {
    /// A backup's statistics.
    Backup(BackupStatistics),
    /// A restore's statistics.
    Restore(RestoreStatistics),
}

/// Everything Keepit tells about a job that bears on its status.
#[derive(Debug, Clone, PartialEq)]
pub struct JobObservation {
    /// The job's type.
    pub job_type: JobType,
    /// Keepit's `active` flag.
    pub active: bool,
    /// When the job was queued.
    pub scheduled: Option<DateTime<Utc>>,
    /// The requested start time.
    pub start: Option<DateTime<Utc>>,
    /// When execution began.
    pub started: Option<DateTime<Utc>>,
    /// When the job ended successfully.
    pub succeeded: Option<DateTime<Utc>>,
    /// When the job ended in failure.
    pub failed: Option<DateTime<Utc>>,
    /// When the job was cancelled.
    pub cancelled: Option<DateTime<Utc>>,
    /// Progress from 0.0 to 1.0.
    pub progress: Option<f64>,
    /// Statistics, when Keepit sent them.
    pub statistics: Option<JobStatistics>,
    /// The human-readable outcome from the execution summary.
    pub failure_summary: Option<String>,
}

impl JobObservation {
    /// An observation of a job of `job_type` with nothing else known.
    pub fn new(job_type: JobType) -> Self {
        JobObservation {
            job_type,
            active: false,
            scheduled: None,
            start: None,
            started: None,
            succeeded: None,
            failed: None,
            cancelled: None,
            progress: None,
            statistics: None,
            failure_summary: None,
        }
    }

    /// The failure reason read from the failure summary, if any.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.failure_summary
            .as_deref()
            .and_then(FailureReason::from_summary)
    }

    /// When the job ended, whichever way it ended.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        [self.cancelled, self.failed, self.succeeded]
            .into_iter()
            .flatten()
            .max()
    }

    fn summary_reason_code(&self) -> Option<ReasonCode> {
        match self.failure_reason() {
            Some(FailureReason::Known(code)) => Some(code),
            _ => None,
        }
    }

    /// Whether a backup had done some work before it stopped.
    fn backup_made_progress(&self) -> bool {
        let progressed = self.progress.is_some_and(|progress| progress > 0.0);
        let added =
            matches!(self.statistics, Some(JobStatistics::Backup(stats)) if stats.added.count > 0);
        self.started.is_some() && (progressed || added)
    }
}

/// Decides a job's status from what Keepit sends, following the Job Monitor's rules.
///
/// The rules, in the order they are applied:
///
/// 1. A cancellation time means **cancelled**, even while `active` is still true
///    (Keepit clears the flag shortly after recording the cancellation).
/// 2. A job with no end time is **in progress** when it is active or has started,
///    and **scheduled** otherwise. An active job whose requested start lies in the
///    future and that has not started is **scheduled**.
/// 3. Backups:
///    - a failure time means the backup did not finish. It is **incomplete** when it
///      had begun and made progress (progress above zero or items added) and its
///      failure reason is not one that prevents a backup from starting;
///      otherwise the whole attempt failed and it is **unsuccessful**;
///    - a success time means **successful**, even with skipped items or with nothing
///      changed since the last snapshot (zero items).
/// 4. Restores, item restores and downloads:
///    - a failure time means **unsuccessful**, unless items were restored before the
///      failure, which makes it **incomplete**;
///    - a success time means **unsuccessful** when every item was skipped,
///      **incomplete** when at least one item was skipped and **successful** when
///      none was. Without statistics, a failure summary saying that all or some
///      items were skipped decides the same way.
/// 5. When both a success and a failure time are present the failure wins: a
///    monitoring tool prefers a false alarm to a missed failure.
pub fn decide_status(job: &JobObservation, now: DateTime<Utc>) -> JobStatus {
    if job.cancelled.is_some() {
        return JobStatus::Cancelled;
    }
    if job.failed.is_none() && job.succeeded.is_none() {
        let requested_start = job.start.or(job.scheduled);
        let starts_later = requested_start.is_some_and(|start| start > now);
        return if job.started.is_none() && (starts_later || !job.active) {
            JobStatus::Scheduled
        } else {
            JobStatus::InProgress
        };
    }
    match job.job_type.family() {
        JobFamily::Backup => decide_backup(job),
        JobFamily::Restore => decide_restore(job),
    }
}

fn decide_backup(job: &JobObservation) -> JobStatus {
    if job.failed.is_some() {
        let blocked_at_start = job
            .summary_reason_code()
            .is_some_and(ReasonCode::prevents_start);
        return if job.backup_made_progress() && !blocked_at_start {
            JobStatus::Incomplete
        } else {
            JobStatus::Unsuccessful
        };
    }
    JobStatus::Successful
}

fn decide_restore(job: &JobObservation) -> JobStatus {
    let stats = match job.statistics {
        Some(JobStatistics::Restore(stats)) => Some(stats),
        _ => None,
    };
    if job.failed.is_some() {
        let restored_some =
            stats.is_some_and(|stats| stats.restored.count + stats.overwritten.count > 0);
        return if restored_some {
            JobStatus::Incomplete
        } else {
            JobStatus::Unsuccessful
        };
    }
    match stats {
        Some(stats) if stats.skipped.count > 0 => {
            if stats.restored.count + stats.overwritten.count == 0 {
                JobStatus::Unsuccessful
            } else {
                JobStatus::Incomplete
            }
        }
        Some(_) => JobStatus::Successful,
        None => match job.summary_reason_code() {
            Some(ReasonCode::AllItemsSkipped) => JobStatus::Unsuccessful,
            Some(ReasonCode::SomeItemsSkipped) => JobStatus::Incomplete,
            _ => JobStatus::Successful,
        },
    }
}

#[cfg(test)]
mod tests;
