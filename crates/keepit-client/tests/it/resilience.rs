//! Retries, rate limits, timeouts and the concurrency cap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keepit_client::{Credentials, Error, KeepitClient, RetryPolicy};
use secrecy::SecretString;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{
    TOKEN_LOGIN, TOKEN_PASSWORD, account, builder, connector, fast_retries, fixture, setup,
    user_credentials,
};

#[tokio::test]
async fn a_503_then_success_is_retried() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("devices", "single.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let connectors = client.connectors(&account(), false).await.unwrap();
    assert_eq!(connectors.len(), 1);
    assert_eq!(client.requests_sent(), 3);
    assert_eq!(
        client.requests_by_status(),
        [("200".to_owned(), 1), ("503".to_owned(), 2)].into(),
        "every attempt is counted by its answer"
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502).set_body_string(fixture("errors", "server-error.xml")),
        )
        .expect(3)
        .mount(&server)
        .await;
    match client.connectors(&account(), false).await.unwrap_err() {
        Error::Api {
            status: 502, code, ..
        } => assert_eq!(code.as_deref(), Some("INTERNAL")),
        other => panic!("expected the last 502, got {other:?}"),
    }
}

#[tokio::test]
async fn a_429_waits_at_least_retry_after() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("devices", "empty.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    client.connectors(&account(), false).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_persistent_429_is_reported_with_its_retry_after() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    // One hour is beyond the policy's patience: give up at once and say how long Keepit asked for.
    match client.connectors(&account(), false).await.unwrap_err() {
        Error::RateLimited { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_forbidden_and_not_found_are_not_retried() {
    for (status, check) in [
        (401u16, "unauthorized"),
        (403, "forbidden"),
        (404, "not found"),
    ] {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string(fixture("errors", "unauthorized.txt")),
            )
            .expect(1)
            .mount(&server)
            .await;
        let error = client.account(&account()).await.unwrap_err();
        let matched = matches!(
            (&error, status),
            (Error::Unauthorized { .. }, 401)
                | (Error::Forbidden { .. }, 403)
                | (Error::NotFound { .. }, 404)
        );
        assert!(matched, "{check}: {error:?}");
        assert_eq!(client.requests_sent(), 1, "{check} must not be retried");
    }
}

#[tokio::test]
async fn job_cancellation_is_never_retried() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let job = keepit_domain::JobId::new("aaaaaa-bbbbbb-cccccc-dddddd").unwrap();
    let error = client
        .cancel_job(&account(), &connector(), &job)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Api { status: 503, .. }), "{error:?}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let client = KeepitClient::builder()
        .base_url(server.uri())
        .credentials(user_credentials())
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retries()
        })
        .build()
        .unwrap();
    let error = client.connectors(&account(), false).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                endpoint: "GET /users/{a}/devices"
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        client.requests_sent(),
        2,
        "timeouts of safe calls are retried"
    );
}

#[tokio::test]
async fn an_unreachable_host_is_a_transport_error() {
    // Port 9 on loopback: nothing listens there.
    let client = KeepitClient::builder()
        .base_url("http://127.0.0.1:9")
        .credentials(user_credentials())
        .retry(fast_retries())
        .build()
        .unwrap();
    let error = client.whoami().await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(
        client.requests_by_status(),
        [(keepit_client::NO_ANSWER.to_owned(), client.requests_sent())].into()
    );
}

/// Records when each request arrived; the server holds every answer for `delay`.
struct Arrivals {
    times: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
}

impl Respond for Arrivals {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.times.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200)
            .set_body_string("<devhealth><health>healthy</health></devhealth>")
            .set_delay(self.delay)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_never_exceed_the_cap() {
    let server = MockServer::start().await;
    let times = Arc::new(Mutex::new(Vec::new()));
    let delay = Duration::from_millis(150);
    Mock::given(method("GET"))
        .respond_with(Arrivals {
            times: times.clone(),
            delay,
        })
        .mount(&server)
        .await;
    let cap = 3;
    let client = KeepitClient::builder()
        .base_url(server.uri())
        .credentials(user_credentials())
        .max_concurrency(cap)
        .build()
        .unwrap();
    let calls = (0..12).map(|_| {
        let client = client.clone();
        async move { client.connector_health(&account(), &connector()).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    let times = times.lock().unwrap().clone();
    assert_eq!(times.len(), 12);
    // Each request occupies the server for `delay` after it arrives; count overlaps.
    let busy = delay - Duration::from_millis(20);
    let max_overlap = times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|other| **other >= *start && **other < *start + busy)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        max_overlap <= cap,
        "at most {cap} in flight, saw {max_overlap}"
    );
    assert!(max_overlap > 1, "requests did run concurrently");
}

#[tokio::test]
async fn the_api_token_pair_wins_over_username_and_password() {
    let credentials = Credentials::choose(
        Some("admin@msp.example".into()),
        Some(SecretString::from("user-password")),
        Some(SecretString::from(TOKEN_LOGIN)),
        Some(SecretString::from(TOKEN_PASSWORD)),
    )
    .unwrap();
    assert_eq!(credentials.kind(), "api-token");
    let server = MockServer::start().await;
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_LOGIN}:{TOKEN_PASSWORD}"))
    );
    Mock::given(method("GET"))
        .and(path("/users/"))
        .and(header("authorization", expected.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("<user><id>p4rtn3-r0acct-x9k2qa</id></user>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = KeepitClient::builder()
        .base_url(server.uri())
        .credentials(credentials)
        .build()
        .unwrap();
    assert_eq!(
        client.whoami().await.unwrap().as_str(),
        "p4rtn3-r0acct-x9k2qa"
    );

    // Only one half of a token: username and password are used.
    let fallback = Credentials::choose(
        Some("admin@msp.example".into()),
        Some(SecretString::from("pw")),
        Some(SecretString::from(TOKEN_LOGIN)),
        None,
    )
    .unwrap();
    assert_eq!(fallback.kind(), "user-password");
    assert!(Credentials::choose(None, None, Some(SecretString::from(TOKEN_LOGIN)), None).is_none());
}

#[tokio::test]
async fn wrong_credentials_give_unauthorized_without_retry() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(fixture("errors", "unauthorized.txt")),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert!(matches!(
        client.test_connection().await,
        Err(Error::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn builder_rejects_bad_configuration() {
    let no_target = KeepitClient::builder()
        .credentials(user_credentials())
        .build();
    assert!(matches!(no_target, Err(Error::Config(_))));
    let no_credentials = KeepitClient::builder().region("us-dc").build();
    assert!(matches!(no_credentials, Err(Error::Config(_))));
    let bad_region = KeepitClient::builder()
        .region("us dc")
        .credentials(user_credentials())
        .build();
    assert!(matches!(bad_region, Err(Error::Config(_))));
    let zero = KeepitClient::builder()
        .region("us-dc")
        .credentials(user_credentials())
        .max_concurrency(0)
        .build();
    assert!(matches!(zero, Err(Error::Config(_))));
    let rate = KeepitClient::builder()
        .region("us-dc")
        .credentials(user_credentials())
        .rate_limit(0.0)
        .build();
    assert!(matches!(rate, Err(Error::Config(_))));
    let client = KeepitClient::builder()
        .region("us-dc")
        .credentials(user_credentials())
        .build()
        .unwrap();
    assert_eq!(client.base_url().as_str(), "https://us-dc.keepit.com/");
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<devhealth/>"))
        .mount(&server)
        .await;
    let client = KeepitClient::builder()
        .base_url(server.uri())
        .credentials(user_credentials())
        .rate_limit(20.0)
        .build()
        .unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        client
            .connector_health(&account(), &connector())
            .await
            .unwrap();
    }
    // Five requests at 20 per second need at least four intervals of 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn answers_past_the_size_limit_are_refused_without_retrying() {
    let server = MockServer::start().await;
    let body = fixture("devices", "mixed.xml");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
        .expect(2)
        .mount(&server)
        .await;
    let client = |limit: usize| builder(&server).max_response_bytes(limit).build().unwrap();
    match client(body.len() - 1)
        .connectors(&account(), false)
        .await
        .unwrap_err()
    {
        Error::TooLarge { limit_bytes, .. } => assert_eq!(limit_bytes as usize, body.len() - 1),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A body of exactly the limit is read.
    assert!(
        !client(body.len())
            .connectors(&account(), false)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_deadline_covers_every_attempt_and_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(300)))
        .mount(&server)
        .await;
    let client = builder(&server)
        .retry(RetryPolicy {
            max_attempts: 50,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        })
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let error = client.connectors(&account(), false).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout { .. } | Error::Api { status: 503, .. }
        ),
        "{error:?}"
    );
    // Fifty attempts of 300 ms would take 15 s; the deadline stopped them after a few.
    let attempts = server.received_requests().await.unwrap().len();
    assert!((1..=5).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn html_and_empty_answers_are_decode_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{}/devices", account())))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>maintenance</body></html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = builder(&server).build().unwrap();
    match client.connectors(&account(), false).await.unwrap_err() {
        Error::Decode { reason, .. } => assert!(reason.contains("text/html"), "{reason}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    let filter = keepit_client::JobHistoryFilter::finished_between(
        chrono::Utc::now() - chrono::TimeDelta::days(1),
        chrono::Utc::now(),
    );
    match client
        .job_history(&account(), &connector(), &filter)
        .await
        .unwrap_err()
    {
        Error::Decode { reason, .. } => assert!(reason.contains("empty"), "{reason}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_embedder_s_own_http_client_carries_the_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    // The embedder's client adds a header of its own (a proxy token, say).
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-embedder",
        reqwest::header::HeaderValue::from_static("yes"),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = KeepitClient::builder()
        .base_url(server.uri())
        .credentials(user_credentials())
        .retry(fast_retries())
        .http_client(http)
        .build()
        .unwrap();
    let error = client.whoami().await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|request| request
            .headers
            .get("x-embedder")
            .is_some_and(|v| v == "yes")),
        "every request went through the embedder's client"
    );
}
