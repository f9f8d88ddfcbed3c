//! Full and incremental syncs, changes, faults, crash safety and customer matching.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use keepit_domain::{AccountId, ConnectorKind, JobStatus};
use keepit_ingest::{Error, LeaseHolder, NoopHook, Shutdown, sync_once};
use keepit_mock::{Faults, JobOutcome, ServerErrors};
use keepit_store::{
    AuditQuery, ConnectorFilter, CustomerSource, JobQuery, LeaseGrant, LinkState, Store, StoredJob,
    SyncOutcome,
};

use crate::support::{Harness, backends, finish, small_spec};

pub(crate) async fn all_jobs(store: &Store) -> Vec<StoredJob> {
    let mut query = JobQuery {
        limit: Some(JobQuery::MAX_LIMIT),
        ..JobQuery::default()
    };
    let mut jobs = Vec::new();
    loop {
        let page = store.jobs(&query).await.unwrap();
        jobs.extend(page.jobs);
        match page.next {
            Some(cursor) => query.cursor = Some(cursor),
            None => return jobs,
        }
    }
}

/// Health, health reason, error code and latest snapshot of a stored status.
type StatusFacts = (String, Option<String>, Option<String>, Option<String>);

/// What a store holds, in a form two stores can be compared by.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) accounts: BTreeSet<String>,
    pub(crate) connectors: BTreeMap<String, (String, String, bool, bool, bool)>,
    pub(crate) statuses: BTreeMap<String, StatusFacts>,
    pub(crate) jobs: BTreeMap<String, (String, String, Option<String>)>,
    pub(crate) audit_events: usize,
}

pub(crate) async fn snapshot(store: &Store, _integration: keepit_store::IntegrationId) -> Snapshot {
    let accounts = store
        .keepit_accounts(None)
        .await
        .unwrap()
        .into_iter()
        .map(|account| account.account.to_string())
        .collect();
    let mut connectors = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for (connector, status) in store
        .connectors_with_status(&ConnectorFilter {
            include_removed: true,
            ..ConnectorFilter::default()
        })
        .await
        .unwrap()
    {
        let record = &connector.record;
        connectors.insert(
            record.connector.to_string(),
            (
                record.name.clone(),
                record.kind.code(),
                record.accessible,
                record.deletion_deadline.is_some(),
                connector.removed_at.is_some(),
            ),
        );
        if let Some(status) = status {
            let status = status.status;
            statuses.insert(
                record.connector.to_string(),
                (
                    status.health.as_str().to_owned(),
                    status.health_reason.map(|reason| reason.to_string()),
                    status.error_code.map(|code| code.to_string()),
                    status.latest_snapshot_at.map(|at| at.to_rfc3339()),
                ),
            );
        }
    }
    let jobs = all_jobs(store)
        .await
        .into_iter()
        .map(|job| {
            (
                job.record.job.to_string(),
                (
                    job.record.status.as_str().to_owned(),
                    job.record.job_type.as_str().to_owned(),
                    job.record
                        .failure_reason
                        .map(|reason| reason.code().to_owned()),
                ),
            )
        })
        .collect();
    let audit_events = store
        .audit_events(&AuditQuery {
            limit: Some(1000),
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .len();
    Snapshot {
        accounts,
        connectors,
        statuses,
        jobs,
        audit_events,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_stores_exactly_the_ground_truth() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(11), &store).await;
        let report = harness.sync(&store).await;
        assert_eq!(
            report.outcome,
            SyncOutcome::Ok,
            "{backend}: {:?}",
            report.errors
        );
        let truth = harness.fleet.ground_truth();

        // Every account below the MSP, each matched to a customer.
        let stored_accounts = store.keepit_accounts(None).await.unwrap();
        let truth_accounts: BTreeSet<String> = truth
            .accounts
            .iter()
            .filter(|account| account.id != truth.parent)
            .map(|account| account.id.to_string())
            .collect();
        let got: BTreeSet<String> = stored_accounts
            .iter()
            .map(|account| account.account.to_string())
            .collect();
        assert_eq!(got, truth_accounts, "{backend}: accounts");
        for account in &stored_accounts {
            let expected = truth.account(&account.account).unwrap();
            assert_eq!(
                account.company_name, expected.company_name,
                "{backend}: company of {}",
                account.account
            );
            assert!(
                account.customer.is_some(),
                "{backend}: {} has a customer",
                account.account
            );
        }

        // Every connector, field by field, and the status of every active one.
        let stored = store
            .connectors_with_status(&ConnectorFilter::default())
            .await
            .unwrap();
        assert_eq!(
            stored.len(),
            truth.connectors.len(),
            "{backend}: connector count"
        );
        for (connector, status) in &stored {
            let expected = truth.connector(&connector.record.connector).unwrap();
            let record = &connector.record;
            assert_eq!(
                (
                    &record.name,
                    &record.kind,
                    record.accessible,
                    record.deletion_deadline,
                    &record.account
                ),
                (
                    &expected.name,
                    &expected.kind,
                    expected.accessible,
                    expected.deletion_deadline,
                    &expected.account
                ),
                "{backend}: connector {}",
                record.connector
            );
            let active = expected.accessible && expected.deletion_deadline.is_none();
            assert_eq!(
                status.is_some(),
                active,
                "{backend}: status only for active connector {}",
                record.connector
            );
            if let Some(status) = status {
                let status = &status.status;
                assert_eq!(
                    status.health, expected.health,
                    "{backend}: health of {}",
                    record.connector
                );
                assert_eq!(
                    status.health_reason.as_ref(),
                    Some(&expected.health_reason)
                        .filter(|reason| **reason != keepit_domain::HealthReason::Ok)
                        .or(status.health_reason.as_ref()),
                    "{backend}: reason of {}",
                    record.connector
                );
                if expected.health != keepit_domain::Health::Healthy {
                    assert_eq!(
                        status.error_code,
                        expected.error_code(),
                        "{backend}: error code of {}",
                        record.connector
                    );
                }
                let latest = expected
                    .snapshots
                    .iter()
                    .map(|snapshot| snapshot.tstamp)
                    .max();
                assert_eq!(
                    status.latest_snapshot_at, latest,
                    "{backend}: latest snapshot of {}",
                    record.connector
                );
            }
        }

        // Every job of every active connector, with its decided status and reason.
        let active: HashSet<_> = truth
            .connectors
            .iter()
            .filter(|c| c.accessible && c.deletion_deadline.is_none())
            .map(|c| c.id.clone())
            .collect();
        let expected_jobs: BTreeMap<String, &keepit_mock::TruthJob> = truth
            .jobs
            .iter()
            .filter(|job| active.contains(&job.connector))
            .map(|job| (job.id.to_string(), job))
            .collect();
        let jobs = all_jobs(&store).await;
        assert_eq!(jobs.len(), expected_jobs.len(), "{backend}: job count");
        for job in &jobs {
            let expected = expected_jobs
                .get(job.record.job.as_str())
                .unwrap_or_else(|| panic!("{backend}: unexpected job {}", job.record.job));
            assert_eq!(
                job.record.status, expected.status,
                "{backend}: status of job {}",
                job.record.job
            );
            assert_eq!(
                &job.record.job_type,
                expected.job_type(),
                "{backend}: type of job {}",
                job.record.job
            );
            assert_eq!(
                job.record.statistics.as_ref(),
                expected.statistics(),
                "{backend}: statistics of job {}",
                job.record.job
            );
            if expected.status.needs_attention() && expected.reason.is_some() {
                let code = job
                    .record
                    .failure_reason
                    .as_ref()
                    .map(|reason| reason.code());
                assert_eq!(
                    code,
                    expected.reason.map(|reason| reason.as_str()),
                    "{backend}: reason of job {}",
                    job.record.job
                );
            }
        }
        assert_eq!(report.jobs_new as usize, expected_jobs.len());

        // Every audit event of the synced accounts inside the 14-day window.
        let window_start = truth.now - chrono::TimeDelta::days(14);
        let expected_events = truth
            .audit_events
            .iter()
            .filter(|event| {
                event.account != truth.parent
                    && event.time >= window_start
                    && event.time < truth.now
            })
            .count();
        let events = store
            .audit_events(&AuditQuery {
                limit: Some(1000),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), expected_events, "{backend}: audit events");
        assert_eq!(report.audit_events_new as usize, expected_events);
        for event in &events {
            assert!(
                event
                    .client_network
                    .as_deref()
                    .is_none_or(|network| network.ends_with(".0/24")),
                "{backend}: client IPs are truncated"
            );
        }
        finish(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_with_nothing_changed_writes_nothing_and_asks_far_less() {
    for (backend, store) in backends().await {
        let harness = Harness::start(&small_spec(12), &store).await;
        let first = harness.sync(&store).await;
        let before = snapshot(&store, harness.integration.id).await;
        let first_requests = harness.mock.request_count();
        harness.mock.reset_request_log();

        let second = harness.sync(&store).await;
        assert_eq!(
            second.outcome,
            SyncOutcome::Ok,
            "{backend}: {:?}",
            second.errors
        );
        assert_eq!(
            second.rows_written, 0,
            "{backend}: a pass with nothing new writes no synced rows"
        );
        assert_eq!((second.jobs_new, second.audit_events_new), (0, 0));
        assert_eq!(
            snapshot(&store, harness.integration.id).await,
            before,
            "{backend}"
        );
        let second_requests = harness.mock.request_count();
        assert_eq!(
            second_requests as u64, second.requests,
            "{backend}: the run counts every request"
        );
        assert!(
            second_requests * 2 < first_requests,
            "{backend}: incremental sync asked {second_requests} requests, the first {first_requests}: {:?}",
            harness.mock.request_stats().by_endpoint
        );
        assert_eq!(
            store.sync_runs(10).await.unwrap().len(),
            2,
            "{backend}: one sync_runs row per pass"
        );
        assert_eq!(first.requests as usize, first_requests);
        finish(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_in_the_fleet_show_up_after_the_next_sync_and_nothing_else_changes() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(13), &store).await;
    harness.sync(&store).await;
    let before = snapshot(&store, harness.integration.id).await;
    let truth = harness.fleet.ground_truth();
    let customer = truth.customers().next().unwrap().id.clone();
    let healthy = truth
        .connectors
        .iter()
        .find(|connector| {
            connector.account == customer
                && connector.accessible
                && connector.deletion_deadline.is_none()
        })
        .unwrap()
        .id
        .clone();
    let doomed = truth
        .connectors
        .iter()
        .find(|connector| {
            connector.id != healthy && connector.accessible && connector.deletion_deadline.is_none()
        })
        .unwrap()
        .id
        .clone();

    let added = harness
        .fleet
        .add_connector(&customer, ConnectorKind::Salesforce)
        .unwrap();
    let failed = harness
        .fleet
        .push_job(&healthy, JobOutcome::backup(JobStatus::Unsuccessful))
        .unwrap();
    let events = harness.fleet.push_audit_events(&customer, 4).unwrap();
    harness.fleet.remove_connector(&doomed).unwrap();
    // The next pass happens a little later.
    harness.fleet.advance_clock(Duration::from_secs(600));

    let report = harness.sync(&store).await;
    assert_eq!(report.outcome, SyncOutcome::Ok, "{:?}", report.errors);
    assert_eq!(report.audit_events_new, events.len() as u64);
    let after = snapshot(&store, harness.integration.id).await;

    assert!(
        after.connectors.contains_key(added.as_str()),
        "the new connector is stored"
    );
    assert!(
        after.connectors[doomed.as_str()].4,
        "the deleted connector is marked removed"
    );
    let job = &after.jobs[failed.id.as_str()];
    assert_eq!(
        job.0,
        failed.status.as_str(),
        "the failed job is stored with its status"
    );
    assert_eq!(after.audit_events, before.audit_events + events.len());

    // Nothing else changed: every other connector and job is as before.
    for (id, connector) in &before.connectors {
        if id != doomed.as_str() {
            assert_eq!(&after.connectors[id], connector, "connector {id}");
        }
    }
    for (id, job) in &before.jobs {
        assert_eq!(&after.jobs[id], job, "job {id}");
    }
    assert_eq!(
        after.jobs.len(),
        before.jobs.len()
            + 1
            + after
                .jobs
                .keys()
                .filter(|id| !before.jobs.contains_key(*id) && *id != failed.id.as_str())
                .count()
    );
    finish(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_are_absorbed_without_duplicates() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(14), &store).await;
    harness.mock.set_faults(
        Faults::seeded(3)
            .with_server_errors(ServerErrors::every_nth(13, 2))
            .with_rate_limit(17, 0),
    );
    let report = harness.sync(&store).await;
    assert_eq!(report.outcome, SyncOutcome::Ok, "{:?}", report.errors);
    let stats = harness.mock.request_stats();
    assert!(
        stats.by_status.get(&503).copied().unwrap_or(0)
            + stats.by_status.get(&500).copied().unwrap_or(0)
            > 0,
        "faults were injected: {stats:?}"
    );
    assert!(
        stats.by_status.get(&429).copied().unwrap_or(0) > 0,
        "rate limits were injected"
    );

    // The same data as a clean sync, with no duplicates.
    let clean_store = crate::support::sqlite().await;
    let clean = Harness::start(&small_spec(14), &clean_store).await;
    clean.sync(&clean_store).await;
    let faulty = snapshot(&store, harness.integration.id).await;
    let reference = snapshot(&clean_store, clean.integration.id).await;
    assert_eq!(faulty.jobs, reference.jobs);
    assert_eq!(faulty.connectors, reference.connectors);
    assert_eq!(faulty.audit_events, reference.audit_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_account_leaves_the_others_complete_and_the_run_partial() {
    for fault in ["malformed", "unauthorized"] {
        let (_, store) = backends().await.remove(0);
        let harness = Harness::start(&small_spec(15), &store).await;
        let truth = harness.fleet.ground_truth();
        let victim: AccountId = truth
            .customers()
            .find(|account| !account.connectors.is_empty())
            .unwrap()
            .id
            .clone();
        let faults = match fault {
            "malformed" => Faults::seeded(1).with_malformed_xml_for(victim.clone()),
            _ => Faults::seeded(1).with_unauthorized_for(victim.clone()),
        };
        harness.mock.set_faults(faults);
        let report = harness.sync(&store).await;
        assert_eq!(
            report.outcome,
            SyncOutcome::Partial,
            "{fault}: {:?}",
            report.errors
        );
        assert_eq!(report.accounts_failed, 1, "{fault}");
        assert_eq!(report.errors[0].account.as_ref(), Some(&victim), "{fault}");
        let runs = store.sync_runs(1).await.unwrap();
        assert_eq!(runs[0].summary.outcome, SyncOutcome::Partial);
        assert_eq!(runs[0].summary.errors.len(), 1);

        let stored: HashSet<String> = store
            .connectors(&ConnectorFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.record.account.to_string())
            .collect();
        assert!(
            !stored.contains(victim.as_str()),
            "{fault}: nothing of the failed account is half-written"
        );
        let others: HashSet<String> = truth
            .connectors
            .iter()
            .filter(|c| c.account != victim)
            .map(|c| c.account.to_string())
            .collect();
        assert_eq!(stored, others, "{fault}: every other account is complete");
        finish(store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_rerun_ends_like_an_uninterrupted_one() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(16), &store).await;
    // The "crash": half the accounts fail before they commit, as if the process died.
    let truth = harness.fleet.ground_truth();
    let mut faults = Faults::seeded(2);
    for account in truth.customers().step_by(2) {
        faults = faults.with_unauthorized_for(account.id.clone());
    }
    harness.mock.set_faults(faults);
    let interrupted = harness.sync(&store).await;
    assert_eq!(interrupted.outcome, SyncOutcome::Partial);
    harness.mock.clear_faults();
    let rerun = harness.sync(&store).await;
    assert_eq!(rerun.outcome, SyncOutcome::Ok, "{:?}", rerun.errors);

    let clean_store = crate::support::sqlite().await;
    let clean = Harness::start(&small_spec(16), &clean_store).await;
    clean.sync(&clean_store).await;
    assert_eq!(
        snapshot(&store, harness.integration.id).await,
        snapshot(&clean_store, clean.integration.id).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_before_the_pass_runs_nothing_and_a_held_lease_refuses() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(17), &store).await;
    let (signal, shutdown) = Shutdown::new();
    signal.request();
    let result = sync_once(
        &store,
        &harness.integration,
        &harness.config,
        &NoopHook,
        &shutdown,
    )
    .await;
    assert!(matches!(result, Err(Error::ShutDown)));
    assert_eq!(harness.mock.request_count(), 0);

    let now = harness.fleet.now();
    // A live holder on another host: its lease is respected until it expires.
    let other = LeaseHolder::new("other-host.example", 4242, "t");
    assert_eq!(
        store
            .acquire_sync_lease(
                harness.integration.id,
                &other.stored(),
                now,
                chrono::TimeDelta::minutes(30)
            )
            .await
            .unwrap(),
        LeaseGrant::Acquired
    );
    let result = sync_once(
        &store,
        &harness.integration,
        &harness.config,
        &NoopHook,
        &Shutdown::never(),
    )
    .await;
    match result {
        Err(error @ Error::LeaseHeld { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("process 4242 on other-host.example"),
                "{text}"
            );
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    // An expired lease is taken over.
    harness.fleet.advance_clock(Duration::from_secs(3600));
    let report = harness.sync(&store).await;
    assert_eq!(report.outcome, SyncOutcome::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_customers_are_matched_by_name_on_the_next_sync() {
    let (_, store) = backends().await.remove(0);
    let spec = small_spec(18);
    let fleet = keepit_mock::Fleet::generate(&spec).unwrap();
    let truth = fleet.ground_truth();
    let target = truth.customers().next().unwrap();
    // The PSA spells the name differently: upper case and a legal suffix.
    let csv = format!(
        "name,external_id\n\"{} Inc.\",PSA-1\nSomebody Else,PSA-2\n",
        target.company_name.to_uppercase()
    );
    let report = store
        .import_customers_csv(csv.as_bytes(), truth.now)
        .await
        .unwrap();
    assert_eq!(report.errors.len(), 0, "{report:?}");

    let harness = Harness::start(&spec, &store).await;
    harness.sync(&store).await;
    let account = store.keepit_account(&target.id).await.unwrap().unwrap();
    assert_eq!(account.link, LinkState::Linked);
    let customer = store.customer(account.customer.unwrap()).await.unwrap();
    assert_eq!(customer.external_id.as_deref(), Some("PSA-1"));
    assert_eq!(customer.source, CustomerSource::Psa);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_dead_process_of_this_host_is_taken_over_at_once() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(19), &store).await;
    let now = harness.fleet.now();
    // A process of this host that has exited, holding a fresh lease and a running run.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let host = LeaseHolder::this_process().host().to_owned();
    let dead = LeaseHolder::new(host, pid, "dead");
    store
        .acquire_sync_lease(
            harness.integration.id,
            &dead.stored(),
            now,
            chrono::TimeDelta::minutes(30),
        )
        .await
        .unwrap();
    let left = store
        .start_sync_run(Some(harness.integration.id), now)
        .await
        .unwrap();
    let report = harness.sync(&store).await;
    assert_eq!(report.outcome, SyncOutcome::Ok);
    let run = store.sync_run(left).await.unwrap();
    assert_eq!(run.summary.outcome, SyncOutcome::Abandoned);
    // The lease was released after the pass.
    assert_eq!(
        store.sync_lease(harness.integration.id).await.unwrap(),
        None
    );
}
