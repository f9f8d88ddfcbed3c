//! The ticket lifecycle end to end: alerts evaluated over an in-memory store, tickets
//! filed in fakes of ConnectWise PSA, Autotask and HaloPSA (wiremock, speaking their JSON).

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
use crate::tickets::{Clients, PsaSupport};

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

/// How one PSA's fake answers, and how its requests read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fake {
    ConnectWise,
    Autotask,
    Halo,
}

impl Fake {
    const ALL: [Fake; 3] = [Fake::ConnectWise, Fake::Autotask, Fake::Halo];

    fn root(self) -> &'static str {
        match self {
            Fake::ConnectWise => "/v4_6_release/apis/3.0",
            Fake::Autotask => "/atservicesrest/v1.0",
            Fake::Halo => "/api",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Fake::ConnectWise => "connectwise",
            Fake::Autotask => "autotask",
            Fake::Halo => "halopsa",
        }
    }

    fn base_url(self, server: &MockServer) -> String {
        match self {
            Fake::Halo => server.uri(),
            _ => format!("{}{}/", server.uri(), self.root()),
        }
    }

    fn credentials(self) -> PsaCredentials {
        match self {
            Fake::ConnectWise => PsaCredentials::ConnectWise {
                company_id: "msp".into(),
                public_key: "public".into(),
                private_key: SecretString::from("private-key-value"),
                client_id: SecretString::from("client-id-value"),
            },
            Fake::Autotask => PsaCredentials::Autotask {
                username: "api@msp.example".into(),
                secret: SecretString::from("private-key-value"),
                integration_code: SecretString::from("client-id-value"),
            },
            Fake::Halo => PsaCredentials::Halo {
                client_id: "keepit-watch".into(),
                client_secret: SecretString::from("private-key-value"),
                tenant: None,
            },
        }
    }

    /// Ticket 501 as the PSA shows it: open in status 1, or closed (status 5).
    fn ticket(self, closed: bool) -> Value {
        let status = if closed { 5 } else { 1 };
        match self {
            Fake::ConnectWise => {
                json!({"id": 501, "summary": "x", "closedFlag": closed, "status": {"id": status, "name": "s"}})
            }
            Fake::Autotask => {
                json!({"item": {"id": 501, "title": "x", "status": status, "assignedResourceID": null}})
            }
            Fake::Halo => {
                json!({"id": 501, "summary": "x", "hasbeenclosed": closed, "status_id": status, "agent_id": 0})
            }
        }
    }

    /// The PSA's answers: `found` is whether an open ticket carries our key already,
    /// `closed` how ticket 501 stands now, and `next` the id a new ticket gets.
    async fn mount(self, server: &MockServer, found: bool, closed: bool, next: u64) {
        server.reset().await;
        let root = self.root();
        let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
        if self == Fake::Halo {
            Mock::given(method("POST"))
                .and(path("/auth/token"))
                .respond_with(ok(
                    json!({"access_token": "t", "token_type": "Bearer", "expires_in": 3600}),
                ))
                .mount(server)
                .await;
        }
        let existing = json!({"id": 501, "summary": "x [kw]", "title": "x [kw]"});
        let (find_method, find_path, found_body) = match self {
            Fake::ConnectWise => (
                "GET",
                "/service/tickets",
                json!(if found { vec![existing] } else { vec![] }),
            ),
            Fake::Autotask => (
                "POST",
                "/Tickets/query",
                json!({"items": if found { vec![existing] } else { vec![] }, "pageDetails": {"count": 0, "nextPageUrl": null}}),
            ),
            Fake::Halo => (
                "GET",
                "/Tickets",
                json!({"record_count": 0, "tickets": if found { vec![existing] } else { vec![] }}),
            ),
        };
        // Halo finds tickets by their summary, which carries the key: answer with it.
        let found_body = if self == Fake::Halo && found {
            json!({"record_count": 1, "tickets": [{"id": 501, "summary": "x"}]})
        } else {
            found_body
        };
        Mock::given(method(find_method))
            .and(path(format!("{root}{find_path}")))
            .respond_with(ok(found_body))
            .mount(server)
            .await;
        let created = match self {
            Fake::ConnectWise => json!({"id": next}),
            Fake::Autotask => json!({"itemId": next}),
            Fake::Halo => json!([{"id": next}]),
        };
        let create_path = match self {
            Fake::ConnectWise => "/service/tickets",
            _ => "/Tickets",
        };
        Mock::given(method("POST"))
            .and(path(format!("{root}{create_path}")))
            .respond_with(ResponseTemplate::new(201).set_body_json(created))
            .mount(server)
            .await;
        let ticket_path = match self {
            Fake::ConnectWise => "/service/tickets/501",
            _ => "/Tickets/501",
        };
        Mock::given(method("GET"))
            .and(path(format!("{root}{ticket_path}")))
            .respond_with(ok(self.ticket(closed)))
            .mount(server)
            .await;
        let (note_path, note_answer) = match self {
            Fake::ConnectWise => ("/service/tickets/501/notes".to_owned(), json!({"id": 1})),
            Fake::Autotask => ("/Tickets/501/Notes".to_owned(), json!({"itemId": 1})),
            Fake::Halo => ("/Actions".to_owned(), json!([{"id": 1}])),
        };
        Mock::given(method("POST"))
            .and(path(format!("{root}{note_path}")))
            .respond_with(ResponseTemplate::new(201).set_body_json(note_answer))
            .mount(server)
            .await;
        let patch_path = match self {
            Fake::ConnectWise => "/service/tickets/501",
            _ => "/Tickets",
        };
        Mock::given(method("PATCH"))
            .and(path(format!("{root}{patch_path}")))
            .respond_with(ok(json!({"id": 501, "itemId": 501})))
            .mount(server)
            .await;
    }

    /// What a request was, in the lifecycle's terms.
    fn read(self, line: &str, body: &Value) -> Option<Call> {
        let (method, path) = line.split_once(' ')?;
        let path = path.trim_start_matches(self.root());
        match (self, method, path) {
            (Fake::ConnectWise, "POST", "/service/tickets") => Some(Call::Create(body.clone())),
            (Fake::ConnectWise, "POST", "/service/tickets/501/notes") => {
                Some(Call::Note(body["resolutionFlag"] == true))
            }
            (Fake::ConnectWise, "PATCH", "/service/tickets/501") => {
                Some(Call::Status(body[0]["value"]["id"].as_u64()?))
            }
            (Fake::Autotask, "POST", "/Tickets") => Some(Call::Create(body.clone())),
            (Fake::Autotask, "POST", "/Tickets/501/Notes") => Some(Call::Note(
                body["Title"]
                    .as_str()
                    .is_some_and(|title| title.contains("resolved")),
            )),
            (Fake::Autotask, "PATCH", "/Tickets") => Some(Call::Status(body["status"].as_u64()?)),
            (Fake::Halo, "POST", "/Tickets") if body[0].get("summary").is_some() => {
                Some(Call::Create(body[0].clone()))
            }
            (Fake::Halo, "POST", "/Tickets") => Some(Call::Status(body[0]["status_id"].as_u64()?)),
            (Fake::Halo, "POST", "/Actions") => Some(Call::Note(
                body[0]["note"]
                    .as_str()
                    .is_some_and(|note| note.starts_with("Resolved")),
            )),
            _ => None,
        }
    }
}

/// A ticket action, whichever PSA it went to.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Create(Value),
    /// A note; `true` for a resolution note.
    Note(bool),
    Status(u64),
}

async fn actions(fake: Fake, server: &MockServer) -> Vec<Call> {
    calls(server)
        .await
        .iter()
        .filter_map(|(line, body)| fake.read(line, body))
        .collect()
}

fn creates(calls: &[Call]) -> Vec<&Value> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Create(body) => Some(body),
            _ => None,
        })
        .collect()
}

fn notes(calls: &[Call]) -> Vec<bool> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Note(resolution) => Some(*resolution),
            _ => None,
        })
        .collect()
}

fn statuses(calls: &[Call]) -> Vec<u64> {
    calls
        .iter()
        .filter_map(|call| match call {
            Call::Status(status) => Some(*status),
            _ => None,
        })
        .collect()
}

/// A stale connector of Contoso (PSA company 777) and a connection to `fake`.
async fn setup(fake: Fake, server: &MockServer, settings: PsaSettings) -> (Store, AlertPass) {
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
    store
        .create_psa_connection(
            &NewPsaConnection {
                name: fake.kind().to_owned(),
                kind: fake.kind().to_owned(),
                base_url: fake.base_url(server),
                credentials: fake.credentials().to_json(),
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

#[tokio::test]
async fn each_psa_follows_the_whole_ticket_lifecycle() {
    for fake in Fake::ALL {
        lifecycle(fake).await;
    }
}

async fn lifecycle(fake: Fake) {
    let server = MockServer::start().await;
    let (store, pass) = setup(fake, &server, settings()).await;
    let hours = |h: i64| now() + Duration::hours(h);

    // Fires: one ticket, under the customer's PSA company, stamped with the key.
    fake.mount(&server, false, false, 501).await;
    pass.run(&store, &[], now()).await.unwrap();
    let done = actions(fake, &server).await;
    let created = creates(&done);
    assert_eq!(created.len(), 1, "{fake:?}: {done:?}");
    let alert = store
        .alerts(&AlertFilter::default())
        .await
        .unwrap()
        .remove(0);
    let key = format!("kw-{}-{}", alert.rule.0, alert.connector);
    let body = created[0].to_string();
    assert!(body.contains(&format!("[{key}]")), "{fake:?}: {body}");
    assert!(
        body.contains("777"),
        "{fake:?}: the customer's company: {body}"
    );
    assert!(
        body.contains("https://watch.example/alerts"),
        "{fake:?}: {body}"
    );
    if fake == Fake::ConnectWise {
        assert_eq!(created[0]["externalXRef"], key.as_str());
        assert_eq!(created[0]["priority"]["id"], 2, "critical");
    }
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(
        (tickets.len(), tickets[0].ticket.as_str(), tickets[0].state),
        (1, "501", PsaTicketState::Open),
        "{fake:?}"
    );

    // The same pass again: nothing new in the PSA.
    fake.mount(&server, false, false, 502).await;
    pass.run(&store, &[], now() + Duration::minutes(15))
        .await
        .unwrap();
    assert!(actions(fake, &server).await.is_empty(), "{fake:?}");

    // A reminder a day later notes the ticket; the next one, inside the 48 h note
    // interval, does not.
    pass.run(&store, &[], hours(25)).await.unwrap();
    pass.run(&store, &[], hours(50)).await.unwrap();
    let done = actions(fake, &server).await;
    assert_eq!(notes(&done), vec![false], "{fake:?}: {done:?}");
    assert!(creates(&done).is_empty(), "{fake:?}");

    // Backups return: a resolution note and, as nobody touched it, the closed status.
    fake.mount(&server, false, false, 502).await;
    commit(&store, hours(51), Health::Healthy, None).await;
    pass.run(&store, &[], hours(51)).await.unwrap();
    let done = actions(fake, &server).await;
    assert_eq!(notes(&done), vec![true], "{fake:?}: {done:?}");
    assert_eq!(statuses(&done), vec![5], "{fake:?}: {done:?}");
    assert_eq!(
        store.psa_tickets(None, 10).await.unwrap()[0].state,
        PsaTicketState::Closed
    );

    // It fails again inside the 5-day reopen window: the closed ticket is reopened.
    fake.mount(&server, false, true, 502).await;
    commit(
        &store,
        hours(51),
        Health::Critical,
        Some(HealthReason::NoCheckIn),
    )
    .await;
    pass.run(&store, &[], hours(111)).await.unwrap();
    let done = actions(fake, &server).await;
    assert!(creates(&done).is_empty(), "{fake:?}: {done:?}");
    assert_eq!(statuses(&done), vec![1], "{fake:?}: reopened: {done:?}");
    assert_eq!(notes(&done), vec![false], "{fake:?}: {done:?}");
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(
        (tickets.len(), tickets[0].state),
        (1, PsaTicketState::Open),
        "{fake:?}"
    );

    // A technician closes it: the next reminder notices and leaves it alone, and the
    // resolution later adds nothing.
    fake.mount(&server, false, true, 502).await;
    pass.run(&store, &[], hours(136)).await.unwrap();
    commit(&store, hours(137), Health::Healthy, None).await;
    pass.run(&store, &[], hours(137)).await.unwrap();
    let done = actions(fake, &server).await;
    assert!(done.is_empty(), "{fake:?}: {done:?}");
    assert_eq!(
        store.psa_tickets(None, 10).await.unwrap()[0].state,
        PsaTicketState::LeftAlone,
        "{fake:?}"
    );

    // Long after the window, it fails again: a new ticket.
    fake.mount(&server, false, true, 502).await;
    commit(
        &store,
        hours(137),
        Health::Critical,
        Some(HealthReason::NoCheckIn),
    )
    .await;
    pass.run(&store, &[], hours(400)).await.unwrap();
    let done = actions(fake, &server).await;
    assert_eq!(creates(&done).len(), 1, "{fake:?}: {done:?}");
    let tickets = store.psa_tickets(None, 10).await.unwrap();
    assert_eq!(tickets.len(), 2, "{fake:?}");
    assert!(
        tickets
            .iter()
            .any(|ticket| ticket.ticket == "502" && ticket.state == PsaTicketState::Open)
    );

    // The alerts' histories tell the story.
    let history = ticket_history(&store).await;
    for expected in ["opened", "closed in", "reopened", "left alone"] {
        assert!(
            history.iter().any(|note| note.contains(expected)),
            "{fake:?}: {expected}: {history:?}"
        );
    }
}

#[tokio::test]
async fn a_ticket_created_before_a_crash_is_adopted_not_duplicated() {
    let server = MockServer::start().await;
    let (store, pass) = setup(Fake::ConnectWise, &server, settings()).await;
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
    let (store, pass) = setup(Fake::ConnectWise, &server, settings()).await;
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

#[tokio::test]
async fn a_ticket_closes_when_its_alert_resolves_during_a_silence() {
    let server = MockServer::start().await;
    let fake = Fake::ConnectWise;
    let (store, pass) = setup(fake, &server, settings()).await;
    fake.mount(&server, false, false, 501).await;
    pass.run(&store, &[], now()).await.unwrap();
    assert_eq!(creates(&actions(fake, &server).await).len(), 1);
    // Someone silences the alert for a day; the backups recover meanwhile. People hear
    // nothing (they asked for quiet), but the ticket must not stay open for good.
    let alert = store
        .alerts(&AlertFilter::default())
        .await
        .unwrap()
        .remove(0);
    store
        .silence_alert(alert.id, Some(now() + Duration::hours(24)), None, now())
        .await
        .unwrap();
    fake.mount(&server, false, false, 502).await;
    commit(&store, now() + Duration::hours(2), Health::Healthy, None).await;
    pass.run(&store, &[], now() + Duration::hours(2))
        .await
        .unwrap();
    let done = actions(fake, &server).await;
    assert_eq!(notes(&done), vec![true], "{done:?}");
    assert_eq!(statuses(&done), vec![5], "{done:?}");
    assert_eq!(
        store.psa_tickets(None, 10).await.unwrap()[0].state,
        PsaTicketState::Closed
    );
}

#[tokio::test]
async fn credentials_that_do_not_unseal_are_a_refusal_and_a_lost_database_is_waited_for() {
    let server = MockServer::start().await;
    let (store, _) = setup(Fake::ConnectWise, &server, settings()).await;
    let connection = store.psa_connections().await.unwrap()[0].id;

    // Another master key: trying again would not help.
    let other = PsaSupport::new(Arc::new(MasterKey::generate()), None);
    let failure = Clients::new(&other)
        .get(&store, connection)
        .await
        .expect_err("the credentials do not unseal");
    assert!(!failure.transient, "{}", failure.message);
    assert!(
        failure.message.contains("credentials"),
        "{}",
        failure.message
    );

    // A database that does not answer: the delivery is tried again later.
    store.clone().close().await.unwrap();
    let failure = Clients::new(&other)
        .get(&store, connection)
        .await
        .expect_err("the database is gone");
    assert!(failure.transient, "{}", failure.message);
}
