//! Alerts across passes against a fleet that changes between them: remedy-aware
//! paging, recovery, customers leaving the tree, accounts that fail to load, disabled
//! integrations, and notices delivered through the recorded queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepit_alerts::notify::{DeliveryRetry, WebhookChannel, WebhookFormat};
use keepit_alerts::{AlertPass, Notifiers};
use keepit_domain::{
    AccountId, Alert, AlertState, ConnectorId, Health, HealthReason, JobStatus, MessageKind,
    MessagePreference, ReasonCode, RuleKind, Severity, UserId,
};
use keepit_ingest::{Shutdown, SyncReport, sync_once};
use keepit_mock::{Faults, JobOutcome};
use keepit_store::{AlertFilter, InboxQuery, NewUser, Role, Store, SyncOutcome};

use crate::support::{Harness, backends, finish, small_spec};

/// How far the fleet's clock moves between passes: a sync interval.
const INTERVAL: Duration = Duration::from_secs(30 * 60);

async fn pass(harness: &Harness, store: &Store, hook: &AlertPass) -> SyncReport {
    harness.fleet.advance_clock(INTERVAL);
    sync_once(
        store,
        &harness.integration,
        &harness.config,
        hook,
        &Shutdown::never(),
    )
    .await
    .expect("sync pass")
}

async fn admin(store: &Store, harness: &Harness) -> UserId {
    store
        .create_user(
            &NewUser {
                email: "noc@msp.example".into(),
                name: "NOC".into(),
                role: Role::Admin,
                primary_admin: true,
                message_preference: MessagePreference::Default,
            },
            harness.fleet.now(),
        )
        .await
        .expect("user")
        .id
}

async fn open_alerts(store: &Store) -> Vec<Alert> {
    store.alerts(&AlertFilter::default()).await.expect("alerts")
}

async fn failed_alert_of(store: &Store, connector: &ConnectorId) -> Option<Alert> {
    let rules = store.alert_rules().await.expect("rules");
    let failed = rules
        .iter()
        .find(|record| record.rule.spec.kind == RuleKind::BackupFailed)
        .expect("the failed rule")
        .rule
        .id;
    open_alerts(store)
        .await
        .into_iter()
        .find(|alert| alert.rule == failed && &alert.connector == connector)
}

/// A connector with no open alert after the first pass: the quiet one the tests break.
async fn quiet_connector(store: &Store) -> ConnectorId {
    let open = open_alerts(store).await;
    let watched = store
        .connectors_with_status(&keepit_store::ConnectorFilter {
            watched_only: true,
            ..Default::default()
        })
        .await
        .expect("connectors");
    watched
        .into_iter()
        .filter(|(connector, status)| {
            let record = &connector.record;
            record.accessible
                && record.deletion_deadline.is_none()
                && status
                    .as_ref()
                    .is_some_and(|status| status.status.health == Health::Healthy)
                && !open.iter().any(|alert| alert.connector == record.connector)
        })
        .map(|(connector, _)| connector.record.connector)
        .next()
        .expect("the fleet has a healthy connector")
}

fn aborted() -> JobOutcome {
    JobOutcome::backup(JobStatus::Unsuccessful).with_reason(ReasonCode::JobAborted)
}

/// The alert notices in a user's inbox about one connector, oldest first.
async fn notices_about(store: &Store, user: UserId, connector: &ConnectorId) -> Vec<MessageKind> {
    let query = InboxQuery {
        limit: Some(500),
        ..Default::default()
    };
    let mut kinds: Vec<MessageKind> = store
        .inbox(user, &query)
        .await
        .expect("inbox")
        .into_iter()
        .filter(|item| item.message.connector.as_ref() == Some(connector))
        .map(|item| item.message.kind)
        .filter(|kind| kind.as_str().starts_with("alert_"))
        .collect();
    kinds.reverse();
    kinds
}

#[tokio::test]
async fn a_rescheduled_failure_waits_pages_when_it_repeats_and_resolves_by_itself() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(21), &store).await;
        let noc = admin(&store, &harness).await;
        let hook = AlertPass::default();
        pass(&harness, &store, &hook).await;
        let connector = quiet_connector(&store).await;
        use MessageKind::{AlertEscalated, AlertOpened, AlertResolved};

        // One aborted backup: Keepit schedules another, so nobody is paged.
        harness.fleet.push_job(&connector, aborted()).expect("job");
        pass(&harness, &store, &hook).await;
        let alert = failed_alert_of(&store, &connector)
            .await
            .expect("a pending alert");
        assert_eq!(
            (alert.state, alert.severity),
            (AlertState::Pending, Severity::Warning),
            "{backend}"
        );
        assert_eq!(
            notices_about(&store, noc, &connector).await,
            [AlertOpened],
            "{backend}: the warning reached the inbox"
        );

        // The second in a row still waits; the third pages.
        harness.fleet.push_job(&connector, aborted()).expect("job");
        pass(&harness, &store, &hook).await;
        let alert = failed_alert_of(&store, &connector)
            .await
            .expect("still open");
        assert_eq!(alert.state, AlertState::Pending, "{backend}");
        harness.fleet.push_job(&connector, aborted()).expect("job");
        pass(&harness, &store, &hook).await;
        let paged = failed_alert_of(&store, &connector)
            .await
            .expect("still open");
        assert_eq!(
            (paged.state, paged.severity),
            (AlertState::Firing, Severity::Critical),
            "{backend}"
        );
        assert_eq!(paged.id, alert.id, "{backend}: the same alert escalated");
        assert_eq!(
            notices_about(&store, noc, &connector).await,
            [AlertOpened, AlertEscalated],
            "{backend}"
        );
        let history = store.alert_transitions(paged.id).await.expect("history");
        let escalation = history
            .iter()
            .find(|t| t.transition.to == AlertState::Firing)
            .expect("the escalation is in the history");
        assert!(
            escalation
                .transition
                .note
                .as_deref()
                .unwrap_or_default()
                .contains("3 times in a row"),
            "{backend}: {:?}",
            escalation.transition.note
        );

        // A successful backup: the alert resolves by itself and people hear of it.
        harness
            .fleet
            .push_job(&connector, JobOutcome::backup(JobStatus::Successful))
            .expect("job");
        pass(&harness, &store, &hook).await;
        assert!(
            failed_alert_of(&store, &connector).await.is_none(),
            "{backend}"
        );
        assert_eq!(
            notices_about(&store, noc, &connector).await,
            [AlertOpened, AlertEscalated, AlertResolved],
            "{backend}"
        );
        finish(store).await;
    }
}

#[tokio::test]
async fn a_sign_in_failure_pages_at_once() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(22), &store).await;
        let hook = AlertPass::default();
        pass(&harness, &store, &hook).await;
        let connector = quiet_connector(&store).await;
        // The customer changed the service account's password: Keepit rates the
        // connector critical for a bad login and its next backup fails to sign in.
        harness
            .fleet
            .set_connector_health(&connector, Health::Critical, HealthReason::BadLogin)
            .expect("health");
        harness
            .fleet
            .set_connector_error_code(&connector, Some("E_LOGIN"))
            .expect("error code");
        harness
            .fleet
            // A job that ran makes the sync read health and error codes again; it
            // succeeded, so only the error state can raise the alert.
            .push_job(&connector, JobOutcome::backup(JobStatus::Successful))
            .expect("job");
        pass(&harness, &store, &hook).await;
        let alert = failed_alert_of(&store, &connector).await.expect("paged");
        assert_eq!(
            (alert.state, alert.severity),
            (AlertState::Firing, Severity::Critical),
            "{backend}"
        );
        let history = store.alert_transitions(alert.id).await.expect("history");
        let note = history[0].transition.note.clone().unwrap_or_default();
        assert!(note.contains("error state"), "{backend}: {note}");
        harness
            .fleet
            .set_connector_health(&connector, Health::Healthy, HealthReason::Ok)
            .expect("health");
        harness
            .fleet
            .set_connector_error_code(&connector, None)
            .expect("cleared");
        harness
            .fleet
            .push_job(&connector, JobOutcome::backup(JobStatus::Successful))
            .expect("job");
        pass(&harness, &store, &hook).await;
        assert!(
            failed_alert_of(&store, &connector).await.is_none(),
            "{backend}: recovered"
        );
        finish(store).await;
    }
}

/// The customer account with the most open alerts after a pass.
async fn account_with_alerts(store: &Store) -> (AccountId, usize) {
    let open = open_alerts(store).await;
    let mut counts: Vec<(AccountId, usize)> = Vec::new();
    for alert in &open {
        match counts
            .iter_mut()
            .find(|(account, _)| *account == alert.account)
        {
            Some((_, n)) => *n += 1,
            None => counts.push((alert.account.clone(), 1)),
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
        .into_iter()
        .next()
        .expect("the fleet fails somewhere on purpose")
}

#[tokio::test]
async fn a_customer_that_leaves_resolves_one_that_fails_to_load_does_not() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(23), &store).await;
        let hook = AlertPass::default();
        pass(&harness, &store, &hook).await;
        let (account, alerts) = account_with_alerts(&store).await;
        let of_account =
            |open: Vec<Alert>| open.into_iter().filter(|a| a.account == account).count();

        // Its answers break for a pass: it failed to load, it did not leave.
        harness
            .mock
            .set_faults(Faults::none().with_html_for(account.clone()));
        let report = pass(&harness, &store, &hook).await;
        harness.mock.clear_faults();
        assert_eq!(report.outcome, SyncOutcome::Partial, "{backend}");
        assert_eq!(
            of_account(open_alerts(&store).await),
            alerts,
            "{backend}: nothing resolved"
        );
        let record = store
            .keepit_account(&account)
            .await
            .expect("read")
            .expect("stored");
        assert!(record.removed_at.is_none(), "{backend}");

        // It moves to another partner: gone from the tree, its alerts resolve.
        harness.fleet.move_account_out(&account).expect("moved");
        let report = pass(&harness, &store, &hook).await;
        assert_eq!(report.outcome, SyncOutcome::Ok, "{backend}");
        assert_eq!(of_account(open_alerts(&store).await), 0, "{backend}");
        let record = store
            .keepit_account(&account)
            .await
            .expect("read")
            .expect("kept");
        assert!(
            record.removed_at.is_some(),
            "{backend}: marked removed, data kept"
        );
        let resolved = store
            .alerts(&AlertFilter {
                include_resolved: true,
                ..Default::default()
            })
            .await
            .expect("alerts")
            .into_iter()
            .find(|a| a.account == account)
            .expect("a resolved alert");
        let history = store.alert_transitions(resolved.id).await.expect("history");
        assert_eq!(
            history
                .last()
                .and_then(|t| t.transition.note.clone())
                .as_deref(),
            Some("the customer account left the MSP's Keepit tree"),
            "{backend}"
        );

        // It comes back: watched again, its alerts open again.
        harness.fleet.move_account_back(&account).expect("back");
        pass(&harness, &store, &hook).await;
        let record = store
            .keepit_account(&account)
            .await
            .expect("read")
            .expect("kept");
        assert!(record.removed_at.is_none(), "{backend}");
        assert!(of_account(open_alerts(&store).await) > 0, "{backend}");
        finish(store).await;
    }
}

#[tokio::test]
async fn disabling_an_integration_resolves_its_alerts_and_enabling_brings_them_back() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(24), &store).await;
        let hook = AlertPass::default();
        pass(&harness, &store, &hook).await;
        let before = open_alerts(&store).await.len();
        assert!(before > 0, "{backend}");
        let id = harness.integration.id;
        store
            .set_integration_enabled(id, false, harness.fleet.now())
            .await
            .expect("disabled");
        assert!(open_alerts(&store).await.is_empty(), "{backend}");
        // Its connectors are no longer evaluated, even if a pass runs.
        pass(&harness, &store, &hook).await;
        assert!(open_alerts(&store).await.is_empty(), "{backend}");
        store
            .set_integration_enabled(id, true, harness.fleet.now())
            .await
            .expect("enabled");
        pass(&harness, &store, &hook).await;
        assert!(
            !open_alerts(&store).await.is_empty(),
            "{backend}: evaluated again"
        );
        finish(store).await;
    }
}

/// A webhook endpoint that can be taken down; it keeps what it received and counts
/// what it refused.
#[derive(Clone, Default)]
struct Endpoint {
    down: Arc<AtomicBool>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl wiremock::Respond for Endpoint {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return wiremock::ResponseTemplate::new(503);
        }
        let body = serde_json::from_slice(&request.body).expect("JSON body");
        self.received.lock().expect("lock").push(body);
        wiremock::ResponseTemplate::new(204)
    }
}

#[tokio::test]
async fn notices_survive_a_webhook_outage_and_arrive_once_in_order() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(25), &store).await;
        admin(&store, &harness).await;
        let server = wiremock::MockServer::start().await;
        let endpoint = Endpoint::default();
        endpoint.down.store(true, Ordering::SeqCst);
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(endpoint.clone())
            .mount(&server)
            .await;
        let hook = AlertPass::new(Notifiers {
            email: None,
            webhook: Some(
                WebhookChannel::new(
                    format!("{}/hook", server.uri()).into(),
                    WebhookFormat::Generic,
                )
                .expect("webhook"),
            ),
            retry: DeliveryRetry {
                attempts: 1,
                first_pause: Duration::ZERO,
            },
        });

        // Two passes with the endpoint down: notices are stored and wait.
        let first = pass(&harness, &store, &hook).await;
        assert!(
            first.errors.iter().any(|e| e.error.contains("stay queued")),
            "{backend}: {:?}",
            first.errors
        );
        pass(&harness, &store, &hook).await;
        // Only the oldest notice was tried, once per pass: the others wait behind it.
        assert_eq!(endpoint.refused.load(Ordering::SeqCst), 2, "{backend}");

        // Up again: everything queued arrives, once each, in the order it was queued.
        endpoint.down.store(false, Ordering::SeqCst);
        pass(&harness, &store, &hook).await;
        let received: Vec<String> = endpoint
            .received
            .lock()
            .expect("lock")
            .iter()
            .map(|body| body["subject"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut queued = Vec::new();
        let mut head_attempts = Vec::new();
        for item in store
            .inbox(
                store.users().await.expect("users")[0].id,
                &InboxQuery {
                    limit: Some(500),
                    ..Default::default()
                },
            )
            .await
            .expect("inbox")
            .into_iter()
            .rev()
        {
            for delivery in store
                .deliveries_of(item.message.id)
                .await
                .expect("deliveries")
            {
                if head_attempts.is_empty() {
                    head_attempts = store
                        .delivery_attempts(delivery.id)
                        .await
                        .expect("attempts");
                }
                assert_eq!(
                    delivery.status,
                    keepit_store::DeliveryStatus::Delivered,
                    "{backend}"
                );
                queued.push(item.message.subject.clone());
            }
        }
        assert!(
            queued.len() > 3,
            "{backend}: the fleet opens several alerts"
        );
        assert_eq!(received, queued, "{backend}: once each, in order");
        // The first notice was tried at each pass: two failures, then delivered.
        let outcomes: Vec<bool> = head_attempts
            .iter()
            .map(|(_, error)| error.is_none())
            .collect();
        assert_eq!(
            outcomes,
            [false, false, true],
            "{backend}: {head_attempts:?}"
        );
        finish(store).await;
    }
}
