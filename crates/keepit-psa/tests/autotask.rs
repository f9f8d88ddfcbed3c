//! The Autotask client against a mock of its REST API.

use std::time::Duration;

use keepit_psa::{
    AnyPsa, Error, NewTicket, Note, Psa, PsaConfig, PsaCredentials, RetryPolicy, TicketState,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROOT: &str = "/atservicesrest/v1.0";
const USERNAME: &str = "api@acme.example";
const SECRET: &str = "secret-s3cret";
const CODE: &str = "INTEGRATIONCODES3CRET";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn config_at(base_url: String) -> PsaConfig {
    let credentials = PsaCredentials::Autotask {
        username: USERNAME.into(),
        secret: SecretString::from(SECRET),
        integration_code: SecretString::from(CODE),
    };
    let mut config = PsaConfig::new(base_url, credentials);
    config.retry = fast_retries();
    config
}

fn config(server: &MockServer) -> PsaConfig {
    config_at(format!("{}{ROOT}/", server.uri()))
}

fn client(server: &MockServer) -> AnyPsa {
    AnyPsa::connect(config(server)).unwrap()
}

fn at(rest: &str) -> String {
    format!("{ROOT}/{rest}")
}

fn signed(mock: wiremock::MockBuilder) -> wiremock::MockBuilder {
    mock.and(header("ApiIntegrationCode", CODE))
        .and(header("UserName", USERNAME))
        .and(header("Secret", SECRET))
        .and(header("content-type", "application/json"))
}

fn ticket() -> NewTicket {
    NewTicket {
        key: "kw-7-3-stale".into(),
        company: "42".into(),
        summary: "Backup of Acme's Microsoft 365 is stale".into(),
        body: "No backup since Monday.\nConnector: M365".into(),
        board: Some("29683354".into()),
        status: Some("1".into()),
        priority: Some("2".into()),
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
async fn the_zone_is_discovered_once_and_pages_follow_next_page_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("zoneInformation")))
        .and(query_param("user", USERNAME))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "zoneName": "Test zone",
            "url": format!("{}/atservicesrest/", server.uri()),
            "webUrl": "https://ww5.autotask.net/",
            "ci": 5
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(at("Companies/query")))
        .and(body_json(json!({
            "IncludeFields": ["id", "companyName", "isActive"],
            "filter": [{"op": "eq", "field": "isActive", "value": true}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [
                {"id": 1, "companyName": "Acme", "isActive": true},
                {"id": 2, "companyName": "Globex", "isActive": true}
            ],
            "pageDetails": {
                "count": 2, "requestCount": 500, "prevPageUrl": null,
                "nextPageUrl": format!("{}{ROOT}/Companies/query/next?paging=abc", server.uri())
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    signed(
        Mock::given(method("GET"))
            .and(path(at("Companies/query/next")))
            .and(query_param("paging", "abc")),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "items": [{"id": "3", "companyName": "Initech", "isActive": true}],
        "pageDetails": {"count": 1, "requestCount": 500, "nextPageUrl": null}
    })))
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("PATCH"))
        .and(path(at("Tickets")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 9})))
        .expect(1)
        .mount(&server)
        .await;

    let lookup = format!("zone:{}{ROOT}/zoneInformation", server.uri());
    let psa = AnyPsa::connect(config_at(lookup)).unwrap();
    let companies = psa.companies().await.unwrap();
    let names: Vec<&str> = companies
        .iter()
        .map(|company| company.name.as_str())
        .collect();
    assert_eq!(names, ["Acme", "Globex", "Initech"]);
    assert_eq!(companies[2].id, "3");
    // The zone is kept: no second lookup.
    psa.set_status("9", "5").await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let lookup = requests
        .iter()
        .find(|request| request.url.path().ends_with("zoneInformation"))
        .unwrap();
    assert!(lookup.headers.get("Secret").is_none());
    assert!(lookup.headers.get("ApiIntegrationCode").is_none());
    let first_page = requests
        .iter()
        .find(|request| request.url.path().ends_with("Companies/query"))
        .unwrap();
    assert_eq!(first_page.headers.get("Secret").unwrap(), SECRET);
}

#[tokio::test]
async fn a_next_page_elsewhere_gets_no_credentials() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("Companies/query")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 1, "companyName": "Acme"}],
            "pageDetails": {"nextPageUrl": format!("{}{ROOT}/Companies/query/next", elsewhere.uri())}
        })))
        .mount(&server)
        .await;

    let error = client(&server).companies().await.unwrap_err();
    assert!(matches!(error, Error::Unexpected { .. }), "{error:?}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn picklists_come_from_the_ticket_fields() {
    let server = MockServer::start().await;
    signed(Mock::given(method("GET")).and(path(at("Tickets/entityInformation/fields"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "fields": [
                {"name": "queueID", "isPickList": true, "picklistValues": [
                    {"value": "29683354", "label": "Monitoring Alert", "isActive": true},
                    {"value": "29683355", "label": "Retired", "isActive": false}
                ]},
                {"name": "status", "isPickList": true, "picklistValues": [
                    {"value": "1", "label": "New", "isActive": true},
                    {"value": "5", "label": "Complete", "isActive": true}
                ]},
                {"name": "priority", "isPickList": true, "picklistValues": [
                    {"value": 2, "label": "Medium", "isActive": true}
                ]},
                {"name": "title", "isPickList": false, "picklistValues": null}
            ]
        })))
        .mount(&server)
        .await;

    let lists = client(&server).picklists().await.unwrap();
    let fields: Vec<&str> = lists.iter().map(|list| list.field).collect();
    assert_eq!(fields, ["board", "status", "priority"]);
    assert_eq!(lists[0].entries.len(), 1);
    assert_eq!(lists[0].entries[0].name, "Monitoring Alert");
    assert_eq!(lists[1].entries[0].closes, None);
    assert_eq!(lists[1].entries[1].closes, Some(true));
    assert_eq!(lists[2].entries[0].id, "2");
}

#[tokio::test]
async fn create_ticket_sends_the_company_queue_status_and_priority() {
    let server = MockServer::start().await;
    signed(Mock::given(method("POST")).and(path(at("Tickets"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 7865})))
        .expect(1)
        .mount(&server)
        .await;

    let created = client(&server).create_ticket(&ticket()).await.unwrap();
    assert_eq!(created.id, "7865");
    let body = &bodies(&server).await[0];
    assert_eq!(body["companyID"], 42);
    assert_eq!(
        body["title"],
        "Backup of Acme's Microsoft 365 is stale [kw-7-3-stale]"
    );
    assert_eq!(body["queueID"], 29_683_354);
    assert_eq!(body["status"], 1);
    assert_eq!(body["priority"], 2);
    assert_eq!(
        body["description"],
        "No backup since Monday.\nConnector: M365"
    );
}

#[tokio::test]
async fn a_validation_error_in_a_500_is_a_refusal_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("Tickets")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "errors": ["Value is required for field: QueueID."]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).create_ticket(&ticket()).await.unwrap_err();
    match error {
        Error::Refused { status, message } => {
            assert_eq!(status, 500);
            assert_eq!(message, "Value is required for field: QueueID.");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_5xx_on_create_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("Tickets")))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).create_ticket(&ticket()).await.unwrap_err();
    assert!(
        matches!(error, Error::Server { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn notes_and_status_changes_are_sent_as_documented() {
    let server = MockServer::start().await;
    signed(Mock::given(method("POST")).and(path(at("Tickets/7865/Notes"))))
        .and(body_json(json!({
            "TicketID": 7865,
            "Title": "keepit-watch",
            "Description": "Still failing.",
            "NoteType": 1,
            "Publish": 1
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 1})))
        .expect(1)
        .mount(&server)
        .await;
    signed(Mock::given(method("PATCH")).and(path(at("Tickets"))))
        .and(body_json(json!({"id": 7865, "status": 5})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 7865})))
        .expect(1)
        .mount(&server)
        .await;

    let psa = client(&server);
    let note = Note {
        text: "Still failing.".into(),
        resolution: false,
    };
    psa.add_note("7865", &note).await.unwrap();
    psa.set_status("7865", "5").await.unwrap();
}

#[tokio::test]
async fn ticket_state_reads_open_closed_and_deleted_tickets() {
    let server = MockServer::start().await;
    for (id, item) in [
        (
            "1",
            json!({"id": 1, "status": 1, "assignedResourceID": null}),
        ),
        (
            "2",
            json!({"id": 2, "status": 5, "assignedResourceID": 29682885}),
        ),
        ("3", Value::Null),
    ] {
        Mock::given(method("GET"))
            .and(path(at(&format!("Tickets/{id}"))))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"item": item})))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(at("Tickets/4")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": ["Not found"]})))
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
            status: Some("5".into()),
            assigned: true
        })
    );
    assert_eq!(psa.ticket_state("3").await.unwrap(), None);
    assert_eq!(psa.ticket_state("4").await.unwrap(), None);
}

#[tokio::test]
async fn find_open_ticket_filters_by_company_status_and_key() {
    let server = MockServer::start().await;
    signed(Mock::given(method("POST")).and(path(at("Tickets/query"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [
                {"id": 10, "title": "Something else mentioning kw-7-3-stale"},
                {"id": 11, "title": "Backup stale [kw-7-3-stale]"}
            ],
            "pageDetails": {"count": 2, "nextPageUrl": null}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let found = client(&server)
        .find_open_ticket("kw-7-3-stale", "42")
        .await
        .unwrap();
    assert_eq!(found.map(|ticket| ticket.id), Some("11".into()));
    let body = &bodies(&server).await[0];
    let filter = body["filter"].as_array().unwrap();
    assert!(filter.contains(&json!({"op": "noteq", "field": "status", "value": 5})));
    assert!(filter.contains(&json!({"op": "eq", "field": "companyID", "value": 42})));
    assert!(
        filter.contains(&json!({"op": "contains", "field": "title", "value": "[kw-7-3-stale]"}))
    );
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("Tickets/1")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("Tickets/1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"item": {"id": 1, "status": 1}})),
        )
        .mount(&server)
        .await;

    let started = std::time::Instant::now();
    assert!(client(&server).ticket_state("1").await.unwrap().is_some());
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_5xx_on_a_read_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("Tickets/1")))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("Tickets/1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"item": {"id": 1, "status": 1}})),
        )
        .mount(&server)
        .await;

    assert!(client(&server).ticket_state("1").await.unwrap().is_some());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("Companies/query")))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server).test().await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(CODE));
}

#[tokio::test]
async fn an_unknown_user_name_is_unauthorized_at_zone_lookup() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("zoneInformation")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "errors": ["Zone information could not be determined"]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let lookup = format!("zone:{}{ROOT}/zoneInformation", server.uri());
    let error = AnyPsa::connect(config_at(lookup))
        .unwrap()
        .test()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
}

#[tokio::test]
async fn the_sign_in_test_names_the_user() {
    let server = MockServer::start().await;
    signed(Mock::given(method("POST")).and(path(at("Companies/query"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 0, "companyName": "Acme MSP"}],
            "pageDetails": {"count": 1, "nextPageUrl": null}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let line = client(&server).test().await.unwrap();
    assert!(
        line.contains("Autotask") && line.contains(USERNAME),
        "{line}"
    );
}

#[tokio::test]
async fn the_hourly_budget_refuses_the_third_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(at("Tickets/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"item": {"id": 1}})))
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
    let shown = format!("{:?}", client(&server));
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(CODE), "{shown}");
}
