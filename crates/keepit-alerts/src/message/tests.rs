//! One test per message kind of Keepit's messaging, plus the cases that send nothing.

use chrono::TimeZone;
use keepit_domain::{
    Audience, MessagePreference, ReasonCode, RecipientCandidate, UserId, route_message,
};

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn contoso() -> ConnectorRef {
    ConnectorRef {
        customer: Some(CustomerId(3)),
        customer_name: "Contoso".into(),
        account: AccountId::new("cust01-aaaaaa-aaaaaa").unwrap(),
        connector: ConnectorId::new("conn01-aaaaaa-aaaaaa").unwrap(),
        connector_name: "Contoso Microsoft 365".into(),
        kind: ConnectorKind::Microsoft365,
    }
}

fn job() -> JobId {
    JobId::new("job001-aaaaaa-bbbbbb-cccccc").unwrap()
}

fn finished(
    job_type: JobType,
    status: JobStatus,
    first: bool,
    reason: Option<ReasonCode>,
) -> Option<MessageDraft> {
    compose(&ChangeEvent::JobFinished {
        connector: contoso(),
        job: job(),
        job_type,
        status,
        reason: reason.map(FailureReason::Known),
        first_successful_backup: first,
    })
}

#[test]
fn connector_added() {
    let message = compose(&ChangeEvent::ConnectorAdded {
        connector: contoso(),
    })
    .unwrap();
    assert_eq!(message.kind, MessageKind::ConnectorAdded);
    assert_eq!(message.dedup_key, "connector-added:conn01-aaaaaa-aaaaaa");
    assert!(message.body.contains("Microsoft 365"));
}

#[test]
fn connector_health_changed_with_its_reason() {
    let event = ChangeEvent::HealthChanged {
        connector: contoso(),
        from: Health::Healthy,
        to: Health::Critical,
        reason: Some(FailureReason::Known(ReasonCode::AuthenticationFailed)),
        seen_at: at(),
    };
    let message = compose(&event).unwrap();
    assert_eq!(message.kind, MessageKind::ConnectorHealthChanged);
    assert!(message.subject.contains("critical"));
    assert!(
        message.body.contains("Re-authenticate the connector"),
        "{}",
        message.body
    );
    let same = ChangeEvent::HealthChanged {
        connector: contoso(),
        from: Health::Healthy,
        to: Health::Healthy,
        reason: None,
        seen_at: at(),
    };
    assert_eq!(compose(&same), None);
}

#[test]
fn connector_scheduled_for_deletion() {
    let message = compose(&ChangeEvent::ScheduledForDeletion {
        connector: contoso(),
        deadline: at(),
    })
    .unwrap();
    assert_eq!(message.kind, MessageKind::ConnectorScheduledForDeletion);
    assert!(message.body.contains("2026-03-10 12:00 UTC"));
}

#[test]
fn initial_backup_completed_only_for_the_first_success() {
    assert_eq!(
        finished(JobType::Backup, JobStatus::Successful, true, None)
            .unwrap()
            .kind,
        MessageKind::InitialBackupCompleted
    );
    assert_eq!(
        finished(JobType::Backup, JobStatus::Successful, false, None),
        None
    );
}

#[test]
fn backup_unsuccessful_and_incomplete_carry_the_resolution() {
    let message = finished(
        JobType::Backup,
        JobStatus::Unsuccessful,
        false,
        Some(ReasonCode::NotGlobalAdmin),
    )
    .unwrap();
    assert_eq!(message.kind, MessageKind::BackupUnsuccessful);
    assert!(
        message.body.contains("Global Administrator"),
        "{}",
        message.body
    );
    assert_eq!(
        message.dedup_key,
        "job:job001-aaaaaa-bbbbbb-cccccc:backup_unsuccessful"
    );
    assert_eq!(
        finished(JobType::Backup, JobStatus::Incomplete, false, None)
            .unwrap()
            .kind,
        MessageKind::BackupIncomplete
    );
}

#[test]
fn restore_started_successful_unsuccessful_and_incomplete() {
    let started = compose(&ChangeEvent::JobStarted {
        connector: contoso(),
        job: job(),
        job_type: JobType::Restore,
    })
    .unwrap();
    assert_eq!(started.kind, MessageKind::RestoreStarted);
    assert_eq!(
        finished(JobType::Restore, JobStatus::Successful, false, None)
            .unwrap()
            .kind,
        MessageKind::RestoreSuccessful
    );
    let unsuccessful = finished(
        JobType::ItemRestore,
        JobStatus::Unsuccessful,
        false,
        Some(ReasonCode::AllItemsSkipped),
    )
    .unwrap();
    assert_eq!(unsuccessful.kind, MessageKind::RestoreUnsuccessful);
    assert!(unsuccessful.body.contains("Nothing was restored"));
    let incomplete = finished(
        JobType::Restore,
        JobStatus::Incomplete,
        false,
        Some(ReasonCode::SomeItemsSkipped),
    )
    .unwrap();
    assert_eq!(incomplete.kind, MessageKind::RestoreIncomplete);
    assert!(incomplete.body.contains("skipped-items report"));
    // A backup starting is no news.
    assert_eq!(
        compose(&ChangeEvent::JobStarted {
            connector: contoso(),
            job: job(),
            job_type: JobType::Backup
        }),
        None
    );
    assert_eq!(
        finished(JobType::Restore, JobStatus::Cancelled, false, None),
        None
    );
}

#[test]
fn download_links_go_to_the_requester_only() {
    for kind in [
        DownloadKind::Pst,
        DownloadKind::Csv,
        DownloadKind::ComplianceReport,
    ] {
        let event = ChangeEvent::DownloadLinkReady {
            account: AccountId::new("cust01-aaaaaa-aaaaaa").unwrap(),
            customer: Some(CustomerId(3)),
            kind,
            requested_by: Some("jane@msp.example".into()),
            at: at(),
        };
        let message = compose(&event).unwrap();
        assert_eq!(message.kind, MessageKind::DownloadLinkReady(kind));
        assert_eq!(message.person_email.as_deref(), Some("jane@msp.example"));
        // Routing: the requester (user 2, who never opted in) receives it; the primary admin does not.
        let users = [
            RecipientCandidate {
                user: UserId(1),
                primary_admin: true,
                preference: MessagePreference::Default,
            },
            RecipientCandidate {
                user: UserId(2),
                primary_admin: false,
                preference: MessagePreference::OptedOut,
            },
        ];
        assert_eq!(
            message.kind.audience(Some(UserId(2))),
            Audience::OnePerson(UserId(2))
        );
        assert_eq!(
            route_message(message.kind.audience(Some(UserId(2))), &users),
            vec![UserId(2)]
        );
    }
}

#[test]
fn the_same_change_gives_the_same_key() {
    let first = finished(JobType::Backup, JobStatus::Unsuccessful, false, None).unwrap();
    let again = finished(
        JobType::Backup,
        JobStatus::Unsuccessful,
        false,
        Some(ReasonCode::JobAborted),
    )
    .unwrap();
    assert_eq!(first.dedup_key, again.dedup_key);
}
