//! Table-driven tests for [`decide_status`]: one row per Job Monitor rule, then edge cases.

use chrono::{Duration, TimeZone};

use super::*;

fn t(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 6, hour, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    t(12)
}

fn vol(count: u64) -> Volume {
    Volume {
        count,
        bytes: count * 1000,
    }
}

/// A job of `job_type` queued at 01:00 and started at 01:05.
fn started(job_type: JobType) -> JobObservation {
    JobObservation {
        scheduled: Some(t(1)),
        start: Some(t(1)),
        started: Some(t(1) + Duration::minutes(5)),
        ..JobObservation::new(job_type)
    }
}

fn backup_stats(added: u64, skipped: u64) -> Option<JobStatistics> {
    Some(JobStatistics::Backup(BackupStatistics {
        added: vol(added),
        removed: vol(0),
        skipped: vol(skipped),
    }))
}

fn restore_stats(restored: u64, skipped: u64) -> Option<JobStatistics> {
    Some(JobStatistics::Restore(RestoreStatistics {
        restored: vol(restored),
        overwritten: vol(0),
        skipped: vol(skipped),
    }))
}

#[track_caller]
fn check(rule: &str, job: JobObservation, expect: JobStatus) {
    assert_eq!(
        decide_status(&job, now()),
        expect,
        "rule: {rule}\njob: {job:?}"
    );
}

#[test]
fn backup_rules() {
    use JobStatus::*;
    let rows: Vec<(&str, JobObservation, JobStatus)> = vec![
        (
            "backup that failed entirely is unsuccessful",
            JobObservation {
                failed: Some(t(2)),
                progress: Some(0.0),
                ..started(JobType::Backup)
            },
            Unsuccessful,
        ),
        (
            "backup that never started and failed is unsuccessful",
            JobObservation {
                scheduled: Some(t(1)),
                failed: Some(t(2)),
                ..JobObservation::new(JobType::Backup)
            },
            Unsuccessful,
        ),
        (
            "backup stopped by an error after it began is incomplete",
            JobObservation {
                failed: Some(t(3)),
                progress: Some(0.4),
                ..started(JobType::Backup)
            },
            Incomplete,
        ),
        (
            "backup stopped after adding items is incomplete even without progress",
            JobObservation {
                failed: Some(t(3)),
                statistics: backup_stats(12, 0),
                ..started(JobType::Backup)
            },
            Incomplete,
        ),
        (
            "backup blocked by authentication is unsuccessful even with progress reported",
            JobObservation {
                failed: Some(t(3)),
                progress: Some(0.1),
                failure_summary: Some("Authentication with the SaaS application failed".into()),
                ..started(JobType::Backup)
            },
            Unsuccessful,
        ),
        (
            "backup aborted mid-way is incomplete",
            JobObservation {
                failed: Some(t(3)),
                progress: Some(0.7),
                failure_summary: Some("Job aborted".into()),
                ..started(JobType::Backup)
            },
            Incomplete,
        ),
        (
            "backup with skipped items is still successful",
            JobObservation {
                succeeded: Some(t(2)),
                progress: Some(1.0),
                statistics: backup_stats(50, 3),
                ..started(JobType::Backup)
            },
            Successful,
        ),
        (
            "backup where nothing changed (0 items) is successful",
            JobObservation {
                succeeded: Some(t(2)),
                statistics: backup_stats(0, 0),
                ..started(JobType::Backup)
            },
            Successful,
        ),
        (
            "running backup is in progress",
            JobObservation {
                active: true,
                progress: Some(0.45),
                ..started(JobType::Backup)
            },
            InProgress,
        ),
        (
            "backup cancelled by Keepit is cancelled",
            JobObservation {
                cancelled: Some(t(2)),
                ..started(JobType::Backup)
            },
            Cancelled,
        ),
    ];
    for (rule, job, expect) in rows {
        check(rule, job, expect);
    }
}

#[test]
fn restore_rules() {
    use JobStatus::*;
    let rows: Vec<(&str, JobObservation, JobStatus)> = vec![
        (
            "restore that failed entirely is unsuccessful",
            JobObservation {
                failed: Some(t(2)),
                ..started(JobType::Restore)
            },
            Unsuccessful,
        ),
        (
            "restore with every item skipped is unsuccessful",
            JobObservation {
                succeeded: Some(t(2)),
                statistics: restore_stats(0, 40),
                ..started(JobType::Restore)
            },
            Unsuccessful,
        ),
        (
            "restore with one skipped item is incomplete",
            JobObservation {
                succeeded: Some(t(2)),
                statistics: restore_stats(99, 1),
                ..started(JobType::Restore)
            },
            Incomplete,
        ),
        (
            "restore that failed after restoring some items is incomplete",
            JobObservation {
                failed: Some(t(2)),
                statistics: restore_stats(10, 5),
                ..started(JobType::ItemRestore)
            },
            Incomplete,
        ),
        (
            "restore with everything restored is successful",
            JobObservation {
                succeeded: Some(t(2)),
                statistics: restore_stats(100, 0),
                ..started(JobType::Restore)
            },
            Successful,
        ),
        (
            "restore without statistics whose summary says all items were skipped is unsuccessful",
            JobObservation {
                succeeded: Some(t(2)),
                failure_summary: Some("All items skipped".into()),
                ..started(JobType::Restore)
            },
            Unsuccessful,
        ),
        (
            "restore without statistics whose summary says items were skipped is incomplete",
            JobObservation {
                succeeded: Some(t(2)),
                failure_summary: Some("At least one item skipped".into()),
                ..started(JobType::Restore)
            },
            Incomplete,
        ),
        (
            "restore cancelled manually is cancelled",
            JobObservation {
                cancelled: Some(t(2)),
                ..started(JobType::Restore)
            },
            Cancelled,
        ),
        (
            "scheduled restore shows as scheduled",
            JobObservation {
                scheduled: Some(t(11)),
                ..JobObservation::new(JobType::Restore)
            },
            Scheduled,
        ),
        (
            "scheduled item restore shows as scheduled",
            JobObservation {
                scheduled: Some(t(11)),
                ..JobObservation::new(JobType::ItemRestore)
            },
            Scheduled,
        ),
        (
            "running restore is in progress",
            JobObservation {
                active: true,
                ..started(JobType::Restore)
            },
            InProgress,
        ),
        (
            "PST download follows the restore rules",
            JobObservation {
                failed: Some(t(2)),
                ..started(JobType::PstDownload)
            },
            Unsuccessful,
        ),
        (
            "ZIP download that finished is successful",
            JobObservation {
                succeeded: Some(t(2)),
                ..started(JobType::ZipDownload)
            },
            Successful,
        ),
    ];
    for (rule, job, expect) in rows {
        check(rule, job, expect);
    }
}

#[test]
fn edge_cases() {
    use JobStatus::*;
    let rows: Vec<(&str, JobObservation, JobStatus)> = vec![
        (
            "both succeeded and failed set: the failure wins (backup with progress)",
            JobObservation {
                succeeded: Some(t(3)),
                failed: Some(t(2)),
                progress: Some(0.5),
                ..started(JobType::Backup)
            },
            Incomplete,
        ),
        (
            "both succeeded and failed set: the failure wins (restore)",
            JobObservation {
                succeeded: Some(t(2)),
                failed: Some(t(3)),
                ..started(JobType::Restore)
            },
            Unsuccessful,
        ),
        (
            "cancelled while still flagged active",
            JobObservation {
                active: true,
                cancelled: Some(t(2)),
                ..started(JobType::Restore)
            },
            Cancelled,
        ),
        (
            "cancellation beats a success time",
            JobObservation {
                succeeded: Some(t(3)),
                cancelled: Some(t(2)),
                ..started(JobType::Backup)
            },
            Cancelled,
        ),
        (
            "zero items changed and no statistics at all",
            JobObservation {
                succeeded: Some(t(2)),
                ..started(JobType::Backup)
            },
            Successful,
        ),
        (
            "active but scheduled in the future and not started",
            JobObservation {
                active: true,
                start: Some(now() + Duration::hours(3)),
                ..JobObservation::new(JobType::Backup)
            },
            Scheduled,
        ),
        (
            "inactive, scheduled in the future",
            JobObservation {
                scheduled: Some(now() + Duration::days(1)),
                ..JobObservation::new(JobType::Backup)
            },
            Scheduled,
        ),
        (
            "started but no longer flagged active and no end time yet",
            started(JobType::Backup),
            InProgress,
        ),
        (
            "active with no timestamps at all",
            JobObservation {
                active: true,
                ..JobObservation::new(JobType::Backup)
            },
            InProgress,
        ),
        (
            "unknown restore-like type follows the restore rules",
            JobObservation {
                succeeded: Some(t(2)),
                statistics: restore_stats(0, 3),
                ..started(JobType::from_wire("pmrestore"))
            },
            Unsuccessful,
        ),
    ];
    for (rule, job, expect) in rows {
        check(rule, job, expect);
    }
}

#[test]
fn needs_attention_is_cancelled_unsuccessful_and_incomplete() {
    let flagged: Vec<JobStatus> = JobStatus::ALL
        .into_iter()
        .filter(|status| status.needs_attention())
        .collect();
    assert_eq!(
        flagged,
        vec![
            JobStatus::Incomplete,
            JobStatus::Unsuccessful,
            JobStatus::Cancelled
        ]
    );
}

#[test]
fn status_codes_round_trip() {
    for status in JobStatus::ALL {
        assert_eq!(JobStatus::parse(status.as_str()), Ok(status));
    }
    assert_eq!(
        JobStatus::parse("bogus"),
        Err(ParseJobStatusError("bogus".into()))
    );
}

#[test]
fn job_types_from_wire() {
    assert_eq!(JobType::from_wire("backup"), JobType::Backup);
    assert_eq!(JobType::from_wire("restore"), JobType::Restore);
    assert_eq!(JobType::from_wire("srestore"), JobType::ItemRestore);
    assert_eq!(JobType::from_wire(" PSTRESTORE "), JobType::PstDownload);
    assert_eq!(JobType::from_wire("zipdownload"), JobType::ZipDownload);
    let unknown = JobType::from_wire("pmrestore");
    assert_eq!(unknown, JobType::Other("pmrestore".into()));
    assert_eq!(unknown.as_str(), "pmrestore");
    assert_eq!(JobType::from_wire("weird").family(), JobFamily::Backup);
    for job_type in JobType::known() {
        assert_eq!(JobType::from_wire(job_type.as_str()), job_type);
    }
}

#[test]
fn ended_at_is_the_latest_end_time() {
    let job = JobObservation {
        failed: Some(t(2)),
        succeeded: Some(t(3)),
        ..started(JobType::Backup)
    };
    assert_eq!(job.ended_at(), Some(t(3)));
    assert_eq!(started(JobType::Backup).ended_at(), None);
}
