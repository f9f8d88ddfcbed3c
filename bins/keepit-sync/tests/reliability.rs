//! The reliability suite against the real `keepit-sync` binary: two processes on one
//! SQLite file under load, SIGKILL at random moments followed by a recovering run,
//! processes racing migrations on an empty database, and secrets at `RUST_LOG=trace`.
//!
//! Every loop here is bounded in count and time, and talks only to 127.0.0.1.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use keepit_mock::{Faults, Fleet, FleetServer, FleetSpec, MockKeepit};
use keepit_store::{
    AlertFilter, AuditQuery, ConnectorFilter, JobQuery, NewUser, Role, Store, StoreConfig,
    SyncOutcome,
};
use rand::{Rng as _, SeedableRng as _};
use sea_orm::ConnectionTrait as _;
use secrecy::ExposeSecret as _;

use crate::common::{sqlite_url, temp_dir, text};

mod common;

/// The PostgreSQL server to test against, if any.
#[allow(clippy::disallowed_methods)] // Tests choose their backend from the environment.
fn postgres_url() -> Option<String> {
    std::env::var("KEEPIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A fresh PostgreSQL database on the test server, dropped by [`drop_database`].
async fn fresh_postgres_database(base: &str, purpose: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "kw_{purpose}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sea_orm::Database::connect(base).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

async fn drop_database(base: &str, url: &str) {
    let name = url.rsplit_once('/').unwrap().1;
    let admin = sea_orm::Database::connect(base).await.unwrap();
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let _ = admin.close().await;
}

/// The Keepit flags for a fleet served by `mock`.
struct Keepit {
    args: Vec<String>,
    password: String,
}

impl Keepit {
    fn of(mock: &MockKeepit, served: &FleetServer) -> Keepit {
        let password = mock.credentials().password().expose_secret().to_owned();
        Keepit {
            args: vec![
                "--base-url".into(),
                mock.uri(),
                "--account-guid".into(),
                served.parent().to_string(),
                "--username".into(),
                mock.credentials().username().to_owned(),
                "--password".into(),
                password.clone(),
            ],
            password,
        }
    }
}

/// A `keepit-sync` command with a clean environment.
fn keepit_sync(dir: &Path, args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keepit-sync"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KEEPIT_MASTER_KEY_FILE", dir.join("master.key"));
    command
}

fn run_args(database: &str, keepit: &Keepit) -> Vec<String> {
    let mut args = vec![
        "run".to_owned(),
        "--output".into(),
        "json".into(),
        "--database-url".into(),
        database.to_owned(),
    ];
    args.extend(keepit.args.iter().cloned());
    args
}

async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run keepit-sync"))
        .await
        .unwrap()
}

/// The outcome a `run --output json` printed.
fn outcome(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|value| value["outcome"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("unreadable: {}", text(output)))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[allow(clippy::print_stderr)] // The figures are the report (nextest shows them in CI).
fn report(text: &str) {
    eprintln!("{text}");
}

/// What a store holds, in a form two stores can be compared by.
#[derive(Debug, PartialEq)]
struct Contents {
    connectors: Vec<(String, bool)>,
    jobs: Vec<(String, String)>,
    audit_events: usize,
}

async fn contents(url: &str) -> Contents {
    let store = Store::connect(&StoreConfig::new(url)).await.unwrap();
    let mut connectors: Vec<(String, bool)> = store
        .connectors_with_status(&ConnectorFilter {
            include_removed: true,
            ..ConnectorFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(connector, _)| {
            (
                connector.record.connector.to_string(),
                connector.removed_at.is_some(),
            )
        })
        .collect();
    connectors.sort();
    let mut query = JobQuery {
        limit: Some(JobQuery::MAX_LIMIT),
        ..JobQuery::default()
    };
    let mut jobs = Vec::new();
    loop {
        let page = store.jobs(&query).await.unwrap();
        jobs.extend(page.jobs.into_iter().map(|job| {
            (
                job.record.job.to_string(),
                job.record.job_type.as_str().to_owned(),
            )
        }));
        match page.next {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    jobs.sort();
    let mut audit_events = 0;
    for account in store.keepit_accounts(None).await.unwrap() {
        audit_events += store
            .audit_events(&AuditQuery {
                account: Some(account.account.clone()),
                limit: Some(1000),
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .len();
    }
    store.close().await.unwrap();
    Contents {
        connectors,
        jobs,
        audit_events,
    }
}

async fn fleet(accounts: usize, seed: u64) -> (MockKeepit, FleetServer) {
    let fleet = Fleet::generate(&FleetSpec {
        seed,
        accounts,
        connectors_per_account: (2, 4),
        now: Utc::now(),
        ..FleetSpec::default()
    })
    .unwrap();
    MockKeepit::start_with_fleet(fleet).await
}

/// `keepit-server`'s HTTP API on the same database, in this process, on 127.0.0.1.
async fn serve(url: &str) -> (String, String) {
    serve_with_key(url, None).await
}

/// Like [`serve`], with a master key for creating integrations.
async fn serve_with_key(
    url: &str,
    key: Option<Arc<keepit_store::secrets::MasterKey>>,
) -> (String, String) {
    let store = Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .unwrap();
    let now = Utc::now();
    let user = store
        .create_user(
            &NewUser {
                email: "ops@msp.example".into(),
                name: "Ops".into(),
                role: Role::Admin,
                primary_admin: true,
                message_preference: Default::default(),
            },
            now,
        )
        .await
        .unwrap();
    let (_, token) = store.create_api_token(user.id, "load", now).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = keepit_http::router(keepit_http::AppState::new(store, key));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (
        format!("http://{address}/api/v1"),
        token.expose_secret().to_owned(),
    )
}

#[derive(Default)]
struct Load {
    latencies: Vec<Duration>,
    server_errors: usize,
    by_status: std::collections::BTreeMap<u16, usize>,
}

/// One client: reads and writes in turn until `until`, at most `max_requests`.
async fn client(
    base: String,
    token: String,
    alerts: Arc<Vec<i64>>,
    seed: u64,
    until: Instant,
) -> Load {
    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut load = Load::default();
    let silence_until = (Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    for _ in 0..20_000 {
        if Instant::now() >= until {
            break;
        }
        let alert = alerts[rng.random_range(0..alerts.len())];
        let request = match rng.random_range(0..6) {
            0 => http.get(format!(
                "{base}/jobs?limit=50&status=unsuccessful,incomplete"
            )),
            1 => http.get(format!("{base}/alerts")),
            2 => http.get(format!("{base}/connectors")),
            3 => http.post(format!("{base}/alerts/{alert}/acknowledge")),
            4 => http
                .post(format!("{base}/alerts/{alert}/silence"))
                .header("content-type", "application/json")
                .body(format!("{{\"until\": \"{silence_until}\"}}")),
            _ => http
                .post(format!("{base}/alerts/{alert}/silence"))
                .header("content-type", "application/json")
                .body("{\"until\": null}"),
        };
        let started = Instant::now();
        let status = match request.bearer_auth(&token).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status
            }
            Err(_) => 599,
        };
        load.latencies.push(started.elapsed());
        *load.by_status.entry(status).or_default() += 1;
        if status >= 500 {
            load.server_errors += 1;
        }
    }
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_serve_and_sync_without_errors() {
    const CLIENTS: u64 = 20;
    const SECONDS: u64 = 30;
    let dir = temp_dir("reliability");
    let url = sqlite_url(&dir);
    let (mock, served) = fleet(10, 61).await;
    let keepit = Keepit::of(&mock, &served);
    let first = output_of(keepit_sync(&dir, &run_args(&url, &keepit))).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));

    let (base, token) = serve(&url).await;
    let store = Store::connect(&StoreConfig::new(&url)).await.unwrap();
    let alerts: Vec<i64> = store
        .alerts(&AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|alert| alert.id.0)
        .collect();
    store.close().await.unwrap();
    assert!(!alerts.is_empty(), "the fleet raises alerts to act on");
    let alerts = Arc::new(alerts);

    let until = Instant::now() + Duration::from_secs(SECONDS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                base.clone(),
                token.clone(),
                alerts.clone(),
                n,
                until,
            ))
        })
        .collect();
    // Syncs back to back for the same time, the fleet moving on between them.
    let mut passes = Vec::new();
    while Instant::now() < until && passes.len() < 200 {
        served.advance_clock(Duration::from_secs(900));
        let output = output_of(keepit_sync(&dir, &run_args(&url, &keepit))).await;
        passes.push((output.status.code(), outcome(&output), text(&output)));
    }
    let mut total = Load::default();
    for client in clients {
        let load = client.await.unwrap();
        total.latencies.extend(load.latencies);
        total.server_errors += load.server_errors;
        for (status, count) in load.by_status {
            *total.by_status.entry(status).or_default() += count;
        }
    }
    total.latencies.sort();
    let failed_passes: Vec<&(Option<i32>, String, String)> = passes
        .iter()
        .filter(|(code, outcome, _)| *code != Some(0) || outcome != "ok")
        .collect();
    report(&format!(
        "two processes on one SQLite file, {CLIENTS} clients for {SECONDS}s: {} requests, \
         {} server errors, statuses {:?}, p50 {:?}, p99 {:?}, max {:?}; {} sync passes, {} not ok",
        total.latencies.len(),
        total.server_errors,
        total.by_status,
        percentile(&total.latencies, 0.50),
        percentile(&total.latencies, 0.99),
        total.latencies.last().copied().unwrap_or_default(),
        passes.len(),
        failed_passes.len(),
    ));
    assert_eq!(total.server_errors, 0, "statuses {:?}", total.by_status);
    assert!(passes.len() >= 2, "syncs ran during the load");
    assert!(failed_passes.is_empty(), "{failed_passes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn crash_and_recover(url: &str, dir: &Path, label: &str) {
    const KILLS: usize = 20;
    let (mock, served) = fleet(16, 62).await;
    mock.set_faults(Faults::seeded(1).with_latency(Duration::from_millis(3)));
    let keepit = Keepit::of(&mock, &served);
    // How long an undisturbed pass takes here, to spread the kills over it.
    let reference_dir = temp_dir("reliability");
    let reference_url = sqlite_url(&reference_dir);
    let started = Instant::now();
    let reference = output_of(keepit_sync(
        &reference_dir,
        &run_args(&reference_url, &keepit),
    ))
    .await;
    let pass_time = started.elapsed();
    assert_eq!(reference.status.code(), Some(0), "{}", text(&reference));

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut killed_mid_pass = 0;
    for _ in 0..KILLS {
        let mut child: Child = keepit_sync(dir, &run_args(url, &keepit))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = pass_time.mul_f64(rng.random_range(0.05..0.95));
        tokio::time::sleep(at).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_pass += 1;
        }
        // SIGKILL: no handler runs, the lease and the run are left as they were.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The next run starts at once (the dead holder was on this host) and finishes.
    let started = Instant::now();
    let recovered = output_of(keepit_sync(dir, &run_args(url, &keepit))).await;
    let recovery_time = started.elapsed();
    assert_eq!(recovered.status.code(), Some(0), "{}", text(&recovered));
    assert_eq!(outcome(&recovered), "ok");

    let store = Store::connect(&StoreConfig::new(url)).await.unwrap();
    let runs = store.sync_runs(1000).await.unwrap();
    let running = runs
        .iter()
        .filter(|run| run.summary.outcome == SyncOutcome::Running)
        .count();
    let abandoned = runs
        .iter()
        .filter(|run| run.summary.outcome == SyncOutcome::Abandoned)
        .count();
    store.close().await.unwrap();
    assert_eq!(running, 0, "no run is left running");
    let got = contents(url).await;
    let want = contents(&reference_url).await;
    report(&format!(
        "crash test on {label}: {KILLS} SIGKILLs ({killed_mid_pass} inside a pass of about {pass_time:?}), \
         {abandoned} runs closed as abandoned, recovery run {recovery_time:?}; \
         {} connectors, {} jobs, {} audit events against the reference's {}, {}, {}",
        got.connectors.len(),
        got.jobs.len(),
        got.audit_events,
        want.connectors.len(),
        want.jobs.len(),
        want.audit_events
    ));
    assert_eq!(got, want, "the store ends at the fleet's ground truth");
    assert!(killed_mid_pass >= KILLS / 4, "kills landed inside passes");
    let _ = std::fs::remove_dir_all(&reference_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_random_moments_then_recover_on_sqlite() {
    let dir = temp_dir("reliability");
    crash_and_recover(&sqlite_url(&dir), &dir, "SQLite").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_random_moments_then_recover_on_postgres() {
    let Some(base) = postgres_url() else {
        // PostgreSQL tests run whenever KEEPIT_TEST_POSTGRES_URL is set (CI sets it).
        return;
    };
    let url = fresh_postgres_database(&base, "crash").await;
    let dir = temp_dir("reliability");
    crash_and_recover(&url, &dir, "PostgreSQL").await;
    drop_database(&base, &url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_racing_migrations_on_an_empty_database_all_come_up() {
    let mut databases = vec![(temp_dir("reliability"), None)];
    let base = postgres_url();
    if let Some(base) = &base {
        databases.push((
            temp_dir("reliability"),
            Some(fresh_postgres_database(base, "race").await),
        ));
    }
    for (dir, postgres) in databases {
        let url = postgres.clone().unwrap_or_else(|| sqlite_url(&dir));
        // An import of no rows: each process opens the database, migrating it.
        let csv = dir.join("none.csv");
        std::fs::write(&csv, "name,external_id\n").unwrap();
        let children: Vec<Child> = (0..4)
            .map(|_| {
                keepit_sync(
                    &dir,
                    &[
                        "customers".into(),
                        "import".into(),
                        csv.display().to_string(),
                        "--database-url".into(),
                        url.clone(),
                    ],
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        for child in children {
            let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
                .await
                .unwrap();
            assert_eq!(output.status.code(), Some(0), "{url}: {}", text(&output));
        }
        if let (Some(base), Some(url)) = (&base, &postgres) {
            drop_database(base, url).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_output_of_a_sync_and_a_failed_sign_in() {
    let dir = temp_dir("reliability");
    let url = sqlite_url(&dir);
    let (mock, served) = fleet(3, 63).await;
    let keepit = Keepit::of(&mock, &served);
    let mut good = keepit_sync(&dir, &run_args(&url, &keepit));
    good.env("RUST_LOG", "trace");
    let good = output_of(good).await;
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let wrong_password = "wrong-Secret-3f9a7c";
    let mut args = run_args(&url, &keepit);
    let position = args.iter().position(|arg| *arg == keepit.password).unwrap();
    args[position] = wrong_password.to_owned();
    let mut bad = keepit_sync(&dir, &args);
    bad.env("RUST_LOG", "trace");
    let bad = output_of(bad).await;
    assert_ne!(bad.status.code(), Some(0), "{}", text(&bad));
    for (output, what) in [(&good, "the sync"), (&bad, "the failed sign-in")] {
        let all = text(output);
        assert!(
            all.contains("TRACE") || all.contains("DEBUG"),
            "{what} logged at trace"
        );
        for secret in [keepit.password.as_str(), wrong_password] {
            assert!(!all.contains(secret), "{what} printed a password");
        }
        assert!(
            !all.contains("Basic "),
            "{what} printed an Authorization header"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends one JSON request with the admin token; the status and the body as JSON.
async fn api(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_waits_for_an_integration_and_syncs_it_when_asked() {
    let dir = temp_dir("daemon");
    let url = sqlite_url(&dir);
    let key = keepit_store::secrets::MasterKey::load_or_create(&dir.join("master.key")).unwrap();
    // Nothing is stored yet: the daemon keeps running instead of exiting.
    let mut daemon = keepit_sync(
        &dir,
        &[
            "daemon".into(),
            "--database-url".into(),
            url.clone(),
            "--interval".into(),
            "1h".into(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start the daemon");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon must not exit when no integration is stored"
    );

    // An integration created through the API, then "sync now": the daemon's next full
    // pass is an hour away, so only the request can start this sync.
    let (mock, served) = fleet(3, 71).await;
    let (base, token) = serve_with_key(&url, Some(Arc::new(key))).await;
    let http = reqwest::Client::new();
    let (status, created) = api(
        &http,
        reqwest::Method::POST,
        format!("{base}/integrations"),
        &token,
        Some(serde_json::json!({
            "name": "Fleet",
            "base_url": mock.uri(),
            "parent_account_guid": served.parent().to_string(),
            "username": mock.credentials().username(),
            "password": mock.credentials().password().expose_secret(),
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let asked = Instant::now();
    let (status, pending) = api(
        &http,
        reqwest::Method::POST,
        format!("{base}/integrations/{id}/sync"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 202, "{pending}");
    assert!(pending["sync_requested_at"].is_string(), "{pending}");

    let mut synced = serde_json::Value::Null;
    while asked.elapsed() < Duration::from_secs(90) {
        let (_, now) = api(
            &http,
            reqwest::Method::GET,
            format!("{base}/integrations/{id}"),
            &token,
            None,
        )
        .await;
        if now["last_sync_at"].is_string() {
            synced = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    #[allow(
        clippy::print_stderr,
        reason = "the figure is for the person reading the test log"
    )]
    {
        eprintln!(
            "sync now picked up and finished after {:?}",
            asked.elapsed()
        );
    }
    assert_eq!(synced["last_sync_outcome"], "ok", "the pass ran: {synced}");
    assert!(
        synced["sync_requested_at"].is_null(),
        "the request was taken: {synced}"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_hoc_run_leaves_nothing_broken_and_save_keeps_the_credentials() {
    let dir = temp_dir("adhoc");
    let url = sqlite_url(&dir);
    let (mock, served) = fleet(2, 73).await;
    let keepit = Keepit::of(&mock, &served);
    let ad_hoc = output_of(keepit_sync(&dir, &run_args(&url, &keepit))).await;
    assert_eq!(outcome(&ad_hoc), "ok", "{}", text(&ad_hoc));
    // Without --save nothing usable was stored: a plain run has nothing to sync, and
    // says so, instead of failing on an integration without credentials.
    let plain = vec!["run".to_owned(), "--database-url".into(), url.clone()];
    let nothing = output_of(keepit_sync(&dir, &plain)).await;
    assert_eq!(nothing.status.code(), Some(64), "{}", text(&nothing));
    // With --save the credentials are sealed in the integration: a plain run uses them.
    let mut save = run_args(&url, &keepit);
    save.push("--save".into());
    let saved = output_of(keepit_sync(&dir, &save)).await;
    assert_eq!(outcome(&saved), "ok", "{}", text(&saved));
    let mut plain_json = plain.clone();
    plain_json.extend(["--output".into(), "json".into()]);
    let again = output_of(keepit_sync(&dir, &plain_json)).await;
    assert_eq!(outcome(&again), "ok", "{}", text(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_postgres_share_one_pass_and_keep_one_schedule() {
    let Some(base) = postgres_url() else {
        return;
    };
    let url = fresh_postgres_database(&base, "workers").await;
    let dir = temp_dir("workers");
    let (mock, served) = fleet(30, 97).await;
    // Slow enough answers that the pass outlasts the second daemon's start.
    mock.set_faults(Faults::none().with_latency(Duration::from_millis(60)));
    let keepit = Keepit::of(&mock, &served);
    let daemon = |log: &str| {
        let mut args = vec![
            "daemon".to_owned(),
            "--database-url".into(),
            url.clone(),
            "--interval".into(),
            "1h".into(),
        ];
        args.extend(keepit.args.iter().cloned());
        let log = std::fs::File::create(dir.join(log)).unwrap();
        keepit_sync(&dir, &args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a daemon")
    };
    let store = Store::connect_and_migrate(&StoreConfig::new(url.clone()))
        .await
        .unwrap();
    let mut first = daemon("first.log");
    // The second starts once the first is into its pass.
    let started = Instant::now();
    while store.sync_runs(1).await.unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no pass began");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut second = daemon("second.log");
    let finished = loop {
        let runs = store.sync_runs(5).await.unwrap();
        if let Some(run) = runs
            .iter()
            .find(|run| run.summary.outcome != SyncOutcome::Running)
        {
            break run.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pass never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Two poll periods of both daemons: neither starts a pass of its own.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let runs = store.sync_runs(10).await.unwrap();
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let second_log = std::fs::read_to_string(dir.join("second.log")).unwrap();
    assert_eq!(
        finished.summary.outcome,
        SyncOutcome::Ok,
        "{:?}",
        finished.summary.errors
    );
    assert_eq!(
        runs.len(),
        1,
        "one pass per interval for both daemons: {runs:?}"
    );
    assert!(
        second_log.contains("helped another worker's pass"),
        "the second daemon synced some of the accounts:\n{second_log}"
    );
    // Everything is stored once, as one process alone stores it.
    let alone_dir = temp_dir("workers-alone");
    let alone_url = sqlite_url(&alone_dir);
    let alone = output_of(keepit_sync(&alone_dir, &run_args(&alone_url, &keepit))).await;
    assert_eq!(outcome(&alone), "ok", "{}", text(&alone));
    assert_eq!(contents(&url).await, contents(&alone_url).await);
    store.close().await.unwrap();
    drop_database(&base, &url).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&alone_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_never_creates_a_database_and_says_when_nothing_was_synced() {
    let dir = temp_dir("status");
    let url = sqlite_url(&dir);
    let path = dir.join("watch.db");
    // A mistyped path: a usage error, and no file appears.
    let missing = output_of(keepit_sync(
        &dir,
        &["status".into(), "--database-url".into(), url.clone()],
    ))
    .await;
    assert_eq!(missing.status.code(), Some(64), "{}", text(&missing));
    assert!(
        text(&missing).contains("there is no database"),
        "{}",
        text(&missing)
    );
    assert!(!path.exists(), "status created a database");
    assert!(!dir.join("master.key").exists(), "status created a key");

    // A database no sync ever wrote: the list is empty, and status says why it means nothing.
    let csv = dir.join("none.csv");
    std::fs::write(&csv, "name,external_id\n").unwrap();
    let created = output_of(keepit_sync(
        &dir,
        &[
            "customers".into(),
            "import".into(),
            csv.display().to_string(),
            "--database-url".into(),
            url.clone(),
        ],
    ))
    .await;
    assert_eq!(created.status.code(), Some(0), "{}", text(&created));
    let never = output_of(keepit_sync(
        &dir,
        &[
            "status".into(),
            "--database-url".into(),
            url.clone(),
            "--output".into(),
            "json".into(),
        ],
    ))
    .await;
    assert_eq!(never.status.code(), Some(1), "{}", text(&never));
    assert!(
        text(&never).contains("no sync has ever succeeded"),
        "{}",
        text(&never)
    );
    let json: serde_json::Value = serde_json::from_slice(&never.stdout).unwrap();
    assert_eq!(json["sync"], "never_synced");
    assert!(json["database"].as_str().unwrap().contains("watch.db"));

    // After a sync: fresh, exit 0, and the table names the database and the sync.
    let (mock, served) = fleet(2, 83).await;
    let keepit = Keepit::of(&mock, &served);
    let synced = output_of(keepit_sync(&dir, &run_args(&url, &keepit))).await;
    assert_eq!(outcome(&synced), "ok", "{}", text(&synced));
    let fresh = output_of(keepit_sync(
        &dir,
        &["status".into(), "--database-url".into(), url.clone()],
    ))
    .await;
    assert_eq!(fresh.status.code(), Some(0), "{}", text(&fresh));
    assert!(
        text(&fresh).contains("last successful sync 20"),
        "{}",
        text(&fresh)
    );
    // With a one-second threshold, a moment later: stale, exit 1.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let stale = output_of(keepit_sync(
        &dir,
        &[
            "status".into(),
            "--database-url".into(),
            url.clone(),
            "--stale-after".into(),
            "1s".into(),
        ],
    ))
    .await;
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("may be out of date"),
        "{}",
        text(&stale)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
