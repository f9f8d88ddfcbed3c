//! Dashboard render benchmark: the overview page against the API's alert list.
//!
//! Syncs a generated fleet of 500 customers and 2,500 connectors (keepit-mock, with
//! the shipped alert pass, so its stale and failing connectors alert) into a SQLite
//! file, then asks the router in process, one request at a time, for `GET
//! /api/v1/alerts` (the baseline, measured in the same run) and for the overview
//! `GET /` with a browser session, the full page and its htmx refresh. It reports the
//! median and p95 server time of each and the overview's ratio to the baseline (the
//! goal: at most 2), the first view after a change (when the page reads the whole
//! fleet again instead of its kept snapshot), and the overview's size in bytes (the
//! goal: under 300 KB with htmx and the stylesheet).
//!
//! It also times a rule's dry run (`POST /api/v1/alert-rules/preview` for a new
//! rule and `POST /api/v1/alert-rules/{id}/preview` for a change): every watched
//! connector evaluated now and replayed hour by hour over 14 days of stored jobs
//! (the fleet has 15 days of history), against the same baseline (the goal: under
//! 300 ms).
//!
//! Run with `cargo bench -p keepit-http --bench dashboard`. `KEEPIT_BENCH_ACCOUNTS`
//! (default 500) and `KEEPIT_BENCH_ROUNDS` (default 40) change the size.

#![allow(clippy::print_stdout)] // A benchmark reports on stdout.
#![allow(missing_docs)] // A benchmark binary has no public API.
#![allow(clippy::disallowed_methods)] // A benchmark reads its settings from the environment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use keepit_domain::MessagePreference;
use keepit_http::{AppState, Clock, router};
use keepit_ingest::{Clock as SyncClock, Integration, Shutdown, SyncConfig, sync_once};
use keepit_mock::{Fleet, FleetSpec, MockKeepit};
use keepit_store::secrets::MasterKey;
use keepit_store::{KeepitCredentials, NewIntegration, NewUser, Role, Store, StoreConfig};
use secrecy::ExposeSecret as _;
use tower::ServiceExt as _;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

async fn time(router: &Router, path: &str, header: (&str, &str), htmx: bool) -> (Duration, usize) {
    let mut request = Request::builder().uri(path).header(header.0, header.1);
    if htmx {
        request = request.header("hx-request", "true");
    }
    let started = Instant::now();
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (started.elapsed(), bytes.len())
}

async fn time_post(
    router: &Router,
    path: &str,
    bearer: &str,
    body: &serde_json::Value,
) -> Duration {
    let request = Request::post(path)
        .header("authorization", bearer)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let started = Instant::now();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    started.elapsed()
}

fn summary(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

async fn run() {
    let accounts = setting("KEEPIT_BENCH_ACCOUNTS", 500);
    let rounds = setting("KEEPIT_BENCH_ROUNDS", 40);
    let dir = std::env::temp_dir().join(format!("keepit-dashboard-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .unwrap();

    let spec = FleetSpec {
        seed: 11,
        accounts,
        connectors_per_account: (5, 5),
        days_of_history: 15,
        jobs_per_connector_per_day: 1,
        audit_events_per_account_per_day: 1,
        ..FleetSpec::default()
    };
    let fleet = Fleet::generate(&spec).unwrap();
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    let now = served.now();
    let key = MasterKey::generate();
    let integration = store
        .create_integration(
            &NewIntegration {
                name: "bench".into(),
                region: None,
                base_url: Some(mock.uri()),
                parent_account: served.parent(),
                credentials: KeepitCredentials {
                    username: Some(mock.credentials().username().to_owned()),
                    password: Some(mock.credentials().password().clone()),
                    api_token_login: None,
                    api_token_password: None,
                },
                enabled: true,
                settings: keepit_store::IntegrationSettings::new(16, Duration::from_secs(30))
                    .unwrap(),
            },
            &key,
            now,
        )
        .await
        .unwrap();
    let client = keepit_ingest::client_for_integration(
        &integration,
        store
            .integration_credentials(integration.id, &key)
            .await
            .unwrap(),
        &keepit_ingest::ClientLimits::default(),
    )
    .unwrap();
    let clock_source = served.clone();
    let config = SyncConfig {
        clock: SyncClock::from_fn(move || clock_source.now()),
        ..SyncConfig::default()
    };
    let started = Instant::now();
    sync_once(
        &store,
        &Integration {
            id: integration.id,
            parent: integration.parent_account.clone(),
            client,
        },
        &config,
        &keepit_alerts::AlertPass::default(),
        &Shutdown::never(),
    )
    .await
    .unwrap();
    let connectors = store.connectors(&Default::default()).await.unwrap().len();
    let alerts = store.alerts(&Default::default()).await.unwrap().len();
    println!(
        "fleet: {} customers, {connectors} connectors, {alerts} open alerts (synced in {:.1} s)",
        store.customers().await.unwrap().len(),
        started.elapsed().as_secs_f64()
    );

    let user = store
        .create_user(
            &NewUser {
                email: "bench@example.test".into(),
                name: "Bench".into(),
                role: Role::Admin,
                primary_admin: true,
                message_preference: MessagePreference::Default,
            },
            now,
        )
        .await
        .unwrap();
    let (_, token) = store.create_api_token(user.id, "bench", now).await.unwrap();
    let (_, cookie) = store.create_web_session(user.id, now).await.unwrap();
    let mut state = AppState::new(store.clone(), Some(Arc::new(key)));
    state.clock = Clock::fixed(now);
    let app = router(state);
    let bearer = format!("Bearer {}", token.expose_secret());
    let session = format!("kw_session={}", cookie.expose_secret());

    // One warm-up of each, then alternating rounds so both see the same caches.
    let (_, api_bytes) = time(&app, "/api/v1/alerts", ("authorization", &bearer), false).await;
    let (_, page_bytes) = time(&app, "/", (header::COOKIE.as_str(), &session), false).await;
    let (mut api, mut page, mut fragment) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        api.push(
            time(&app, "/api/v1/alerts", ("authorization", &bearer), false)
                .await
                .0,
        );
        page.push(
            time(&app, "/", (header::COOKIE.as_str(), &session), false)
                .await
                .0,
        );
        fragment.push(
            time(&app, "/", (header::COOKIE.as_str(), &session), true)
                .await
                .0,
        );
    }
    // The first view after something changed reads the whole fleet again: an alert
    // acknowledged before each of these requests.
    let open = store.alerts(&Default::default()).await.unwrap();
    let mut changed = Vec::new();
    for alert in open.iter().take(10) {
        store
            .acknowledge_alert(alert.id, user.id, now)
            .await
            .unwrap();
        changed.push(
            time(&app, "/", (header::COOKIE.as_str(), &session), false)
                .await
                .0,
        );
    }
    let (changed50, changed95) = summary(changed);
    let (api50, api95) = summary(api);
    let (page50, page95) = summary(page);
    let (fragment50, fragment95) = summary(fragment);
    let assets: usize = ["app.css", "app.js", "htmx.min.js"]
        .iter()
        .map(|name| {
            std::fs::metadata(format!("{}/static/{name}", env!("CARGO_MANIFEST_DIR")))
                .map_or(0, |meta| meta.len() as usize)
        })
        .sum();
    println!("{rounds} rounds, one request at a time, in process:");
    println!(
        "  GET /api/v1/alerts (baseline)   p50 {}  p95 {}  {api_bytes} bytes",
        ms(api50),
        ms(api95)
    );
    println!(
        "  GET / (overview page)           p50 {}  p95 {}  {page_bytes} bytes  = {:.2}x the baseline",
        ms(page50),
        ms(page95),
        page50.as_secs_f64() / api50.as_secs_f64()
    );
    println!(
        "  GET / with HX-Request (refresh) p50 {}  p95 {}  = {:.2}x the baseline",
        ms(fragment50),
        ms(fragment95),
        fragment50.as_secs_f64() / api50.as_secs_f64()
    );
    println!(
        "  GET / after a change (fleet read again) p50 {}  p95 {}  = {:.2}x the baseline",
        ms(changed50),
        ms(changed95),
        changed50.as_secs_f64() / api50.as_secs_f64()
    );
    println!(
        "  overview transfer with htmx, script and stylesheet: {} KB (goal: under 300 KB)",
        (page_bytes + assets) / 1000
    );
    // A rule's dry run, new and as a change of the stored stale rule.
    let stale = store
        .alert_rules()
        .await
        .unwrap()
        .into_iter()
        .find(|record| record.rule.spec.kind == keepit_domain::RuleKind::BackupStale)
        .unwrap();
    let body = serde_json::json!({
        "kind": "backup_stale",
        "name": "tighter",
        "stale_after_hours": 30,
        "warn_after_hours": 12,
    });
    let change = format!("/api/v1/alert-rules/{}/preview", stale.rule.id.0);
    let preview_rounds = rounds.clamp(5, 20);
    let (mut new_rule, mut changed_rule, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    time_post(&app, "/api/v1/alert-rules/preview", &bearer, &body).await;
    for _ in 0..preview_rounds {
        baseline.push(
            time(&app, "/api/v1/alerts", ("authorization", &bearer), false)
                .await
                .0,
        );
        new_rule.push(time_post(&app, "/api/v1/alert-rules/preview", &bearer, &body).await);
        changed_rule.push(time_post(&app, &change, &bearer, &body).await);
    }
    let (base50, _) = summary(baseline);
    let (new50, new95) = summary(new_rule);
    let (change50, change95) = summary(changed_rule);
    println!("rule dry run over {connectors} connectors and 14 days, {preview_rounds} rounds:");
    println!(
        "  POST /alert-rules/preview (new)        p50 {}  p95 {}  = {:.1}x GET /alerts (goal: under 300 ms)",
        ms(new50),
        ms(new95),
        new50.as_secs_f64() / base50.as_secs_f64()
    );
    println!(
        "  POST /alert-rules/{{id}}/preview (change) p50 {}  p95 {}  = {:.1}x GET /alerts (two rules replayed)",
        ms(change50),
        ms(change95),
        change50.as_secs_f64() / base50.as_secs_f64()
    );

    // Where a dry run's time goes: its reads, and the replay alone.
    {
        let mut week = stale.rule.clone();
        week.spec.thresholds.lookback = chrono::Duration::days(7);
        let facts = keepit_alerts::adapter::load_facts(&store, &[week], now)
            .await
            .unwrap();
        let history = keepit_alerts::preview::History {
            from: now - chrono::Duration::days(14),
            loaded_from: now - chrono::Duration::days(21),
        };
        let mut best = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            let started = Instant::now();
            keepit_alerts::adapter::preview(&store, &stale.rule, None, now)
                .await
                .unwrap();
            best.0 = best.0.min(started.elapsed());
            let started = Instant::now();
            keepit_alerts::adapter::load_facts(&store, std::slice::from_ref(&stale.rule), now)
                .await
                .unwrap();
            best.1 = best.1.min(started.elapsed());
            let started = Instant::now();
            std::hint::black_box(keepit_alerts::dry_run(
                &facts,
                &stale.rule,
                None,
                history,
                now,
            ));
            best.2 = best.2.min(started.elapsed());
        }
        println!(
            "  inside (best of five): adapter::preview {}, load_facts (6 days) {}, dry_run alone over {} connectors {}",
            ms(best.0),
            ms(best.1),
            facts.len(),
            ms(best.2)
        );
    }

    // What the overview reads, one store call at a time (best of five, warm).
    println!("  store calls behind the overview (best of five):");
    macro_rules! timed {
        ($label:literal, $call:expr) => {{
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let started = Instant::now();
                $call.await.unwrap();
                best = best.min(started.elapsed());
            }
            println!("    {:<28} {}", $label, ms(best));
        }};
    }
    timed!("fleet_version", store.fleet_version());
    timed!("customers", store.customers());
    timed!(
        "connectors_with_status",
        store.connectors_with_status(&Default::default())
    );
    timed!("integrations", store.integrations());
    timed!("keepit_accounts", store.keepit_accounts(None));
    timed!("alerts", store.alerts(&Default::default()));
    timed!("alert_rules", store.alert_rules());
    timed!("users", store.users());
    timed!("sync_runs(1)", store.sync_runs(1));
    timed!("unread_count", store.unread_count(user.id));
    timed!(
        "finished_backups(20 days)",
        store.finished_backups(now - chrono::Duration::days(20), now)
    );
    store.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
