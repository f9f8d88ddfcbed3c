//! Builders for test data.

use chrono::{DateTime, TimeZone, Utc};
use keepit_domain::{
    AccountId, AuditCategory, BackupStatistics, ConnectorId, ConnectorKind, FailureReason, Health,
    JobId, JobStatistics, JobStatus, JobType, ReasonCode, Volume,
};

use crate::{
    AuditEventRecord, ConnectorRecord, ConnectorStatusRecord, IntegrationId, JobRecord,
    KeepitCredentials, NewIntegration, Store, secrets::MasterKey,
};

/// 2026-01-01T00:00:00Z plus `seconds`.
pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::TimeDelta::seconds(seconds)
}

pub(crate) fn account(n: u32) -> AccountId {
    AccountId::new(&format!("acct{n:02}-aaaaaa-bbbbbb")).unwrap()
}

pub(crate) fn connector_id(n: u32) -> ConnectorId {
    ConnectorId::new(&format!("conn{n:02}-cccccc-dddddd")).unwrap()
}

pub(crate) fn job_id(n: u32) -> JobId {
    JobId::new(&format!("job{n:04}-eeeeee-ffffff-gggggg")).unwrap()
}

pub(crate) fn connector(n: u32, account_n: u32, name: &str) -> ConnectorRecord {
    ConnectorRecord {
        connector: connector_id(n),
        account: account(account_n),
        name: name.to_owned(),
        kind: ConnectorKind::Microsoft365,
        created: Some(at(-86_400)),
        accessible: true,
        deletion_deadline: None,
        backup_retention: Some("P1Y".to_owned()),
    }
}

pub(crate) fn status(n: u32, health: Health, checked: DateTime<Utc>) -> ConnectorStatusRecord {
    ConnectorStatusRecord {
        connector: connector_id(n),
        latest_snapshot_at: Some(at(100)),
        latest_snapshot_kind: Some(keepit_domain::SnapshotKind::Complete),
        latest_snapshot_size: Some(12_345),
        last_successful_backup_at: Some(at(100)),
        last_job_status: Some(JobStatus::Successful),
        last_attempt_at: Some(at(50)),
        health,
        health_reason: None,
        error_code: None,
        failure_reason: None,
        checked_at: checked,
    }
}

/// A backup job of connector `connector_n` (account 1) that started at `at(started)`.
pub(crate) fn job(n: u32, connector_n: u32, started: i64, status: JobStatus) -> JobRecord {
    let ended = Some(at(started + 600));
    JobRecord {
        raw_stats: Vec::new(),
        job: job_id(n),
        connector: connector_id(connector_n),
        account: account(1),
        job_type: JobType::Backup,
        status,
        active: false,
        scheduled: Some(at(started - 60)),
        start: Some(at(started - 30)),
        dispatched: None,
        started: Some(at(started)),
        succeeded: (status == JobStatus::Successful).then_some(ended).flatten(),
        failed: (status == JobStatus::Unsuccessful)
            .then_some(ended)
            .flatten(),
        cancelled: None,
        progress: Some(1.0),
        snapshot_at: None,
        statistics: Some(JobStatistics::Backup(BackupStatistics {
            added: Volume {
                count: 10,
                bytes: 1_000,
            },
            removed: Volume::default(),
            skipped: Volume { count: 1, bytes: 5 },
        })),
        failure_reason: (status == JobStatus::Unsuccessful)
            .then_some(FailureReason::Known(ReasonCode::AuthenticationFailed)),
        failure_summary: (status == JobStatus::Unsuccessful)
            .then(|| "Authentication failed".to_owned()),
        description: Some(format!("[backup][bl][auto][o365-admin]{{job {n}}}")),
    }
}

pub(crate) fn audit(n: u32, account_n: u32, time: DateTime<Utc>) -> AuditEventRecord {
    AuditEventRecord {
        time,
        account: account(account_n),
        connector: Some(connector_id(1)),
        actor: Some("admin@example.com".to_owned()),
        client_ip: Some("203.0.113.77".to_owned()),
        acl: "DevJobs".to_owned(),
        method: "put".to_owned(),
        allowed: Some(true),
        succeeded: Some(true),
        area: "Backup/Restore".to_owned(),
        category: AuditCategory::Recovery,
        message: format!("Restore {n} started"),
        metadata: vec![("job".to_owned(), format!("j{n}"))],
    }
}

pub(crate) async fn integration(store: &Store) -> IntegrationId {
    integration_with_key(store, &MasterKey::from_bytes([7; 32])).await
}

pub(crate) async fn integration_with_key(store: &Store, key: &MasterKey) -> IntegrationId {
    store
        .create_integration(
            &NewIntegration {
                name: "Keepit EU".to_owned(),
                region: Some("dk-co".to_owned()),
                base_url: None,
                parent_account: AccountId::new("parent-000000-111111").unwrap(),
                credentials: KeepitCredentials {
                    username: Some("msp@example.com".to_owned()),
                    password: Some("hunter2".to_owned().into()),
                    ..KeepitCredentials::default()
                },
                enabled: true,
                settings: crate::IntegrationSettings::default(),
            },
            key,
            at(0),
        )
        .await
        .unwrap()
        .id
}
