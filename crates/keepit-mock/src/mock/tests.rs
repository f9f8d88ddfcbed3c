//! Tests of the mock over HTTP: auth, fixture mounts, the catch-all, faults and accounting.

use std::time::{Duration, Instant};

use keepit_domain::AccountId;
use secrecy::ExposeSecret as _;

use crate::test_support::{Answer, Http, http, well_formed};
use crate::*;

const NORTHWIND: &str = "5d67ai-hl7znb-f2ykpu";
const WOODGROVE: &str = "wn6gtg-ut9lre-ajm2mp";
const PARTNER: &str = "qft3yh-ru0e38-v7m0le";
const M365: &str = "sjoyv2-t978ok-rot9nv";
const ENTRA: &str = "xu2vmq-zqdlsc-u1cb66";
const JOB: &str = "5t5l5t-z16rg0-w7vu0w-520qzz";

fn devices_path(account: &str) -> String {
    format!("/users/{account}/devices")
}

#[tokio::test]
async fn credentials_are_checked_on_every_request() {
    let mock = MockKeepit::start().await;
    mock.whoami("ok").await;
    let caller = http(&mock);

    let anonymous = caller.as_user(None, "").get("/users/").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body, fixture("errors", "anonymous"));

    let wrong = caller
        .as_user(Some(mock.credentials().username()), "not-the-password")
        .get("/users/")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body, fixture("errors", "unauthorized"));
    assert_eq!(wrong.header("content-type"), Some("text/plain"));

    let primary = caller.get("/users/").await;
    assert_eq!(primary.status, 200);
    assert_eq!(primary.body, fixture("whoami", "ok"));

    let token = mock.credentials().api_token().unwrap();
    let by_token = caller
        .as_user(Some(token.login()), token.password().expose_secret())
        .get("/users")
        .await;
    assert_eq!(by_token.status, 200);

    let requests = mock.requests_to("GET /users/");
    let seen: Vec<(Option<&str>, bool)> = requests
        .iter()
        .map(|r| (r.username.as_deref(), r.authenticated))
        .collect();
    assert_eq!(
        seen,
        [
            (None, false),
            (Some(mock.credentials().username()), false),
            (Some(mock.credentials().username()), true),
            (Some(token.login()), true),
        ]
    );
    assert_eq!(
        mock.usernames("GET /users/"),
        [mock.credentials().username(), token.login()]
    );
    // Passwords appear nowhere: not in the log, not in Debug output.
    let everything = format!("{:?} {:?}", mock.requests(), mock.credentials());
    assert!(!everything.contains(mock.credentials().password().expose_secret()));
    assert!(!everything.contains(token.password().expose_secret()));
    assert!(!everything.contains("not-the-password"));
}

#[tokio::test]
async fn custom_credentials_replace_the_default_ones() {
    let credentials = MockCredentials::new("ops@example.example", "s3cret:with:colons");
    let mock = MockKeepit::builder().credentials(credentials).start().await;
    mock.whoami("ok").await;
    let caller = http(&mock);
    assert_eq!(caller.get("/users/").await.status, 200);
    let old = MockCredentials::default();
    let refused = caller
        .as_user(Some(old.username()), old.password().expose_secret())
        .get("/users/")
        .await;
    assert_eq!(refused.status, 401);
    assert!(mock.credentials().api_token().is_none());
    assert_eq!(
        basic_auth_header("a", "b:c"),
        "Basic YTpiOmM=",
        "the password keeps its colons"
    );
}

/// One mounted fixture and the request that reaches it.
struct Case {
    method: &'static str,
    path: String,
    endpoint: &'static str,
    case: &'static str,
}

#[tokio::test]
async fn every_fixture_mount_serves_its_fixture() {
    let mock = MockKeepit::start().await;
    mock.whoami("ok").expect(1).await;
    mock.account(NORTHWIND, "child").expect(1).await;
    mock.child_accounts(PARTNER, "v1-two").expect(1).await;
    mock.devices(NORTHWIND, "mixed").expect(1).await;
    mock.health(NORTHWIND, M365, "critical-badlogin")
        .expect(1)
        .await;
    mock.device_status(NORTHWIND, M365, "login-error")
        .expect(1)
        .await;
    mock.latest_snapshot(NORTHWIND, M365, "complete")
        .expect(1)
        .await;
    mock.backup_summary(NORTHWIND, "two-devices")
        .expect(1)
        .await;
    mock.job_history(NORTHWIND, M365, "mixed").expect(1).await;
    mock.active_jobs(NORTHWIND, ENTRA, "one-running")
        .expect(1)
        .await;
    mock.job(NORTHWIND, M365, JOB, "restore-failed")
        .expect(1)
        .await;
    mock.skipped_items(NORTHWIND, "restore").expect(1).await;
    let device = |rest: &str| format!("/users/{NORTHWIND}/devices/{M365}/{rest}");
    let cases = [
        Case {
            method: "GET",
            path: "/users/".into(),
            endpoint: "whoami",
            case: "ok",
        },
        Case {
            method: "GET",
            path: format!("/users/{NORTHWIND}"),
            endpoint: "account",
            case: "child",
        },
        Case {
            method: "GET",
            path: format!("/users/{PARTNER}/users"),
            endpoint: "child-accounts",
            case: "v1-two",
        },
        Case {
            method: "GET",
            path: devices_path(NORTHWIND),
            endpoint: "devices",
            case: "mixed",
        },
        Case {
            method: "GET",
            path: device("health?reason=true"),
            endpoint: "health",
            case: "critical-badlogin",
        },
        Case {
            method: "GET",
            path: device("status"),
            endpoint: "device-status",
            case: "login-error",
        },
        Case {
            method: "GET",
            path: device("history/latest"),
            endpoint: "latest-snapshot",
            case: "complete",
        },
        Case {
            method: "GET",
            path: format!("/users/{NORTHWIND}/monitoring/backup/summary"),
            endpoint: "backup-summary",
            case: "two-devices",
        },
        Case {
            method: "PUT",
            path: device("jobs"),
            endpoint: "jobs-history",
            case: "mixed",
        },
        Case {
            method: "GET",
            path: format!("/users/{NORTHWIND}/devices/{ENTRA}/jobs"),
            endpoint: "jobs-active",
            case: "one-running",
        },
        Case {
            method: "GET",
            path: device(&format!("jobs/{JOB}")),
            endpoint: "job",
            case: "restore-failed",
        },
        Case {
            method: "PUT",
            path: format!("/users/{NORTHWIND}/log/filter"),
            endpoint: "skipped-items",
            case: "restore",
        },
    ];
    let caller = http(&mock);
    for case in &cases {
        let body = (case.method == "PUT")
            .then_some("<filter><from-time>2026-01-01T00:00:00Z</from-time></filter>");
        let answer = caller
            .send(case.method, &case.path, &[], body)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{} {}", case.method, case.path);
        assert_eq!(
            answer.body,
            fixture(case.endpoint, case.case),
            "{} {}",
            case.method,
            case.path
        );
        let content_type = if case.endpoint == "skipped-items" {
            "text/csv"
        } else {
            "application/xml"
        };
        assert_eq!(answer.header("content-type"), Some(content_type));
    }
    assert!(mock.unmatched_requests().is_empty());
    // Dropping the mock checks every `.expect(1)`.
}

#[tokio::test]
async fn expectations_and_limits_are_passed_to_wiremock() {
    let mock = MockKeepit::start().await;
    mock.devices(NORTHWIND, "single")
        .up_to_n_times(1)
        .expect(1)
        .await;
    let caller = http(&mock);
    assert_eq!(
        caller.get(&devices_path(NORTHWIND)).await.body,
        fixture("devices", "single")
    );
    // The mount is used up: the next call falls through to the catch-all.
    let second = caller.get(&devices_path(NORTHWIND)).await;
    assert_eq!(second.status, 404);
    {
        let _guard = mock
            .whoami("ok")
            .expect(2)
            .named("whoami twice")
            .mount_as_scoped()
            .await;
        assert_eq!(caller.get("/users/").await.status, 200);
        assert_eq!(caller.get("/users/").await.status, 200);
    }
    // The scoped mount is gone.
    assert_eq!(caller.get("/users/").await.status, 404);
}

#[tokio::test]
async fn nobody_expected_requests_get_a_404_naming_them() {
    let mock = MockKeepit::start().await;
    let answer = http(&mock)
        .get(&format!("{}?all=1", devices_path(WOODGROVE)))
        .await;
    assert_eq!(answer.status, 404);
    assert!(
        answer
            .body
            .contains(&format!("GET /users/{WOODGROVE}/devices?all=1")),
        "{}",
        answer.body
    );
    let unmatched = mock.unmatched_requests();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].endpoint, "GET /users/{a}/devices");
    assert_eq!(unmatched[0].query.as_deref(), Some("all=1"));
    assert_eq!(
        unmatched[0].account,
        Some(AccountId::new(WOODGROVE).unwrap())
    );
    assert_eq!(mock.request_stats().unmatched, 1);
}

#[tokio::test]
async fn error_and_raw_mounts_answer_what_they_are_told() {
    let mock = MockKeepit::start().await;
    mock.error("GET", "/users/", 401, "unauthorized").await;
    mock.error("get", &devices_path(NORTHWIND), 502, "not-xml")
        .await;
    mock.error("PUT", "/audit/filter/pretty", 500, "server-error")
        .await;
    mock.no_child_accounts(NORTHWIND).await;
    mock.no_latest_snapshot(NORTHWIND, M365).await;
    mock.cancel_job(NORTHWIND, M365, JOB).await;
    mock.respond(
        "GET",
        &format!("/users/{WOODGROVE}"),
        200,
        "<user/>",
        "application/xml",
    )
    .await;
    let caller = http(&mock);
    let whoami = caller.get("/users/").await;
    assert_eq!(
        (whoami.status, whoami.body),
        (401, fixture("errors", "unauthorized"))
    );
    let proxy = caller.get(&devices_path(NORTHWIND)).await;
    assert_eq!(proxy.status, 502);
    assert_eq!(proxy.header("content-type"), Some("text/html"));
    let audit = caller.put("/audit/filter/pretty", "<filter/>").await;
    assert_eq!(
        (audit.status, audit.body),
        (500, fixture("errors", "server-error"))
    );
    let children = caller.get(&format!("/users/{NORTHWIND}/users")).await;
    assert_eq!(
        (children.status, children.body),
        (404, fixture("errors", "not-found"))
    );
    let latest = caller
        .get(&format!("/users/{NORTHWIND}/devices/{M365}/history/latest"))
        .await;
    assert_eq!(latest.status, 404);
    let cancel = caller
        .put(
            &format!("/users/{NORTHWIND}/devices/{M365}/jobs/{JOB}"),
            "<job><cancelled>2026-01-07T10:00:00Z</cancelled></job>",
        )
        .await;
    assert_eq!((cancel.status, cancel.body.as_str()), (200, ""));
    assert_eq!(
        caller.get(&format!("/users/{WOODGROVE}")).await.body,
        "<user/>"
    );
}

#[tokio::test]
async fn audit_pages_are_served_by_offset_with_next_offset() {
    let mock = MockKeepit::start().await;
    mock.audit_pages(NORTHWIND, &["page1", "page2"]).await;
    let caller = http(&mock);
    let filter = format!("<filter><account>{NORTHWIND}</account></filter>");
    let mut offset = Some(0usize);
    let mut records = 0;
    let mut pages = Vec::new();
    while let Some(current) = offset {
        let answer = caller
            .put(
                &format!("/audit/filter/pretty?limit=3&offset={current}"),
                &filter,
            )
            .await;
        assert_eq!(answer.status, 200);
        records += answer.body.matches("<record>").count();
        offset = answer
            .header("next-offset")
            .map(|next| next.parse().unwrap());
        pages.push((current, answer.header("next-offset").map(str::to_owned)));
    }
    assert_eq!(records, 5);
    assert_eq!(pages, [(0, Some("3".to_owned())), (3, None)]);
    let past_the_end = caller.put("/audit/filter/pretty?offset=99", &filter).await;
    assert_eq!(past_the_end.body, "<audit/>\n");
    // Another account's filter matches no mount.
    let other = caller
        .put(
            "/audit/filter/pretty",
            &format!("<filter><account>{WOODGROVE}</account></filter>"),
        )
        .await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn sequences_answer_in_order_and_repeat_the_last_page() {
    let mock = MockKeepit::start().await;
    mock.snapshot_range(NORTHWIND, M365, &["page-full", "page-last"])
        .await;
    mock.child_accounts(PARTNER, "v3-contacts").await;
    let caller = http(&mock);
    let path = format!("/users/{NORTHWIND}/devices/{M365}/history/range");
    let range =
        "<range><start>2026-01-01T00:00:00Z</start><span>P7D</span><count>3</count></range>";
    assert_eq!(
        caller.put(&path, range).await.body,
        fixture("snapshot-range", "page-full")
    );
    assert_eq!(
        caller.put(&path, range).await.body,
        fixture("snapshot-range", "page-last")
    );
    assert_eq!(
        caller.put(&path, range).await.body,
        fixture("snapshot-range", "page-last")
    );
    let v3 = caller.get(&format!("/users/{PARTNER}/users?all=1")).await;
    assert_eq!(v3.header("x-total-count"), Some("3"));
}

#[tokio::test]
async fn accept_headers_are_recorded_per_endpoint() {
    let mock = MockKeepit::start().await;
    mock.devices(NORTHWIND, "mixed").await;
    mock.child_accounts(PARTNER, "v1-two").await;
    let caller = http(&mock);
    let v4 = [("accept", "application/vnd.keepit.v4+xml")];
    caller.get_with(&devices_path(NORTHWIND), &v4).await;
    caller.get_with(&devices_path(NORTHWIND), &v4).await;
    caller
        .get_with(
            &format!("/users/{PARTNER}/users"),
            &[("accept", "application/vnd.keepit.v1+xml")],
        )
        .await;
    assert_eq!(
        mock.accept_headers("GET /users/{a}/devices"),
        ["application/vnd.keepit.v4+xml"]
    );
    assert_eq!(
        mock.accept_headers("GET /users/{a}/users"),
        ["application/vnd.keepit.v1+xml"]
    );
    assert_eq!(mock.request_count(), 3);
    assert_eq!(mock.request_count_for("GET /users/{a}/devices"), 2);
    let stats = mock.request_stats();
    assert_eq!(stats.total, 3);
    assert_eq!(stats.by_status.get(&200), Some(&3));
    assert_eq!(stats.by_endpoint.get("GET /users/{a}/users"), Some(&1));
    mock.reset_request_log();
    assert_eq!(mock.request_count(), 0);
}

#[tokio::test]
async fn a_server_error_burst_ends_and_later_requests_succeed() {
    let mock = MockKeepit::start().await;
    mock.whoami("ok").await;
    mock.set_faults(Faults::seeded(1).with_server_errors(ServerErrors::every_nth(3, 2)));
    let caller = http(&mock);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = caller.get("/users/").await;
        if answer.status == 503 {
            assert_eq!(answer.body, fixture("errors", "server-error"));
        }
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [200, 200, 503, 503, 200, 503]);
    assert_eq!(
        mock.request_stats().faults.get(&FaultKind::ServerError),
        Some(&3)
    );
    mock.clear_faults();
    assert_eq!(caller.get("/users/").await.status, 200);
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let mock = MockKeepit::builder()
        .faults(Faults::none().with_rate_limit(2, 7))
        .start()
        .await;
    mock.whoami("ok").expect(2).await;
    let caller = http(&mock);
    assert_eq!(caller.get("/users/").await.status, 200);
    let limited = caller.get("/users/").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert!(well_formed(&limited.body));
    assert_eq!(caller.get("/users/").await.status, 200);
}

#[tokio::test]
async fn malformed_xml_only_for_the_targeted_account() {
    let mock = MockKeepit::start().await;
    mock.devices(NORTHWIND, "mixed").await;
    mock.devices(WOODGROVE, "mixed").await;
    mock.set_faults(Faults::none().with_malformed_xml_for(AccountId::new(NORTHWIND).unwrap()));
    let caller = http(&mock);
    let broken = caller.get(&devices_path(NORTHWIND)).await;
    assert_eq!(broken.status, 200);
    assert!(!well_formed(&broken.body), "{}", broken.body);
    let fine = caller.get(&devices_path(WOODGROVE)).await;
    assert!(well_formed(&fine.body));
    assert_eq!(fine.body, fixture("devices", "mixed"));
    assert_eq!(mock.requests()[0].fault, Some(FaultKind::Malformed));
    assert_eq!(mock.requests()[1].fault, None);
}

#[tokio::test]
async fn truncated_xml_is_a_prefix_that_does_not_parse() {
    let mock = MockKeepit::start().await;
    mock.job_history(NORTHWIND, M365, "stats").await;
    mock.set_faults(Faults::seeded(3).with_truncated_xml_probability(1.0));
    let answer = http(&mock)
        .put(
            &format!("/users/{NORTHWIND}/devices/{M365}/jobs"),
            "<filter/>",
        )
        .await;
    let full = fixture("jobs-history", "stats");
    assert_eq!(answer.status, 200);
    assert!(answer.body.len() < full.len());
    assert!(full.starts_with(&answer.body));
    assert!(!well_formed(&answer.body));
    assert_eq!(
        mock.request_stats().faults.get(&FaultKind::Truncated),
        Some(&1)
    );
}

#[tokio::test]
async fn unauthorized_only_for_requests_about_the_targeted_account() {
    let mock = MockKeepit::start().await;
    mock.devices(NORTHWIND, "mixed").await;
    mock.devices(WOODGROVE, "mixed").await;
    mock.audit_pages(NORTHWIND, &["single"]).await;
    mock.set_faults(Faults::none().with_unauthorized_for(AccountId::new(NORTHWIND).unwrap()));
    let caller = http(&mock);
    let denied = caller.get(&devices_path(NORTHWIND)).await;
    assert_eq!(
        (denied.status, denied.body),
        (401, fixture("errors", "unauthorized"))
    );
    let audit = caller
        .put(
            "/audit/filter/pretty",
            &format!("<filter><account>{NORTHWIND}</account></filter>"),
        )
        .await;
    assert_eq!(audit.status, 401);
    assert_eq!(caller.get(&devices_path(WOODGROVE)).await.status, 200);
}

#[tokio::test]
async fn dropped_connections_are_transport_errors() {
    let mock = MockKeepit::start().await;
    mock.whoami("ok").await;
    mock.set_faults(Faults::seeded(9).with_drop_connection_probability(1.0));
    let caller: Http = http(&mock);
    let error = caller.send("GET", "/users/", &[], None).await.unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert!(!error.is_status());
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );
    let logged = &mock.requests()[0];
    assert_eq!(logged.status, None);
    assert_eq!(logged.fault, Some(FaultKind::DroppedConnection));
    mock.clear_faults();
    assert_eq!(caller.get("/users/").await.status, 200);
}

#[tokio::test]
async fn latency_is_applied_to_every_answer() {
    let latency = Duration::from_millis(200);
    let mock = MockKeepit::builder()
        .faults(Faults::none().with_latency(latency))
        .start()
        .await;
    mock.whoami("ok").await;
    let caller = http(&mock);
    for path in ["/users/", "/nothing-here"] {
        let started = Instant::now();
        caller.get(path).await;
        assert!(started.elapsed() >= latency, "{path}");
    }
    let started = Instant::now();
    let refused = caller.as_user(Some("intruder"), "x").get("/users/").await;
    assert_eq!(refused.status, 401);
    assert!(started.elapsed() >= latency, "401 answers wait too");
    assert!(
        mock.requests()
            .iter()
            .all(|request| request.delay == latency)
    );
}

async fn concurrent_gets(caller: &Http, n: usize, permits: usize) -> Vec<Answer> {
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(permits));
    let calls = (0..n).map(|_| {
        let semaphore = semaphore.clone();
        let caller = caller.clone();
        async move {
            let _permit = semaphore.acquire().await.unwrap();
            caller.get("/users/").await
        }
    });
    futures::future::join_all(calls).await
}

#[tokio::test]
async fn requests_in_flight_are_counted_through_the_latency() {
    let mock = MockKeepit::builder()
        .faults(Faults::none().with_latency(Duration::from_millis(400)))
        .start()
        .await;
    mock.whoami("ok").await;
    let caller = http(&mock);

    for answer in concurrent_gets(&caller, 3, 1).await {
        assert_eq!(answer.status, 200);
    }
    assert_eq!(mock.request_stats().max_in_flight, 1, "one at a time");

    mock.reset_request_log();
    concurrent_gets(&caller, 6, 2).await;
    assert_eq!(
        mock.request_stats().max_in_flight,
        2,
        "a client limit of two"
    );

    mock.reset_request_log();
    concurrent_gets(&caller, 6, 6).await;
    assert_eq!(mock.request_stats().max_in_flight, 6, "all at once");
}

#[tokio::test]
async fn the_fault_sequence_is_reproducible() {
    let faults = Faults {
        seed: 11,
        server_errors: Some(ServerErrors::random(0.25, 2)),
        rate_limit: Some(RateLimit {
            every_nth: 5,
            retry_after_secs: 1,
        }),
        truncated_xml_probability: 0.3,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mock = MockKeepit::builder().faults(faults.clone()).start().await;
        mock.devices(NORTHWIND, "mixed").await;
        let caller = http(&mock);
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            let answer = caller.get(&devices_path(NORTHWIND)).await;
            outcomes.push((answer.status, answer.body));
        }
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1]);
    let statuses: Vec<u16> = runs[0].iter().map(|(status, _)| *status).collect();
    assert!(
        statuses.contains(&503) && statuses.contains(&429) && statuses.contains(&200),
        "{statuses:?}"
    );
}

#[test]
fn fixtures_are_found_by_case_with_or_without_extension() {
    assert_eq!(
        fixture("errors", "not-found"),
        "Requested resource not found"
    );
    assert_eq!(
        fixture("errors", "not-found.txt"),
        fixture("errors", "not-found")
    );
    assert!(
        fixture_path("skipped-items", "restore")
            .unwrap()
            .ends_with("restore.csv")
    );
    assert!(fixtures_dir().join("keepit/README.md").is_file());
    let missing = try_fixture("devices", "no-such-case").unwrap_err();
    assert!(matches!(missing, Error::FixtureNotFound { .. }));
    assert!(
        missing
            .to_string()
            .starts_with("fixture devices/no-such-case not found under ")
    );
}
