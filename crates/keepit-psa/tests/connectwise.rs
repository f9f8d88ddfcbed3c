//! The ConnectWise PSA client against a mock of its REST API.

use std::time::Duration;

use base64::Engine as _;
use keepit_psa::{
    AnyPsa, Error, NewTicket, Note, Psa, PsaConfig, PsaCredentials, RetryPolicy, TicketState,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROOT: &str = "/v4_6_release/apis/3.0";
const PRIVATE_KEY: &str = "private-key-s3cret";
const CLIENT_ID: &str = "client-id-s3cret";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn config(server: &MockServer) -> PsaConfig {
    let credentials = PsaCredentials::ConnectWise {
        company_id: "acme".into(),
        public_key: "public".into(),
        private_key: SecretString::from(PRIVATE_KEY),
        client_id: SecretString::from(CLIENT_ID),
    };
    // No trailing slash: the client adds it.
    let mut config = PsaConfig::new(format!("{}{ROOT}", server.uri()), credentials);
    config.retry = fast_retries();
    config
}

fn client(server: &MockServer) -> AnyPsa {
    AnyPsa::connect(config(server)).unwrap()
}

fn basic() -> String {
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("acme+public:{PRIVATE_KEY}"));
    format!("Basic {token}")
}

fn at(rest: &str) -> String {
    format!("{ROOT}/{rest}")
}

fn ticket() -> NewTicket {
    NewTicket {
        key: "kw-7-3-stale".into(),
        company: "42".into(),
        summary: "Backup of Acme's Microsoft 365 is stale".into(),
        body: "No backup since Monday.\nConnector: M365".into(),
        board: Some("1".into()),
        status: Some("16".into()),
        priority: Some("8".into()),
    }
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|request| serde_json::from_slice(&request.body).ok())
        .collect()
}

#[tokio::test]
async fn companies_are_read_across_pages_with_the_api_headers() {
    let server = MockServer::start().await;
    let first: Vec<Value> = (1..=1000)
        .map(|id| json!({"id": id, "name": format!("Company {id}")}))
        .collect();
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .and(query_param("page", "1"))
        .and(query_param("pageSize", "1000"))
        .and(query_param("conditions", "deletedFlag=false"))
        .and(query_param("fields", "id,name"))
        .and(header("authorization", basic().as_str()))
        .and(header("clientId", CLIENT_ID))
        .and(header(
            "accept",
            "application/vnd.connectwise.com+json; version=2019.1",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(first).insert_header(
            "link",
            "<https://x/company/companies?page=2>; rel=\"next\", <https://x/company/companies?page=2>; rel=\"last\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "1001", "name": "Acme"},
            {"id": 1002, "name": null},
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let companies = client(&server).companies().await.unwrap();
    assert_eq!(companies.len(), 1002);
    assert_eq!(companies[0].id, "1");
    assert_eq!(companies[1000].name, "Acme");
    assert_eq!(companies[1001].name, "1002");
}

#[tokio::test]
async fn a_full_page_without_a_next_link_ends_the_import() {
    let server = MockServer::start().await;
    let first: Vec<Value> = (1..=1000)
        .map(|id| json!({"id": id, "name": "x"}))
        .collect();
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(first)
                .insert_header(
                    "link",
                    "<https://x/company/companies?page=1>; rel=\"first\"",
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client(&server).companies().await.unwrap().len(), 1000);
}

#[tokio::test]
async fn picklists_name_boards_statuses_and_priorities() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("service/boards")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "name": "NOC"}])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/boards/1/statuses")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 16, "name": "New", "closedStatus": false},
            {"id": 17, "name": "Closed", "closedStatus": true},
            {"id": 18, "name": "Old", "closedStatus": false, "inactive": true},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/priorities")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 8, "name": "P2"}])))
        .mount(&server)
        .await;

    let lists = client(&server).picklists().await.unwrap();
    let fields: Vec<&str> = lists.iter().map(|list| list.field).collect();
    assert_eq!(fields, ["board", "status", "priority"]);
    assert_eq!(lists[0].entries[0].name, "NOC");
    assert_eq!(lists[1].entries.len(), 2);
    assert_eq!(lists[1].entries[0].name, "NOC: New");
    assert_eq!(lists[1].entries[0].closes, Some(false));
    assert_eq!(lists[1].entries[1].closes, Some(true));
    assert_eq!(lists[2].entries[0].id, "8");
}

#[tokio::test]
async fn create_ticket_stamps_the_key_and_sends_the_ids() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("service/tickets")))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5150, "summary": "x"})))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server).create_ticket(&ticket()).await.unwrap();
    assert_eq!(created.id, "5150");
    let body = &bodies(&server).await[0];
    assert_eq!(body["externalXRef"], "kw-7-3-stale");
    assert_eq!(
        body["summary"],
        "Backup of Acme's Microsoft 365 is stale [kw-7-3-stale]"
    );
    assert_eq!(body["company"], json!({"id": 42}));
    assert_eq!(body["board"], json!({"id": 1}));
    assert_eq!(body["status"], json!({"id": 16}));
    assert_eq!(body["priority"], json!({"id": 8}));
    assert_eq!(body["recordType"], "ServiceTicket");
    assert_eq!(
        body["initialDescription"],
        "No backup since Monday. | Connector: M365"
    );
}

#[tokio::test]
async fn notes_and_status_changes_are_sent_as_documented() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("service/tickets/5150/notes")))
        .and(body_json(json!({
            "text": "Backups resumed.",
            "detailDescriptionFlag": true,
            "internalAnalysisFlag": false,
            "resolutionFlag": true,
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(at("service/tickets/5150")))
        .and(body_json(json!([
            {"op": "replace", "path": "status", "value": {"id": 17}}
        ])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 5150})))
        .expect(1)
        .mount(&server)
        .await;

    let psa = client(&server);
    let note = Note {
        text: "Backups resumed.".into(),
        resolution: true,
    };
    psa.add_note("5150", &note).await.unwrap();
    psa.set_status("5150", "17").await.unwrap();
    assert!(matches!(
        psa.set_status("../5150", "17").await,
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn ticket_state_reads_open_closed_and_deleted_tickets() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "closedFlag": false, "status": {"id": 16, "name": "New"},
            "owner": null, "resources": ""
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/2")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 2, "closedFlag": true, "status": {"id": 17},
            "owner": {"id": 3, "identifier": "jdoe"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/3")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 3, "closedFlag": false, "status": {"id": 16}, "resources": "jdoe"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/4")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": "NotFound", "message": "Ticket 4 not found"
        })))
        .mount(&server)
        .await;

    let psa = client(&server);
    assert_eq!(
        psa.ticket_state("1").await.unwrap(),
        Some(TicketState {
            closed: false,
            status: Some("16".into()),
            assigned: false
        })
    );
    assert_eq!(
        psa.ticket_state("2").await.unwrap(),
        Some(TicketState {
            closed: true,
            status: Some("17".into()),
            assigned: true
        })
    );
    assert!(psa.ticket_state("3").await.unwrap().unwrap().assigned);
    assert_eq!(psa.ticket_state("4").await.unwrap(), None);
}

#[tokio::test]
async fn find_open_ticket_searches_the_external_reference() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets")))
        .and(query_param(
            "conditions",
            "closedFlag=false and company/id=42 and externalXRef=\"kw-7-3-stale\"",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 5150}])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets")))
        .and(query_param(
            "conditions",
            "closedFlag=false and company/id=42 and externalXRef=\"kw-none\"",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;

    let psa = client(&server);
    let found = psa.find_open_ticket("kw-7-3-stale", "42").await.unwrap();
    assert_eq!(found.map(|ticket| ticket.id), Some("5150".into()));
    assert_eq!(psa.find_open_ticket("kw-none", "42").await.unwrap(), None);
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": "ConnectWiseAPI", "message": "Too many requests."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "name": "Acme"}])))
        .mount(&server)
        .await;

    let started = std::time::Instant::now();
    let companies = client(&server).companies().await.unwrap();
    assert_eq!(companies.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/1")))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 1, "closedFlag": false})),
        )
        .mount(&server)
        .await;

    let state = client(&server).ticket_state("1").await.unwrap().unwrap();
    assert!(!state.closed);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_5xx_on_create_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("service/tickets")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "code": "UnexpectedServerError", "message": "An unexpected server error has occurred"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).create_ticket(&ticket()).await.unwrap_err();
    match error {
        Error::Server { status, message } => {
            assert_eq!(status, 500);
            assert!(message.contains("unexpected server error"), "{message}");
        }
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": "Unauthorized", "message": "Authentication failed."
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).test().await.unwrap_err();
    match &error {
        Error::Unauthorized { message } => assert!(message.contains("Authentication failed")),
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(PRIVATE_KEY) && !shown.contains(CLIENT_ID));
}

#[tokio::test]
async fn the_sign_in_test_reads_one_company() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("company/companies")))
        .and(query_param("pageSize", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "name": "Acme"}])))
        .expect(1)
        .mount(&server)
        .await;
    let line = client(&server).test().await.unwrap();
    assert!(
        line.contains("ConnectWise PSA") && line.contains("acme"),
        "{line}"
    );
}

#[tokio::test]
async fn the_hourly_budget_refuses_the_third_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("service/tickets/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(2)
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.hourly_budget = 2;
    let psa = AnyPsa::connect(config).unwrap();
    psa.ticket_state("1").await.unwrap();
    psa.ticket_state("1").await.unwrap();
    assert!(matches!(
        psa.ticket_state("1").await,
        Err(Error::BudgetSpent { budget: 2 })
    ));
}

#[tokio::test]
async fn debug_output_shows_no_secret() {
    let server = MockServer::start().await;
    let psa = client(&server);
    let shown = format!("{psa:?}");
    let token = basic();
    let token = token.trim_start_matches("Basic ");
    assert!(!shown.contains(PRIVATE_KEY), "{shown}");
    assert!(!shown.contains(CLIENT_ID), "{shown}");
    assert!(!shown.contains(token), "{shown}");
}
