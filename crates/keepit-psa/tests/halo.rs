//! The HaloPSA client against a mock of its API and its token endpoint.

use std::time::Duration;

use keepit_psa::{
    AnyPsa, Error, NewTicket, Note, Psa, PsaConfig, PsaCredentials, RetryPolicy, TicketState,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "keepit-watch-app";
const CLIENT_SECRET: &str = "client-secret-s3cret";
const TOKEN: &str = "token-one-s3cret";
const BEARER: &str = "Bearer token-one-s3cret";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn config(server: &MockServer) -> PsaConfig {
    let credentials = PsaCredentials::Halo {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET),
        tenant: Some("acme".into()),
    };
    let mut config = PsaConfig::new(server.uri(), credentials);
    config.retry = fast_retries();
    config
}

fn client(server: &MockServer) -> AnyPsa {
    AnyPsa::connect(config(server)).unwrap()
}

/// The token endpoint, answering `TOKEN`; expected to be called `times` times.
async fn token_endpoint(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .and(query_param("tenant", "acme"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}")))
        .and(body_string_contains(format!(
            "client_secret={CLIENT_SECRET}"
        )))
        .and(body_string_contains("scope=all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600
        })))
        .expect(times)
        .mount(server)
        .await;
}

fn ticket() -> NewTicket {
    NewTicket {
        key: "kw-7-3-stale".into(),
        company: "12".into(),
        summary: "Backup of Acme's Microsoft 365 is stale".into(),
        body: "No backup since Monday.\nConnector: M365".into(),
        board: Some("3".into()),
        status: Some("1".into()),
        priority: Some("2".into()),
    }
}

async fn api_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path().starts_with("/api/"))
        .filter_map(|request| serde_json::from_slice(&request.body).ok())
        .collect()
}

async fn api_requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path().starts_with("/api/"))
        .count()
}

#[tokio::test]
async fn clients_are_read_across_pages_with_one_token() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    let first: Vec<Value> = (1..=100)
        .map(|id| json!({"id": id, "name": format!("Client {id}")}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .and(header("authorization", BEARER))
        .and(query_param("pageinate", "true"))
        .and(query_param("page_size", "100"))
        .and(query_param("page_no", "1"))
        .and(query_param("includeinactive", "false"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"record_count": 102, "clients": first})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .and(header("authorization", BEARER))
        .and(query_param("page_no", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "record_count": 102,
            "clients": [
                {"id": "101", "name": "Acme"},
                {"id": 102, "name": "Gone", "inactive": true}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let companies = client(&server).companies().await.unwrap();
    assert_eq!(companies.len(), 101);
    assert_eq!(companies[100].name, "Acme");
    assert_eq!(companies[100].id, "101");
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/5"))
        .and(header("authorization", BEARER))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 5, "hasbeenclosed": false})),
        )
        .expect(3)
        .mount(&server)
        .await;

    let psa = client(&server);
    for _ in 0..3 {
        psa.ticket_state("5").await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn an_expired_token_is_replaced_and_the_call_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "old-token", "token_type": "Bearer", "expires_in": 3600
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "new-token", "token_type": "Bearer", "expires_in": "3600"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .and(header("authorization", "Bearer old-token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"Message": "Token expired"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .and(header("authorization", "Bearer new-token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 321, "summary": "x"})))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server).create_ticket(&ticket()).await.unwrap();
    assert_eq!(created.id, "321");
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_client", "error_description": "The client credentials are invalid"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).test().await.unwrap_err();
    match &error {
        Error::Unauthorized { message } => {
            assert_eq!(message, "The client credentials are invalid");
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert_eq!(api_requests(&server).await, 0);
}

#[tokio::test]
async fn a_token_the_api_keeps_refusing_is_unauthorized_after_one_renewal() {
    let server = MockServer::start().await;
    token_endpoint(&server, 2).await;
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;

    let error = client(&server).test().await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
}

#[tokio::test]
async fn create_ticket_posts_an_array_of_one() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .and(header("authorization", BEARER))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!([{"id": 4321}])))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server).create_ticket(&ticket()).await.unwrap();
    assert_eq!(created.id, "4321");
    let body = &api_bodies(&server).await[0];
    assert_eq!(
        body,
        &json!([{
            "client_id": 12,
            "summary": "Backup of Acme's Microsoft 365 is stale [kw-7-3-stale]",
            "details": "No backup since Monday.\nConnector: M365",
            "tickettype_id": 3,
            "status_id": 1,
            "priority_id": 2,
            "donotapplytemplateintheapi": true
        }])
    );
}

#[tokio::test]
async fn a_5xx_on_create_is_not_retried() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "ClassName": "System.Exception", "Message": "Something broke"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).create_ticket(&ticket()).await.unwrap_err();
    match error {
        Error::Server { status, message } => {
            assert_eq!(status, 500);
            assert_eq!(message, "Something broke");
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn notes_and_status_changes_are_sent_as_documented() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("POST"))
        .and(path("/api/Actions"))
        .and(body_json(json!([{
            "ticket_id": 4321,
            "note": "Still failing.",
            "outcome_id": 7,
            "hiddenfromuser": true
        }])))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/Tickets"))
        .and(body_json(json!([{"id": 4321, "status_id": 9}])))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 4321})))
        .expect(1)
        .mount(&server)
        .await;

    let psa = client(&server);
    let note = Note {
        text: "Still failing.".into(),
        resolution: false,
    };
    psa.add_note("4321", &note).await.unwrap();
    psa.set_status("4321", "9").await.unwrap();
}

#[tokio::test]
async fn ticket_state_reads_open_closed_and_deleted_tickets() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    for (id, ticket) in [
        (
            "1",
            json!({"id": 1, "hasbeenclosed": false, "status_id": 1, "agent_id": 0}),
        ),
        (
            "2",
            json!({"id": 2, "hasbeenclosed": true, "status_id": 9, "agent_id": 14}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/Tickets/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(ticket))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/Tickets/3"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"Message": "Ticket not found"})),
        )
        .mount(&server)
        .await;

    let psa = client(&server);
    assert_eq!(
        psa.ticket_state("1").await.unwrap(),
        Some(TicketState {
            closed: false,
            status: Some("1".into()),
            assigned: false
        })
    );
    assert_eq!(
        psa.ticket_state("2").await.unwrap(),
        Some(TicketState {
            closed: true,
            status: Some("9".into()),
            assigned: true
        })
    );
    assert_eq!(psa.ticket_state("3").await.unwrap(), None);
}

#[tokio::test]
async fn find_open_ticket_needs_the_key_in_the_summary() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets"))
        .and(query_param("client_id", "12"))
        .and(query_param("open_only", "true"))
        .and(query_param("search", "kw-7-3-stale"))
        .and(query_param("pageinate", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "record_count": 2,
            "tickets": [
                {"id": 40, "summary": "Mentions kw-7-3-stale loosely"},
                {"id": 41, "summary": "Backup stale [kw-7-3-stale]"}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let found = client(&server)
        .find_open_ticket("kw-7-3-stale", "12")
        .await
        .unwrap();
    assert_eq!(found.map(|ticket| ticket.id), Some("41".into()));
}

#[tokio::test]
async fn picklists_read_types_statuses_priorities_and_outcomes() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    for (resource, answer) in [
        (
            "TicketType",
            json!([{"id": 3, "name": "Alert"}, {"id": 4, "name": "Old", "inactive": true}]),
        ),
        (
            "Status",
            json!([{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}]),
        ),
        (
            "Priority",
            json!([
                {"priorityid": 2, "id": 20, "name": "Medium"},
                {"priorityid": 2, "id": 21, "name": "Medium"},
                {"priorityid": 1, "id": 10, "name": "High"}
            ]),
        ),
        (
            "Outcome",
            json!({"record_count": 1, "outcomes": [{"id": 7, "outcome": "Private Note"}]}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/{resource}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
    }

    let lists = client(&server).picklists().await.unwrap();
    let fields: Vec<&str> = lists.iter().map(|list| list.field).collect();
    assert_eq!(fields, ["board", "status", "priority", "outcome"]);
    assert_eq!(lists[0].entries.len(), 1);
    assert_eq!(lists[1].entries[0].closes, None);
    assert_eq!(lists[1].entries[1].closes, Some(true));
    let priorities: Vec<&str> = lists[2]
        .entries
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(priorities, ["2", "1"]);
    assert_eq!(lists[3].entries[0].name, "Private Note");
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("Rate Limit Reached - 300 Requests per rolling 5 minute window"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;

    let started = std::time::Instant::now();
    assert!(client(&server).ticket_state("1").await.unwrap().is_some());
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(api_requests(&server).await, 2);
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;

    assert!(client(&server).ticket_state("1").await.unwrap().is_some());
    assert_eq!(api_requests(&server).await, 2);
}

#[tokio::test]
async fn the_sign_in_test_names_the_application() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .and(query_param("page_size", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "record_count": 57, "clients": [{"id": 1, "name": "Acme"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let line = client(&server).test().await.unwrap();
    assert!(
        line.contains("HaloPSA") && line.contains(CLIENT_ID) && line.contains("57"),
        "{line}"
    );
}

#[tokio::test]
async fn the_hourly_budget_refuses_the_third_request() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.hourly_budget = 2;
    let psa = AnyPsa::connect(config).unwrap();
    // The sign-in is the first request, the read the second.
    psa.ticket_state("1").await.unwrap();
    assert!(matches!(
        psa.ticket_state("1").await,
        Err(Error::BudgetSpent { budget: 2 })
    ));
}

#[tokio::test]
async fn debug_output_shows_no_secret_or_token() {
    let server = MockServer::start().await;
    token_endpoint(&server, 1).await;
    Mock::given(method("GET"))
        .and(path("/api/Tickets/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let psa = client(&server);
    psa.ticket_state("1").await.unwrap();
    let shown = format!("{psa:?}");
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
}
