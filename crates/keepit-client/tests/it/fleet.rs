//! The client against keepit-mock's generated fleet: concurrency counted by the mock,
//! credentials checked like Keepit does, and audit paging over a real page sequence.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt as _;
use keepit_client::{AuditQuery, Credentials, Error, KeepitClient, RetryPolicy};
use keepit_mock::{Faults, Fleet, FleetSpec, MockKeepit};
use secrecy::SecretString;

async fn fleet() -> (MockKeepit, keepit_mock::FleetServer) {
    let fleet = Fleet::generate(&FleetSpec {
        accounts: 4,
        connectors_per_account: (3, 5),
        ..FleetSpec::default()
    })
    .unwrap();
    MockKeepit::start_with_fleet(fleet).await
}

fn client(mock: &MockKeepit, cap: usize) -> KeepitClient {
    KeepitClient::builder()
        .base_url(mock.uri())
        .credentials(Credentials::UserPassword {
            username: mock.credentials().username().to_owned(),
            password: mock.credentials().password().clone(),
        })
        .max_concurrency(cap)
        .retry(RetryPolicy {
            base_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_never_sees_more_requests_in_flight_than_the_cap() {
    let (mock, served) = fleet().await;
    mock.set_faults(Faults::seeded(1).with_latency(Duration::from_millis(30)));
    let truth = served.ground_truth();
    let cap = 3;
    let client = client(&mock, cap);
    let calls = truth
        .connectors
        .iter()
        .filter(|connector| connector.accessible)
        .take(15)
        .map(|connector| {
            let client = client.clone();
            let (account, id) = (connector.account.clone(), connector.id.clone());
            async move { client.connector_health(&account, &id).await }
        });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    let stats = mock.request_stats();
    assert_eq!(stats.total, 15);
    assert!(
        stats.max_in_flight <= cap,
        "never more than {cap} in flight: {stats:?}"
    );
    assert!(
        stats.max_in_flight > 1,
        "requests did run concurrently: {stats:?}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_after_one_request() {
    let (mock, _served) = fleet().await;
    let client = KeepitClient::builder()
        .base_url(mock.uri())
        .credentials(Credentials::UserPassword {
            username: mock.credentials().username().to_owned(),
            password: SecretString::from("wrong"),
        })
        .build()
        .unwrap();
    assert!(matches!(
        client.test_connection().await,
        Err(Error::Unauthorized { .. })
    ));
    assert_eq!(mock.request_count(), 1, "a refused login is not retried");
}

#[tokio::test]
async fn the_api_token_pair_of_the_mock_is_accepted_and_wins() {
    let (mock, served) = fleet().await;
    let token = mock
        .credentials()
        .api_token()
        .expect("the default mock accepts an API token")
        .clone();
    let credentials = Credentials::choose(
        Some("someone@else.example".into()),
        Some(SecretString::from("not checked")),
        Some(SecretString::from(token.login().to_owned())),
        Some(token.password().clone()),
    )
    .unwrap();
    let client = KeepitClient::builder()
        .base_url(mock.uri())
        .credentials(credentials)
        .build()
        .unwrap();
    assert_eq!(client.whoami().await.unwrap(), served.parent());
    assert_eq!(
        mock.usernames("GET /users/"),
        vec![token.login().to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_audit_log_yields_every_record_exactly_once() {
    let (mock, served) = fleet().await;
    let truth = served.ground_truth();
    let account = truth.customers().next().unwrap().id.clone();
    let expected: Vec<_> = truth
        .audit_events
        .iter()
        .filter(|event| event.account == account)
        .collect();
    assert!(expected.len() > 20, "enough records for several pages");
    let client = client(&mock, 4);
    let from = truth.now - chrono::TimeDelta::days(30);
    let records: Vec<_> = client
        .audit_log(
            AuditQuery::between(account, from, truth.now + chrono::TimeDelta::seconds(1)),
            7,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(records.len(), expected.len());
    let keys: HashSet<_> = records
        .iter()
        .map(|record| (record.time, record.message.clone(), record.actor.clone()))
        .collect();
    assert_eq!(keys.len(), records.len(), "no record twice");
    assert!(
        mock.request_count_for("PUT /audit/filter/pretty") >= expected.len() / 7,
        "several pages were read"
    );
}
