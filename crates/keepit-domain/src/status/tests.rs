//! One row per rule of the derivation.

use chrono::{Duration, TimeZone};

use super::*;
use crate::ReasonCode;

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

const ABORTED: FailureReason = FailureReason::Known(ReasonCode::JobAborted);
const SIGN_IN: FailureReason = FailureReason::Known(ReasonCode::AuthenticationFailed);
const ADMIN: FailureReason = FailureReason::Known(ReasonCode::NotGlobalAdmin);

fn job(status: JobStatus, started: i64, ended: Option<i64>) -> BackupSeen<'static> {
    BackupSeen {
        status,
        started: Some(t(started)),
        ended: ended.map(t),
        failure_reason: status.needs_attention().then_some(&ABORTED),
    }
}

struct Row {
    name: &'static str,
    evidence: StatusEvidence<'static>,
    success: Option<i64>,
    attempt: Option<i64>,
    last: Option<JobStatus>,
    reason: Option<FailureReason>,
}

#[test]
fn every_rule_of_the_derivation() {
    use JobStatus::*;
    let rows = [
        Row {
            name: "nothing seen, nothing known",
            evidence: StatusEvidence::default(),
            success: None,
            attempt: None,
            last: None,
            reason: None,
        },
        Row {
            name: "the newest success and attempt win, whatever the order",
            evidence: StatusEvidence {
                backups: vec![job(Successful, 10, Some(11)), job(Successful, 1, Some(2))],
                ..StatusEvidence::default()
            },
            success: Some(11),
            attempt: Some(11),
            last: Some(Successful),
            reason: None,
        },
        Row {
            name: "a failure after a success: the success stays, the failure explains",
            evidence: StatusEvidence {
                backups: vec![job(Successful, 1, Some(2)), job(Unsuccessful, 5, Some(6))],
                ..StatusEvidence::default()
            },
            success: Some(2),
            attempt: Some(6),
            last: Some(Unsuccessful),
            reason: Some(ABORTED),
        },
        Row {
            name: "a running job is an attempt from its start, not an outcome",
            evidence: StatusEvidence {
                backups: vec![job(Successful, 1, Some(2)), job(InProgress, 8, None)],
                ..StatusEvidence::default()
            },
            success: Some(2),
            attempt: Some(8),
            last: Some(Successful),
            reason: None,
        },
        Row {
            name: "what was known before stays when it is later",
            evidence: StatusEvidence {
                backups: vec![job(Successful, 1, Some(2))],
                before: StatusBefore {
                    last_success: Some(t(20)),
                    last_attempt: Some(t(21)),
                    last_job_status: Some(Successful),
                    failure_reason: None,
                },
                ..StatusEvidence::default()
            },
            success: Some(20),
            attempt: Some(21),
            last: Some(Successful),
            reason: None,
        },
        Row {
            name: "a complete snapshot counts as a success",
            evidence: StatusEvidence {
                backups: vec![job(Unsuccessful, 1, Some(2))],
                complete_snapshot_at: Some(t(30)),
                ..StatusEvidence::default()
            },
            success: Some(30),
            attempt: Some(2),
            last: Some(Unsuccessful),
            reason: Some(ABORTED),
        },
        Row {
            name: "no backup finished: the outcome and reason known before stand",
            evidence: StatusEvidence {
                backups: vec![job(InProgress, 8, None)],
                before: StatusBefore {
                    last_job_status: Some(Unsuccessful),
                    failure_reason: Some(&ABORTED),
                    ..StatusBefore::default()
                },
                ..StatusEvidence::default()
            },
            success: None,
            attempt: Some(8),
            last: Some(Unsuccessful),
            reason: Some(ABORTED),
        },
        Row {
            name: "a success clears the reason known before",
            evidence: StatusEvidence {
                backups: vec![job(Successful, 8, Some(9))],
                before: StatusBefore {
                    failure_reason: Some(&ABORTED),
                    last_job_status: Some(Unsuccessful),
                    ..StatusBefore::default()
                },
                ..StatusEvidence::default()
            },
            success: Some(9),
            attempt: Some(9),
            last: Some(Successful),
            reason: None,
        },
        Row {
            name: "the health rating's reason beats the job's",
            evidence: StatusEvidence {
                backups: vec![job(Unsuccessful, 1, Some(2))],
                health_reason: Some(ADMIN),
                ..StatusEvidence::default()
            },
            success: None,
            attempt: Some(2),
            last: Some(Unsuccessful),
            reason: Some(ADMIN),
        },
        Row {
            name: "the error code beats the health rating and the job",
            evidence: StatusEvidence {
                backups: vec![job(Unsuccessful, 1, Some(2))],
                health_reason: Some(ADMIN),
                error_code_reason: Some(SIGN_IN),
                ..StatusEvidence::default()
            },
            success: None,
            attempt: Some(2),
            last: Some(Unsuccessful),
            reason: Some(SIGN_IN),
        },
        Row {
            name: "a cancelled backup needs attention and keeps its reason",
            evidence: StatusEvidence {
                backups: vec![job(Cancelled, 1, Some(2))],
                ..StatusEvidence::default()
            },
            success: None,
            attempt: Some(2),
            last: Some(Cancelled),
            reason: Some(ABORTED),
        },
    ];
    for row in rows {
        let derived = derive_connector_status(&row.evidence);
        assert_eq!(
            derived,
            DerivedStatus {
                last_successful_backup_at: row.success.map(t),
                last_attempt_at: row.attempt.map(t),
                last_job_status: row.last,
                failure_reason: row.reason,
            },
            "{}",
            row.name
        );
    }
}
