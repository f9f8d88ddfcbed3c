//! The ticket lifecycle end to end: alerts evaluated over an in-memory store, tickets
//! filed in a fake ConnectWise PSA (wiremock, speaking its JSON).

use std::sync::Arc;

use keepit_domain::{AlertEvent, Health, HealthReason};
use keepit_psa::PsaCredentials;
use keepit_store::secrets::MasterKey;
use keepit_store::{
    DeliveryStatus, InboxQuery, NewPsaConnection, PsaSettings, PsaTicketState, Role,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tests::{commit, now, store_with_connector};
use super::*;
use crate::tickets::PsaSupport;

const BASE: &str = "/v4_6_release/apis/3.0";

fn settings() -> PsaSettings {
    PsaSettings {
        board: Some("12".into()),
        new_status: Some("1".into()),
        closed_status: Some("5".into()),
        priority_warning: Some("3".into()),
        priority_critical: Some("2".into()),
        reopen_days: 5,
        note_interval_minutes: 48 * 60,
        ..PsaSettings::default()
    }
}

/// A stale connector of Contoso (PSA company 777) and a ConnectWise connection.
async fn setup(server: &MockServer, settings: PsaSettings) -> (Store, AlertPass) {
    let store = store_with_connector(
        now() - Duration::hours(60),
        Health::Critical,
        Some(HealthReason::NoCheckIn),
    )
    .await;
    let imported = store
        .import_psa_companies(vec![("Contoso".into(), "777".into())], now())
        .await
        .unwrap();
    assert_eq!(
        imported.relinked, 1,
        "the Keepit account follows its PSA company"
    );
    let key = Arc::new(MasterKey::generate());
    let credentials = PsaCredentials::ConnectWise {
        company_id: "msp".into(),
        public_key: "public".into(),
        private_key: SecretString::from("private-key-value"),
        client_id: SecretString::from("client-id-value"),
    };
    store
        .create_psa_connection(
            &NewPsaConnection {
                name: "ConnectWise".into(),
                kind: "connectwise".into(),
                base_url: format!("{}{BASE}/", server.uri()),
                credentials: credentials.to_json(),
                settings,
                enabled: true,
            },
            &key,
            now(),
        )
        .await
        .unwrap();
    let pass =
        AlertPass::default().with_psa(PsaSupport::new(key, Some("https://watch.example/".into())));
    (store, pass)
}

fn ticket(id: u64, closed: bool, status: u64) -> Value {
    json!({"id": id, "summary": "x", "closedFlag": closed, "status": {"id": status, "name": "s"}})
}

/// The PSA's state of ticket 501, and everything else it answers.
async fn psa(server: &MockServer, open_found: Value, state: Value) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/service/tickets")))
        .respond_with(ResponseTemplate::new(200).set_body_json(open_found))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE}/service/tickets")))
        .respond_with(ResponseTemplate::new(201).set_body_json(ticket(501, false, 1)))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{BASE}/service/tickets/501")))
        .respond_with(ResponseTemplate::new(200).set_body_json(state))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE}/service/tickets/501/notes")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{BASE}/service/tickets/501")))
        .respond_with(ResponseTemplate::new(200).set_body_json(ticket(501, false, 1)))
        .mount(server)
        .await;
}

/// The requests the PSA received, as `METHOD path` with their JSON bodies.
async fn calls(server: &MockServer) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|request| {
            let line = format!(
                "{} {}",
                request.method,
                request.url.path().trim_start_matches(BASE)
            );
            let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            (line, body)
        })
        .collect()
}

fn count(calls: &[(String, Value)], line: &str) -> usize {
    calls.iter().filter(|(call, _)| call == line).count()
}

async fn ticket_history(store: &Store) -> Vec<String> {
    let mut notes = Vec::new();
    for alert in store
        .alerts(&AlertFilter {
            include_resolved: true,
            ..AlertFilter::default()
        })
        .await
        .unwrap()
    {
        for transition in store.alert_transitions(alert.id).await.unwrap() {
            if transition.transition.event == AlertEvent::Ticket {
                notes.push(transition.transition.note.unwrap_or_default());
            }
        }
    }
    notes
}

#[tokio::test]
async fn a_ticket_is_opened_noted_closed_reopened_and_left_alone_once_a_technician_closes_it() {
    let server = MockServer::start().await;
    let (store, pass) = setup(&server, settings()).await;

    // Fires: one ticket, under the customer's PSA company, stamped with the key.
    psa(&server, json!([]), ticket(501, false, 1)).await;
    pass.run(&store, &[], now()).await.unwrap();
    let seen = calls(&server).await;
    assert_eq!(count(&seen, "POST /service/tickets"), 1, "{seen:?}");
    let (_, body) = seen
        .iter()
        .find(|(call, _)| call == "POST /service/tickets")
        .unwrap();
    let alert = store
        .alerts(&AlertFilter::default())
        .await
        .unwrap()
        .remove(0);
    let key = format!("kw-{}-{}", alert.rule.0, alert.connector);
    assert_eq!(body["externalXRef"], key.as_str());
    assert_eq!(body["company"]["id"], 777);
    assert_eq!(body["board"]["id"], 12);
    assert_eq!(body["status"]["id"], 1);
    assert_eq!(body["priority"]["id"], 2, "critical");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .ends_with(&format!("[{key}]")),
        "{body}"
    );
    assert!(
        body["initialDescription"]
            .as_str()
            .unwrap()
            .contains("https://watch.example/alerts"),
        "{body}"
    );
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(
        (tickets[0].ticket.as_str(), tickets[0].state),
        ("501", PsaTicketState::Open)
    );

    // The same pass again: nothing new happens in the PSA.
    psa(&server, json!([]), ticket(501, false, 1)).await;
    pass.run(&store, &[], now() + Duration::minutes(15))
        .await
        .unwrap();
    assert!(
        calls(&server).await.is_empty(),
        "{:?}",
        calls(&server).await
    );

    // A reminder a day later notes the ticket; the next one, inside the 48 h note
    // interval, does not.
    pass.run(&store, &[], now() + Duration::hours(25))
        .await
        .unwrap();
    pass.run(&store, &[], now() + Duration::hours(50))
        .await
        .unwrap();
    let seen = calls(&server).await;
    assert_eq!(
        count(&seen, "POST /service/tickets/501/notes"),
        1,
        "{seen:?}"
    );
    assert_eq!(count(&seen, "POST /service/tickets"), 0, "{seen:?}");

    // Backups return: a resolution note and, as nobody touched it, the closed status.
    psa(&server, json!([]), ticket(501, false, 1)).await;
    commit(&store, now() + Duration::hours(51), Health::Healthy, None).await;
    pass.run(&store, &[], now() + Duration::hours(51))
        .await
        .unwrap();
    let seen = calls(&server).await;
    let note = seen
        .iter()
        .find(|(call, _)| call == "POST /service/tickets/501/notes")
        .map(|(_, body)| body.clone())
        .expect("a resolution note");
    assert_eq!(note["resolutionFlag"], true);
    let patch = seen
        .iter()
        .find(|(call, _)| call == "PATCH /service/tickets/501")
        .map(|(_, body)| body.clone())
        .expect("the ticket is closed");
    assert_eq!(patch[0]["value"]["id"], 5, "{patch}");
    assert_eq!(
        store.psa_tickets(None, 10).await.unwrap()[0].state,
        PsaTicketState::Closed
    );

    // It fails again two days later, inside the 5-day reopen window: the closed
    // ticket is reopened, no second ticket.
    psa(&server, json!([]), ticket(501, true, 5)).await;
    commit(
        &store,
        now() + Duration::hours(51),
        Health::Critical,
        Some(HealthReason::NoCheckIn),
    )
    .await;
    pass.run(&store, &[], now() + Duration::hours(111))
        .await
        .unwrap();
    let seen = calls(&server).await;
    assert_eq!(count(&seen, "POST /service/tickets"), 0, "{seen:?}");
    let reopen = seen
        .iter()
        .find(|(call, _)| call == "PATCH /service/tickets/501")
        .map(|(_, body)| body.clone())
        .expect("reopened");
    assert_eq!(reopen[0]["value"]["id"], 1, "{reopen}");
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].state, PsaTicketState::Open);

    // A technician closes it: the next reminder notices, leaves it alone, and the
    // resolution later adds nothing.
    psa(&server, json!([]), ticket(501, true, 5)).await;
    pass.run(&store, &[], now() + Duration::hours(136))
        .await
        .unwrap();
    commit(&store, now() + Duration::hours(137), Health::Healthy, None).await;
    pass.run(&store, &[], now() + Duration::hours(137))
        .await
        .unwrap();
    let seen = calls(&server).await;
    assert_eq!(
        count(&seen, "POST /service/tickets/501/notes"),
        0,
        "{seen:?}"
    );
    assert_eq!(count(&seen, "PATCH /service/tickets/501"), 0, "{seen:?}");
    assert_eq!(
        store.psa_tickets(None, 10).await.unwrap()[0].state,
        PsaTicketState::LeftAlone
    );

    // The alerts' histories tell the story.
    let history = ticket_history(&store).await;
    for expected in ["opened", "closed in", "reopened", "left alone"] {
        assert!(
            history.iter().any(|note| note.contains(expected)),
            "{expected}: {history:?}"
        );
    }
}

#[tokio::test]
async fn a_ticket_created_before_a_crash_is_adopted_not_duplicated() {
    let server = MockServer::start().await;
    let (store, pass) = setup(&server, settings()).await;
    // The PSA already holds an open ticket carrying our key (created, then the
    // process died before storing it).
    psa(
        &server,
        json!([ticket(501, false, 1)]),
        ticket(501, false, 1),
    )
    .await;
    pass.run(&store, &[], now()).await.unwrap();
    let seen = calls(&server).await;
    assert_eq!(count(&seen, "POST /service/tickets"), 0, "{seen:?}");
    assert_eq!(count(&seen, "GET /service/tickets"), 1, "{seen:?}");
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].ticket, "501");
}

#[tokio::test]
async fn a_psa_that_refuses_falls_back_to_email_and_one_that_is_down_is_retried_later() {
    let server = MockServer::start().await;
    let (store, pass) = setup(&server, settings()).await;
    let pass = AlertPass {
        notifiers: Notifiers {
            email: Some(
                EmailChannel::from_url(
                    &SecretString::from("smtp://127.0.0.1:9"),
                    "watch@msp.example",
                )
                .unwrap(),
            ),
            ..Notifiers::default()
        },
        ..pass
    };
    // Down: 503 on every call. The ticket delivery waits for a retry; nothing is lost.
    Mock::given(path_regex(".*"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&server)
        .await;
    pass.run(&store, &[], now()).await.unwrap();
    let admin = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|user| user.role == Role::Admin)
        .unwrap();
    let notice = store
        .inbox(admin.id, &InboxQuery::default())
        .await
        .unwrap()
        .remove(0)
        .message;
    let psa_delivery = |deliveries: &[keepit_store::DeliveryRecord]| {
        deliveries
            .iter()
            .find(|delivery| delivery.channel == "psa")
            .cloned()
            .unwrap()
    };
    let deliveries = store.deliveries_of(notice.id).await.unwrap();
    let waiting = psa_delivery(&deliveries);
    assert_eq!(waiting.status, DeliveryStatus::Pending, "{waiting:?}");
    assert!(waiting.next_attempt_at.is_some());
    assert!(ticket_history(&store).await.is_empty());

    // Refused for good (a 400): the notice goes to the administrators by e-mail and
    // the alert says so.
    server.reset().await;
    Mock::given(path_regex(".*"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"code": "InvalidObject", "message": "company is inactive"})),
        )
        .mount(&server)
        .await;
    pass.run(&store, &[], now() + Duration::hours(3))
        .await
        .unwrap();
    let deliveries = store.deliveries_of(notice.id).await.unwrap();
    let given_up = psa_delivery(&deliveries);
    assert_eq!(given_up.status, DeliveryStatus::Failed, "{given_up:?}");
    assert!(
        given_up
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("company is inactive")),
        "{given_up:?}"
    );
    assert!(
        deliveries
            .iter()
            .any(|delivery| delivery.channel == "email" && delivery.target == admin.email),
        "{deliveries:?}"
    );
    let history = ticket_history(&store).await;
    assert!(
        history
            .iter()
            .any(|note| note.contains("could not be filed") && note.contains("e-mail")),
        "{history:?}"
    );
    // No credential reached the error or the history.
    for text in history.iter().chain(given_up.last_error.iter()) {
        assert!(!text.contains("private-key-value") && !text.contains("client-id-value"));
    }
}
