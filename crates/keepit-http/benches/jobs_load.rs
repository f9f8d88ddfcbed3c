//! Job Monitor load benchmark.
//!
//! Seeds a store with 1,000,000 jobs (250 customers, 2,500 connectors, a year of
//! history), serves [`keepit_http::router`] on 127.0.0.1 and loads it with a small
//! closed-loop generator: 32 workers, each sending its next request as soon as the
//! previous one answered, for 30 seconds per scenario. It runs on a SQLite file and,
//! when `KEEPIT_BENCH_POSTGRES_URL` is set, on PostgreSQL (in a schema of its own that
//! is dropped afterwards).
//!
//! Scenarios, each against the same server:
//! - `healthz`: the baseline. No token, no database: what the HTTP stack and the
//!   generator manage on this machine in this run.
//! - `jobs?customer&status`: the Job Monitor's first page for one customer and one or
//!   two statuses, rotating over customers and status sets.
//! - `jobs?status`: the first page for a status set across all customers.
//!
//! It reports requests per second (and as a ratio of the baseline), p50, p99 and the
//! slowest request. The goal is a p99 under 50 ms for `jobs?customer&status`.
//! Generator and server share the machine's cores, so the figures are a floor.
//!
//! Run with `cargo bench -p keepit-http --bench jobs_load`. `KEEPIT_BENCH_JOBS`,
//! `KEEPIT_BENCH_SECONDS` and `KEEPIT_BENCH_CONCURRENCY` change the defaults.

#![allow(clippy::print_stdout)] // A benchmark reports on stdout.
#![allow(missing_docs)] // A benchmark binary has no public API.
#![allow(clippy::disallowed_methods)] // A benchmark reads its settings from the environment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use keepit_domain::{
    AccountId, BackupStatistics, ConnectorId, ConnectorKind, FailureReason, JobId, JobStatistics,
    JobStatus, JobType, MessagePreference, ReasonCode, Volume,
};
use keepit_http::{AppState, Clock, router};
use keepit_store::secrets::MasterKey;
use keepit_store::{
    ConnectorRecord, CustomerId, CustomerSyncOutcome, JobRecord, KeepitAccountSighting,
    KeepitCredentials, NewIntegration, NewUser, Role, Store, StoreConfig,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::runtime::Runtime;

const CUSTOMERS: usize = 250;
const CONNECTORS_PER_CUSTOMER: usize = 10;
const SEED_BATCH: usize = 10_000;

/// The status sets the customer scenario rotates over, as the `status` parameter.
const STATUS_SETS: &[&str] = &[
    "unsuccessful",
    "incomplete,unsuccessful",
    "successful",
    "cancelled",
    "in_progress,scheduled",
];

struct Settings {
    jobs: usize,
    seconds: u64,
    concurrency: usize,
    postgres: Option<String>,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.replace('_', "").parse().ok())
                .unwrap_or(default)
        };
        Settings {
            jobs: number("KEEPIT_BENCH_JOBS", 1_000_000) as usize,
            seconds: number("KEEPIT_BENCH_SECONDS", 30),
            concurrency: number("KEEPIT_BENCH_CONCURRENCY", 32).max(1) as usize,
            postgres: std::env::var("KEEPIT_BENCH_POSTGRES_URL")
                .ok()
                .filter(|url| !url.is_empty()),
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

fn account(customer: usize) -> AccountId {
    AccountId::new(&format!("acct{customer:04}-aaaaaa-bbbbbb")).unwrap()
}

fn connector(index: usize) -> ConnectorId {
    ConnectorId::new(&format!("conn{index:05}-cccccc-dddddd")).unwrap()
}

/// Job `n` runs on connector `n % connectors`; each connector's jobs are spaced evenly
/// over the year before [`now`], so every customer's history interleaves in time.
fn job(n: usize, total: usize) -> JobRecord {
    let connectors = CUSTOMERS * CONNECTORS_PER_CUSTOMER;
    let index = n % connectors;
    let per_connector = total.div_ceil(connectors).max(1) as i64;
    let round = (n / connectors) as i64;
    let spacing = TimeDelta::days(365).num_seconds() / per_connector;
    let started = now() - TimeDelta::days(365)
        + TimeDelta::seconds(round * spacing + (index as i64 * 7) % spacing.max(1));
    // A fixed spread of outcomes: mostly successful, a few of each problem, mixed
    // within every connector's history (splitmix64 of the job number).
    let roll = {
        let mut x = (n as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)) % 1_000
    };
    let (status, active) = match roll {
        0..=849 => (JobStatus::Successful, false),
        850..=919 => (JobStatus::Incomplete, false),
        920..=969 => (JobStatus::Unsuccessful, false),
        970..=989 => (JobStatus::Cancelled, false),
        990..=994 => (JobStatus::InProgress, true),
        _ => (JobStatus::Scheduled, false),
    };
    let ended = started + TimeDelta::minutes(20);
    let failed = matches!(status, JobStatus::Incomplete | JobStatus::Unsuccessful);
    JobRecord {
        raw_stats: Vec::new(),
        job: JobId::new(&format!("job{n:08}-eeeeee-ffffff")).unwrap(),
        connector: connector(index),
        account: account(index / CONNECTORS_PER_CUSTOMER),
        job_type: if n.is_multiple_of(53) {
            JobType::Restore
        } else {
            JobType::Backup
        },
        status,
        active,
        scheduled: Some(started - TimeDelta::minutes(1)),
        start: Some(started),
        dispatched: Some(started),
        started: (status != JobStatus::Scheduled).then_some(started),
        succeeded: (status == JobStatus::Successful).then_some(ended),
        failed: failed.then_some(ended),
        cancelled: (status == JobStatus::Cancelled).then_some(ended),
        progress: Some(if failed { 0.4 } else { 1.0 }),
        snapshot_at: (status == JobStatus::Successful).then_some(ended),
        statistics: Some(JobStatistics::Backup(BackupStatistics {
            added: Volume {
                count: roll,
                bytes: roll * 4_096,
            },
            removed: Volume::default(),
            skipped: Volume {
                count: u64::from(failed),
                bytes: 0,
            },
        })),
        failure_reason: failed.then_some(FailureReason::Known(ReasonCode::AuthenticationFailed)),
        failure_summary: failed.then(|| "The service account could not sign in".to_owned()),
        description: Some(format!(
            "[backup][bl][auto][o365-admin]{{Connector {index}}}"
        )),
    }
}

struct Seeded {
    customers: Vec<CustomerId>,
    token: SecretString,
}

async fn seed(store: &Store, jobs: usize) -> Seeded {
    let key = MasterKey::generate();
    let parent = AccountId::new("parent-aaaaaa-bbbbbb").unwrap();
    let integration = store
        .create_integration(
            &NewIntegration {
                name: "Benchmark MSP".to_owned(),
                region: None,
                base_url: Some("http://127.0.0.1:9".to_owned()),
                parent_account: parent.clone(),
                credentials: KeepitCredentials {
                    username: Some("bench@example.test".to_owned()),
                    password: Some(SecretString::from("not-used")),
                    api_token_login: None,
                    api_token_password: None,
                },
                enabled: true,
                settings: keepit_store::IntegrationSettings::default(),
            },
            &key,
            now(),
        )
        .await
        .expect("integration");
    let mut customers = Vec::with_capacity(CUSTOMERS);
    for n in 0..CUSTOMERS {
        let outcome = store
            .sync_customer(&KeepitAccountSighting {
                integration: integration.id,
                account: account(n),
                parent: Some(parent.clone()),
                company_name: format!("Customer {n:03} A/S"),
                seen_at: now(),
            })
            .await
            .expect("customer");
        match outcome {
            CustomerSyncOutcome::Created(id) | CustomerSyncOutcome::Linked(id) => {
                customers.push(id);
            }
            other => panic!("customer {n} was not linked: {other:?}"),
        }
    }
    let connectors: Vec<ConnectorRecord> = (0..CUSTOMERS * CONNECTORS_PER_CUSTOMER)
        .map(|index| ConnectorRecord {
            connector: connector(index),
            account: account(index / CONNECTORS_PER_CUSTOMER),
            name: format!("Connector {index}"),
            kind: ConnectorKind::Microsoft365,
            created: Some(now() - TimeDelta::days(400)),
            accessible: true,
            deletion_deadline: None,
            backup_retention: Some("P1Y".to_owned()),
        })
        .collect();
    store
        .upsert_connectors(&connectors, now())
        .await
        .expect("connectors");
    for start in (0..jobs).step_by(SEED_BATCH) {
        let batch: Vec<JobRecord> = (start..(start + SEED_BATCH).min(jobs))
            .map(|n| job(n, jobs))
            .collect();
        store.upsert_jobs(&batch, now()).await.expect("jobs");
    }
    let user = store
        .create_user(
            &NewUser {
                email: "bench@example.test".to_owned(),
                name: "Benchmark".to_owned(),
                role: Role::Viewer,
                primary_admin: false,
                message_preference: MessagePreference::Default,
            },
            now(),
        )
        .await
        .expect("user");
    let (_, token) = store
        .create_api_token(user.id, "load", now())
        .await
        .expect("token");
    Seeded { customers, token }
}

/// What one scenario measured.
struct Measured {
    requests: usize,
    failures: usize,
    elapsed: Duration,
    /// Latencies of the successful requests, sorted.
    latencies: Vec<Duration>,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank =
            ((self.latencies.len() as f64 * q).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// Sends `path(worker, n)` from `concurrency` workers for `duration`; each worker sends
/// its next request when the previous one has answered.
async fn load(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    concurrency: usize,
    duration: Duration,
    path: Arc<dyn Fn(usize, usize) -> String + Send + Sync>,
) -> Measured {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let base = base.to_owned();
        let token = token.map(str::to_owned);
        let path = Arc::clone(&path);
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            let mut n = 0;
            while Instant::now() < deadline {
                let url = format!("{base}{}", path(worker, n));
                n += 1;
                let mut request = client.get(&url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        response.bytes().await.is_ok() && status.is_success()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        });
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    while let Some(joined) = workers.join_next().await {
        let (mine, failed) = joined.expect("worker");
        latencies.extend(mine);
        failures += failed;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Measured {
        requests: latencies.len() + failures,
        failures,
        elapsed,
        latencies,
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1_000.0)
}

fn run_backend(name: &str, config: StoreConfig, settings: &Settings) {
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let store = server_runtime
        .block_on(Store::connect_and_migrate(&config))
        .expect("store");
    let seeding = Instant::now();
    let seeded = server_runtime.block_on(seed(&store, settings.jobs));
    println!(
        "\n{name}: seeded {} jobs for {CUSTOMERS} customers in {:.1} s",
        settings.jobs,
        seeding.elapsed().as_secs_f64()
    );
    let state = AppState {
        store: store.clone(),
        master_key: None,
        clock: Clock::fixed(now()),
        metrics_public: false,
        web: keepit_http::WebConfig::default(),
        build: keepit_http::BuildInfo::default(),
    };
    let listener = server_runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_runtime.spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let load_runtime = client_runtime();
    let base = format!("http://{address}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.concurrency)
        .build()
        .expect("client");
    let token = seeded.token.expose_secret().to_owned();
    let customers: Arc<Vec<i64>> = Arc::new(seeded.customers.iter().map(|c| c.0).collect());
    let duration = Duration::from_secs(settings.seconds);

    let by_customer: Arc<dyn Fn(usize, usize) -> String + Send + Sync> = {
        let customers = Arc::clone(&customers);
        Arc::new(move |worker, n| {
            let customer = customers[(worker * 7_919 + n * 31) % customers.len()];
            let status = STATUS_SETS[(worker + n) % STATUS_SETS.len()];
            format!("/api/v1/jobs?customer={customer}&status={status}")
        })
    };
    let by_status: Arc<dyn Fn(usize, usize) -> String + Send + Sync> = Arc::new(|worker, n| {
        let status = STATUS_SETS[(worker + n) % STATUS_SETS.len()];
        format!("/api/v1/jobs?status={status}")
    });
    let healthz: Arc<dyn Fn(usize, usize) -> String + Send + Sync> =
        Arc::new(|_, _| "/healthz".to_owned());

    let scenarios = [
        ("healthz (baseline)", None, healthz),
        ("jobs?customer&status", Some(token.as_str()), by_customer),
        ("jobs?status", Some(token.as_str()), by_status),
    ];
    println!(
        "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "requests/s", "ratio", "p50", "p99", "max", "failures"
    );
    let mut baseline = None;
    for (label, token, path) in scenarios {
        // A short warm-up fills the connection pools and the database's caches.
        load_runtime.block_on(load(
            &client,
            &base,
            token,
            settings.concurrency,
            Duration::from_secs(2).min(duration),
            Arc::clone(&path),
        ));
        let measured = load_runtime.block_on(load(
            &client,
            &base,
            token,
            settings.concurrency,
            duration,
            path,
        ));
        let rate = measured.per_second();
        let baseline_rate = *baseline.get_or_insert(rate);
        println!(
            "{label:<22} {rate:>10.0} {:>9.3} {:>9} {:>9} {:>9} {:>9}",
            rate / baseline_rate,
            millis(measured.quantile(0.50)),
            millis(measured.quantile(0.99)),
            millis(measured.latencies.last().copied().unwrap_or_default()),
            measured.failures,
        );
        if label.starts_with("jobs?customer") {
            let p99 = measured.quantile(0.99);
            println!(
                "{:<22} goal p99 < 50 ms: {}",
                "",
                if p99 < Duration::from_millis(50) {
                    "met"
                } else {
                    "missed"
                }
            );
        }
    }
    let _ = stop.send(());
    server_runtime
        .block_on(server)
        .expect("server task")
        .expect("server");
    match store.backend() {
        keepit_store::Backend::Postgres => server_runtime
            .block_on(store.drop_schema_and_close())
            .expect("drop schema"),
        keepit_store::Backend::Sqlite => {
            server_runtime.block_on(store.close()).expect("close");
        }
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("load runtime")
}

fn main() {
    let settings = Settings::from_env();
    println!(
        "Job Monitor load: {} jobs, {} workers, {} s per scenario (after a 2 s warm-up)",
        settings.jobs, settings.concurrency, settings.seconds
    );
    let directory: PathBuf =
        std::env::temp_dir().join(format!("keepit-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let file = directory.join("jobs.db");
    // The configuration keepit-server uses: default pools.
    run_backend(
        "SQLite",
        StoreConfig::new(format!("sqlite://{}?mode=rwc", file.display())),
        &settings,
    );
    let _ = std::fs::remove_dir_all(&directory);
    if let Some(url) = &settings.postgres {
        let mut config = StoreConfig::new(url.clone());
        config.schema = Some(format!("bench_http_load_{}", std::process::id()));
        run_backend("PostgreSQL", config, &settings);
    } else {
        println!("\nPostgreSQL: skipped (set KEEPIT_BENCH_POSTGRES_URL to run it)");
    }
}
