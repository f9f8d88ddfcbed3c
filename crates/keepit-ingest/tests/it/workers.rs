//! Several sync workers on one database: one pass, its accounts shared out, none synced
//! twice, and the accounts of a worker that dies finished by another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keepit_ingest::{
    Integration, LeaseHolder, NoopHook, Progress, Shutdown, SyncConfig, help_pass, sync_once,
};
use keepit_mock::{Faults, FleetSpec};
use keepit_store::{PassAccountState, Store, SyncOutcome};

use crate::support::{Harness, backends, finish, sqlite};
use crate::sync::snapshot;

fn spec(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        accounts: 12,
        connectors_per_account: (1, 3),
        ..FleetSpec::default()
    }
}

/// Another worker: its own holder, taking two accounts at a time.
fn worker(config: &SyncConfig, pid: u32) -> SyncConfig {
    SyncConfig {
        holder: LeaseHolder::new("worker.example", pid, format!("w{pid}")),
        account_concurrency: 2,
        ..config.clone()
    }
}

/// Helps whatever pass is open until `stop` is set; counts the accounts it synced.
/// (It runs beside the leader in the same task: dropping this future is how a test
/// kills the worker.)
async fn helper(
    store: &Store,
    integration: &Integration,
    config: &SyncConfig,
    stop: &AtomicBool,
    helped: &AtomicU64,
) {
    while !stop.load(Ordering::SeqCst) {
        match help_pass(store, integration, config, &NoopHook, &Shutdown::never()).await {
            Ok(Some(report)) => {
                helped.fetch_add(report.accounts, Ordering::SeqCst);
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(error) => panic!("helping failed: {error:?}"),
        }
    }
}

/// The connector listings each account got: one each means no account was synced twice.
fn listings_per_account(harness: &Harness) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in harness.mock.requests_to("GET /users/{a}/devices") {
        *counts.entry(request.path).or_insert(0) += 1;
    }
    counts
}

/// What one worker alone stores for the same fleet.
async fn synced_alone(seed: u64) -> crate::sync::Snapshot {
    let store = sqlite().await;
    let alone = Harness::start(&spec(seed), &store).await;
    alone.sync(&store).await;
    snapshot(&store, alone.integration.id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_pass_and_never_sync_an_account_twice() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&spec(41), &store).await;
        harness
            .mock
            .set_faults(Faults::none().with_latency(Duration::from_millis(15)));
        let lead = SyncConfig {
            account_concurrency: 2,
            progress: Progress::default(),
            ..harness.config.clone()
        };
        let second = worker(&harness.config, 2);
        let stop = AtomicBool::new(false);
        let helped = AtomicU64::new(0);
        assert_eq!(lead.progress.accounts_total(), None);
        let leader = async {
            let report = sync_once(
                &store,
                &harness.integration,
                &lead,
                &NoopHook,
                &Shutdown::never(),
            )
            .await
            .expect("pass");
            stop.store(true, Ordering::SeqCst);
            report
        };
        let (report, ()) = tokio::join!(
            leader,
            helper(&store, &harness.integration, &second, &stop, &helped)
        );

        assert_eq!(
            report.outcome,
            SyncOutcome::Ok,
            "{backend}: {:?}",
            report.errors
        );
        // Every account below the parent, sub-partners included.
        let accounts = harness.fleet.ground_truth().accounts.len() - 1;
        assert_eq!(report.accounts, accounts as u64, "{backend}");
        // The leader's progress counts the helper's accounts too (from the work list).
        assert_eq!(lead.progress.accounts_total(), Some(accounts as u64));
        assert_eq!(lead.progress.accounts_done(), accounts as u64, "{backend}");
        let helped = helped.load(Ordering::SeqCst);
        assert!(
            helped > 0 && helped < accounts as u64,
            "{backend}: the helper synced {helped} of {accounts} accounts"
        );
        let listings = listings_per_account(&harness);
        assert_eq!(listings.len(), accounts, "{backend}: every account synced");
        assert!(
            listings.values().all(|count| *count == 1),
            "{backend}: {listings:?}"
        );
        // The tree was walked once, by the leader: the parent and each account.
        assert_eq!(
            harness.mock.request_count_for("GET /users/{a}/users"),
            accounts + 1,
            "{backend}"
        );
        // The work list is gone with the pass, and nothing is left to help with.
        assert!(store.pass_accounts(report.run).await.unwrap().is_empty());
        assert_eq!(
            store
                .open_pass(harness.integration.id, chrono::Utc::now())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            snapshot(&store, harness.integration.id).await,
            synced_alone(41).await,
            "{backend}: the shared pass stored what one worker alone stores"
        );
        finish(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_of_a_worker_killed_mid_pass_are_finished_by_another() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&spec(42), &store).await;
        harness
            .mock
            .set_faults(Faults::none().with_latency(Duration::from_millis(40)));
        let lead = SyncConfig {
            account_concurrency: 2,
            ..harness.config.clone()
        };
        // The worker that dies renews its claims every third of a second; a second
        // after its last renewal they are free.
        let doomed = SyncConfig {
            lease_ttl: chrono::TimeDelta::seconds(1),
            ..worker(&harness.config, 3)
        };
        let doomed_holder = doomed.holder.stored();
        let never = AtomicBool::new(false);
        let count = AtomicU64::new(0);
        let holds_an_account = async {
            loop {
                if let Some(run) = store.sync_runs(1).await.unwrap().first().map(|run| run.id)
                    && store.pass_accounts(run).await.unwrap().iter().any(|row| {
                        row.state == PassAccountState::Claimed
                            && row.holder.as_deref() == Some(doomed_holder.as_str())
                    })
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        // The helper runs until it holds an account, then is dropped mid-account: no
        // commit, no record, no more renewals, as when its process is killed.
        let killed = async {
            tokio::select! {
                () = helper(&store, &harness.integration, &doomed, &never, &count) => {
                    panic!("{backend}: the helper stopped before it was killed")
                }
                held = tokio::time::timeout(Duration::from_secs(20), holds_an_account) => {
                    assert!(held.is_ok(), "{backend}: the helper never claimed an account");
                }
            }
        };
        let forever = Shutdown::never();
        let (result, ()) = tokio::join!(
            sync_once(&store, &harness.integration, &lead, &NoopHook, &forever),
            killed
        );

        let report = result.expect("pass");
        assert_eq!(
            report.outcome,
            SyncOutcome::Ok,
            "{backend}: {:?}",
            report.errors
        );
        // Every account below the parent, sub-partners included.
        let accounts = harness.fleet.ground_truth().accounts.len() - 1;
        assert_eq!(report.accounts, accounts as u64, "{backend}");
        let listings = listings_per_account(&harness);
        assert_eq!(listings.len(), accounts, "{backend}: {listings:?}");
        assert_eq!(
            snapshot(&store, harness.integration.id).await,
            synced_alone(42).await,
            "{backend}: the dead worker's accounts were finished"
        );
        finish(store).await;
    }
}

/// An embedder runs passes on its own tasks: `sync_once` and `help_pass` must be
/// spawnable (their futures `Send` for any lifetime the compiler picks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_can_run_on_spawned_tasks() {
    let store = sqlite().await;
    let harness = Harness::start(&spec(43), &store).await;
    let (integration, config) = (harness.integration.clone(), harness.config.clone());
    let spawned_store = store.clone();
    let pass = tokio::spawn(async move {
        sync_once(
            &spawned_store,
            &integration,
            &config,
            &NoopHook,
            &Shutdown::never(),
        )
        .await
    });
    let report = pass.await.unwrap().expect("pass");
    assert_eq!(report.outcome, SyncOutcome::Ok);
    let (integration, config) = (harness.integration.clone(), harness.config.clone());
    let helper = tokio::spawn(async move {
        help_pass(&store, &integration, &config, &NoopHook, &Shutdown::never()).await
    });
    assert_eq!(
        helper.await.unwrap().expect("help"),
        None,
        "nothing left to help with"
    );
}
