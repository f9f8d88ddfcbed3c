//! The adapter over an in-memory store: open, keep, resolve, and messages stored once.

use chrono::TimeZone;
use keepit_domain::{
    AccountId, AlertEvent, ConnectorKind, Health, HealthReason, MessagePreference,
};
use keepit_store::{
    AccountSyncBatch, ConnectorRecord, ConnectorStatusRecord, IntegrationId, KeepitAccountSighting,
    NewUser, Role, StoreConfig,
};

use super::*;
use crate::message::ConnectorRef;

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn account() -> AccountId {
    AccountId::new("cust01-aaaaaa-aaaaaa").unwrap()
}

fn connector() -> ConnectorId {
    ConnectorId::new("conn01-aaaaaa-aaaaaa").unwrap()
}

pub(super) async fn store_with_connector(
    last_success: DateTime<Utc>,
    health: Health,
    reason: Option<HealthReason>,
) -> Store {
    let store = Store::connect_and_migrate(&StoreConfig::in_memory())
        .await
        .unwrap();
    let integration = store
        .create_integration(
            &keepit_store::NewIntegration {
                name: "test".into(),
                region: Some("us-dc".into()),
                base_url: None,
                parent_account: AccountId::new("parent-aaaaaa-aaaaaa").unwrap(),
                credentials: keepit_store::KeepitCredentials::default(),
                enabled: true,
                settings: keepit_store::IntegrationSettings::default(),
            },
            &keepit_store::secrets::MasterKey::generate(),
            now(),
        )
        .await
        .unwrap();
    let sighting = KeepitAccountSighting {
        integration: integration.id,
        account: account(),
        parent: None,
        company_name: "Contoso".into(),
        seen_at: now(),
    };
    store.sync_customer(&sighting).await.unwrap();
    let _: IntegrationId = integration.id;
    commit(&store, last_success, health, reason).await;
    store
        .create_user(
            &NewUser {
                email: "admin@msp.example".into(),
                name: "Admin".into(),
                role: Role::Admin,
                primary_admin: true,
                message_preference: MessagePreference::Default,
            },
            now(),
        )
        .await
        .unwrap();
    store
}

pub(super) async fn commit(
    store: &Store,
    last_success: DateTime<Utc>,
    health: Health,
    reason: Option<HealthReason>,
) {
    let batch = AccountSyncBatch {
        account: account(),
        connectors: vec![ConnectorRecord {
            connector: connector(),
            account: account(),
            name: "Contoso Microsoft 365".into(),
            kind: ConnectorKind::Microsoft365,
            created: Some(now() - Duration::days(100)),
            accessible: true,
            deletion_deadline: None,
            backup_retention: None,
        }],
        connectors_complete: true,
        statuses: vec![ConnectorStatusRecord {
            connector: connector(),
            latest_snapshot_at: Some(last_success),
            latest_snapshot_kind: None,
            latest_snapshot_size: None,
            last_successful_backup_at: Some(last_success),
            last_job_status: None,
            last_attempt_at: Some(last_success),
            health,
            health_reason: reason,
            error_code: None,
            failure_reason: None,
            checked_at: now(),
        }],
        jobs: Vec::new(),
        audit_events: Vec::new(),
        cursors: Vec::new(),
        now: now(),
    };
    store.commit_account_sync(&batch).await.unwrap();
}

#[tokio::test]
async fn a_stale_connector_opens_one_alert_that_resolves_when_backups_return() {
    let store = store_with_connector(
        now() - Duration::hours(60),
        Health::Critical,
        Some(HealthReason::NoCheckIn),
    )
    .await;
    let pass = AlertPass::default();
    let first = pass.run(&store, &[], now()).await.unwrap();
    assert_eq!(first.opened, 1, "{first:?}");
    let open = store.alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, AlertState::Firing);
    assert_eq!(open[0].last_success_at, Some(now() - Duration::hours(60)));
    assert!(
        open[0].last_notified_at.is_some(),
        "in-app only: counts as told"
    );

    let again = pass.run(&store, &[], now()).await.unwrap();
    assert_eq!(
        again,
        AlertPassSummary::default(),
        "nothing new on a second pass"
    );

    commit(&store, now() - Duration::hours(1), Health::Healthy, None).await;
    let cleared = pass.run(&store, &[], now()).await.unwrap();
    assert_eq!(cleared.resolved, 1);
    assert!(
        store
            .alerts(&AlertFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let history = store
        .alerts(&AlertFilter {
            include_resolved: true,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    let transitions = store.alert_transitions(history[0].id).await.unwrap();
    let events: Vec<_> = transitions
        .iter()
        .map(|t| (t.transition.event, t.transition.from, t.transition.to))
        .collect();
    assert_eq!(
        events,
        vec![
            (AlertEvent::StateChanged, None, AlertState::Firing),
            (
                AlertEvent::Reminded,
                Some(AlertState::Firing),
                AlertState::Firing
            ),
            (
                AlertEvent::StateChanged,
                Some(AlertState::Firing),
                AlertState::Resolved
            ),
        ],
        "opened, notified, resolved"
    );
}

#[tokio::test]
async fn messages_are_stored_once_for_their_recipients() {
    let store = store_with_connector(now() - Duration::hours(1), Health::Healthy, None).await;
    let change = ChangeEvent::ConnectorAdded {
        connector: ConnectorRef {
            customer: Some(CustomerId(1)),
            customer_name: "Contoso".into(),
            account: account(),
            connector: connector(),
            connector_name: "Contoso Microsoft 365".into(),
            kind: ConnectorKind::Microsoft365,
        },
    };
    let pass = AlertPass::default();
    assert_eq!(
        pass.run(&store, std::slice::from_ref(&change), now())
            .await
            .unwrap()
            .messages,
        1
    );
    assert_eq!(
        pass.run(&store, &[change], now()).await.unwrap().messages,
        0,
        "the same change is not stored twice"
    );
    let admin = store
        .user_by_email("admin@msp.example")
        .await
        .unwrap()
        .unwrap();
    let inbox = store
        .inbox(admin.id, &keepit_store::InboxQuery::default())
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
}
