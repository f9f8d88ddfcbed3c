//! A full and an incremental sync of a large generated fleet through a fake Keepit
//! that answers every request after 25 ms, with 16 requests in flight.
//!
//! Run with `cargo bench -p keepit-ingest --bench sync`. For each sync it prints the
//! requests made, the wall time, the lower bound that latency and concurrency allow
//! (requests x 25 ms / 16), their ratio, the rows written and the peak RSS of the
//! process (which includes the fake Keepit and its fleet).

#![allow(clippy::print_stdout)] // A benchmark reports its figures on stdout.

use std::time::{Duration, Instant};

use keepit_client::{Credentials, KeepitClient, RetryPolicy};
use keepit_ingest::{Clock, Integration, NoopHook, Shutdown, SyncConfig, SyncReport, sync_once};
use keepit_mock::{Faults, Fleet, FleetSpec, MockKeepit};
use keepit_store::{KeepitCredentials, NewIntegration, Store, StoreConfig};

const LATENCY: Duration = Duration::from_millis(25);
const CONCURRENCY: usize = 16;

fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    proc_status_mb("VmRSS:")
}

fn proc_status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn print(name: &str, report: &SyncReport, wall: Duration) {
    let bound = LATENCY.as_secs_f64() * report.requests as f64 / CONCURRENCY as f64;
    println!(
        "{name:<12} requests {:>6}  wall {:>6.2} s  lower bound {:>6.2} s  ratio {:.2}  rows written {:>7}  outcome {}  peak RSS {:.0} MB",
        report.requests,
        wall.as_secs_f64(),
        bound,
        wall.as_secs_f64() / bound,
        report.rows_written,
        report.outcome.as_str(),
        peak_rss_mb(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let spec = FleetSpec::large(7);
    let generated = Instant::now();
    let fleet = Fleet::generate(&spec).expect("fleet");
    println!(
        "fleet: {} accounts, {} connectors, {} jobs, {} audit events (generated in {:.1} s); latency {} ms, concurrency {}",
        fleet.ground_truth().accounts.len(),
        fleet.ground_truth().connectors.len(),
        fleet.ground_truth().jobs.len(),
        fleet.ground_truth().audit_events.len(),
        generated.elapsed().as_secs_f64(),
        LATENCY.as_millis(),
        CONCURRENCY
    );
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    mock.set_faults(Faults::seeded(1).with_latency(LATENCY));

    let dir = std::env::temp_dir().join(format!("keepit-sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let store = Store::connect_and_migrate(&StoreConfig::new(url))
        .await
        .expect("store");
    let record = store
        .create_integration(
            &NewIntegration {
                name: "bench".into(),
                region: None,
                base_url: Some(mock.uri()),
                parent_account: served.parent(),
                credentials: KeepitCredentials::default(),
                enabled: true,
                settings: keepit_store::IntegrationSettings::default(),
            },
            &keepit_store::secrets::MasterKey::generate(),
            served.now(),
        )
        .await
        .expect("integration");
    let client = KeepitClient::builder()
        .base_url(mock.uri())
        .credentials(Credentials::UserPassword {
            username: mock.credentials().username().to_owned(),
            password: mock.credentials().password().clone(),
        })
        .max_concurrency(CONCURRENCY)
        .retry(RetryPolicy::default())
        .build()
        .expect("client");
    let integration = Integration {
        id: record.id,
        parent: record.parent_account,
        client,
    };
    let clock = served.clone();
    let config = SyncConfig {
        account_concurrency: CONCURRENCY,
        connector_concurrency: CONCURRENCY,
        clock: Clock::from_fn(move || clock.now()),
        ..SyncConfig::default()
    };

    let baseline_rss = rss_mb();
    println!("RSS before the first sync (fake Keepit, fleet and store open): {baseline_rss:.0} MB");
    let started = Instant::now();
    let full = sync_once(&store, &integration, &config, &NoopHook, &Shutdown::never())
        .await
        .expect("full sync");
    print("full", &full, started.elapsed());

    served.advance_clock(Duration::from_secs(15 * 60));
    let started = Instant::now();
    let incremental = sync_once(&store, &integration, &config, &NoopHook, &Shutdown::never())
        .await
        .expect("incremental sync");
    print("incremental", &incremental, started.elapsed());
    println!(
        "peak RSS growth over the baseline (the sync's own share): {:.0} MB",
        peak_rss_mb() - baseline_rss
    );
    println!(
        "requests in the mock's log: {} (the fake Keepit keeps every request in memory)",
        mock.request_count()
    );
    println!("goals: each ratio at most 1.5; peak RSS under 200 MB");
    let _ = std::fs::remove_dir_all(&dir);
}
