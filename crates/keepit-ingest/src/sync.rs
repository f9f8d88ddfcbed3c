//! One sync pass over one integration.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use keepit_alerts::ChangeEvent;
use keepit_client::KeepitClient;
use keepit_domain::AccountId;
use keepit_store::{
    IntegrationId, LeaseGrant, PassAccount, PassAccountRecord, PassAccountState, Store,
    SyncAccountError, SyncOutcome, SyncRunId, SyncRunSummary,
};

use crate::config::SyncConfig;
use crate::error::{Error, Result, chain};
use crate::hook::{PassContext, PassHook};
use crate::lease::{self, LeaseHolder};
use crate::schedule::Shutdown;

const JOBS_STREAM: &str = "jobs";
const AUDIT_STREAM: &str = "audit";

/// The integration a pass syncs: its id, its parent account and a client for it.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The store's id of the integration.
    pub id: IntegrationId,
    /// The MSP's parent account.
    pub parent: AccountId,
    /// A client signed in with the integration's credentials.
    pub client: KeepitClient,
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The `sync_runs` row of the pass.
    pub run: SyncRunId,
    /// ok, partial or failed.
    pub outcome: SyncOutcome,
    /// Accounts visited.
    pub accounts: u64,
    /// Accounts that failed.
    pub accounts_failed: u64,
    /// Connectors seen.
    pub connectors: u64,
    /// Jobs stored for the first time.
    pub jobs_new: u64,
    /// Audit events stored for the first time.
    pub audit_events_new: u64,
    /// Rows inserted or changed, all tables of the synced data together.
    pub rows_written: u64,
    /// Requests sent to Keepit, retries included.
    pub requests: u64,
    /// Wall time of the pass.
    pub duration: Duration,
    /// One entry per failed account (or for the pass itself, without an account).
    pub errors: Vec<SyncAccountError>,
    /// Changes found, for messages.
    pub changes: usize,
    /// Whether the pass stopped early because shutdown was requested.
    pub interrupted: bool,
}

/// Runs one pass over `integration`. See the crate documentation for the steps.
///
/// Returns an error only when the pass could not be recorded at all (the database is
/// unreachable) or another process holds the integration's lease; every Keepit failure
/// is recorded in the report and the `sync_runs` row instead.
pub async fn sync_once<H: PassHook>(
    store: &Store,
    integration: &Integration,
    config: &SyncConfig,
    hook: &H,
    shutdown: &Shutdown,
) -> Result<SyncReport> {
    if shutdown.is_requested() {
        return Err(Error::ShutDown);
    }
    let started = Instant::now();
    let now = config.clock.now();
    let holder = config.holder.stored();
    acquire_lease(store, integration.id, &holder, config.lease_ttl, now).await?;
    let abandoned = store.close_abandoned_sync_runs(integration.id, now).await?;
    if abandoned > 0 {
        tracing::warn!(
            runs = abandoned,
            "closed sync runs left running by a process that died"
        );
    }
    let pass = run_pass(store, integration, config, hook, shutdown, now, started);
    let result = tokio::select! {
        biased;
        result = pass => result,
        lost = keep_lease(store, integration.id, &holder, config) => Err(lost),
    };
    if !matches!(result, Err(Error::LeaseLost { .. }))
        && let Err(error) = store.release_sync_lease(integration.id, &holder).await
    {
        tracing::warn!(error = %chain(&error), "could not release the sync lease; it expires by itself");
    }
    result
}

/// Takes the integration's lease, from a dead holder on this host too.
async fn acquire_lease(
    store: &Store,
    integration: IntegrationId,
    holder: &str,
    ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<()> {
    let grant = match store
        .acquire_sync_lease(integration, holder, now, ttl)
        .await?
    {
        LeaseGrant::Held {
            holder: previous, ..
        } if LeaseHolder::parse(&previous).is_some_and(|other| other.is_dead_here()) => {
            tracing::warn!(
                previous = %lease::describe(&previous),
                "the sync lease is held by a process of this host that no longer runs; taking it over"
            );
            store
                .take_over_sync_lease(integration, &previous, holder, now, ttl)
                .await?
        }
        grant => grant,
    };
    match grant {
        LeaseGrant::Acquired => Ok(()),
        LeaseGrant::Held {
            holder: other,
            expires_at,
        } => Err(Error::LeaseHeld {
            holder: lease::describe(&other),
            until: expires_at,
        }),
    }
}

/// Ticks every third of a lease's lifetime, the first a third from now: a lease (or a
/// claim) renewed on them outlives two missed renewals.
pub(super) fn renewals(ttl: TimeDelta) -> tokio::time::Interval {
    let period = (ttl / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Renews the lease every third of its lifetime for as long as it is polled; returns
/// only when another process has taken the lease over. A renewal that fails for a
/// database error is retried at the next tick: the lease outlives two missed ones.
async fn keep_lease(
    store: &Store,
    integration: IntegrationId,
    holder: &str,
    config: &SyncConfig,
) -> Error {
    let mut ticks = renewals(config.lease_ttl);
    loop {
        ticks.tick().await;
        match store
            .renew_sync_lease(integration, holder, config.clock.now(), config.lease_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                let holder = match store.sync_lease(integration).await {
                    Ok(Some((holder, _))) => lease::describe(&holder),
                    _ => "another process".to_owned(),
                };
                tracing::error!(%holder, "the sync lease was taken over; stopping this pass");
                return Error::LeaseLost { holder };
            }
            Err(error) => {
                tracing::warn!(error = %chain(&error), "could not renew the sync lease; trying again");
            }
        }
    }
}

async fn run_pass<H: PassHook>(
    store: &Store,
    integration: &Integration,
    config: &SyncConfig,
    hook: &H,
    shutdown: &Shutdown,
    now: DateTime<Utc>,
    started: Instant,
) -> Result<SyncReport> {
    config.progress.start();
    let requests_before = integration.client.requests_sent();
    let answers_before = integration.client.requests_by_status();
    let run = store
        .start_sync_run(Some(integration.id), config.clock.exact())
        .await?;
    let mut summary = SyncRunSummary::new(SyncOutcome::Ok);
    let mut rows_written = 0;
    let mut all_changes = Vec::new();
    let mut changes_found = 0;
    let mut interrupted = false;

    match discover(store, integration, config.account_deadline, now).await {
        Err(error) => {
            tracing::error!(error = %chain(&error), "sync pass failed before any account");
            summary.outcome = SyncOutcome::Failed;
            summary.errors.push(SyncAccountError {
                account: None,
                error: chain(&error),
            });
        }
        Ok(Discovery { accounts, failed }) => {
            summary.accounts = (accounts.len() + failed.len()) as u64;
            // Only a complete walk says who left: below a listing that failed, the
            // accounts are unknown, not gone.
            if failed.is_empty() {
                let present: Vec<AccountId> =
                    accounts.iter().map(|node| node.account.clone()).collect();
                match store
                    .mark_accounts_removed(integration.id, &present, now)
                    .await
                {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::info!(
                            removed,
                            "customer accounts left the tree; their alerts resolved"
                        );
                    }
                    // Departures wait for the next complete walk; the pass goes on.
                    Err(error) => {
                        tracing::warn!(error = %chain(&error), "could not mark departed accounts");
                        summary.errors.push(SyncAccountError {
                            account: None,
                            error: format!("departed accounts not marked: {}", chain(&error)),
                        });
                    }
                }
            }
            for (account, error) in failed {
                tracing::warn!(%account, error = %chain(&error), "account could not be listed");
                summary.accounts_failed += 1;
                summary.errors.push(SyncAccountError {
                    account: Some(account),
                    error: chain(&error),
                });
            }
            let pass = Pass {
                store,
                integration,
                config,
                now,
            };
            let led = lead(&pass, run, &accounts, hook, shutdown).await;
            let mut done = 0u64;
            interrupted = led.interrupted;
            all_changes = led.changes;
            for row in led.rows {
                changes_found += row.result.changes;
                match row.state {
                    PassAccountState::Done => {
                        done += 1;
                        summary.connectors += row.result.connectors;
                        summary.jobs_new += row.result.jobs_new;
                        summary.audit_events_new += row.result.audit_events_new;
                        rows_written += row.result.rows_written;
                    }
                    PassAccountState::Failed => {
                        summary.accounts_failed += 1;
                        summary.errors.push(SyncAccountError {
                            account: Some(row.account),
                            error: row.result.error.unwrap_or_default(),
                        });
                    }
                    // Left when the pass stopped early.
                    PassAccountState::Pending | PassAccountState::Claimed => {
                        interrupted = true;
                    }
                }
            }
            let shared_out = led.error.is_none();
            if let Some(error) = led.error {
                tracing::error!(error = %chain(&error), "the pass's accounts could not all be shared out");
                summary.errors.push(SyncAccountError {
                    account: None,
                    error: chain(&error),
                });
                interrupted = true;
            }
            if summary.accounts_failed > 0 || interrupted {
                summary.outcome =
                    if summary.accounts_failed == summary.accounts || (!shared_out && done == 0) {
                        SyncOutcome::Failed
                    } else {
                        SyncOutcome::Partial
                    };
            }
        }
    }

    match hook
        .after_pass(PassContext {
            store,
            integration: integration.id,
            changes: &all_changes,
            now,
        })
        .await
    {
        Ok(notes) => {
            for notice in notes.notices {
                tracing::warn!(%notice, "after the pass");
                summary.errors.push(SyncAccountError {
                    account: None,
                    error: notice,
                });
            }
        }
        Err(error) => {
            // The data is stored, but alerts may be stale: the pass is not "ok".
            let error = chain(&error);
            tracing::error!(%error, "alert evaluation after the pass failed");
            summary.errors.push(SyncAccountError {
                account: None,
                error: format!("alert evaluation failed: {error}"),
            });
            if summary.outcome == SyncOutcome::Ok {
                summary.outcome = SyncOutcome::Partial;
            }
        }
    }

    // Retention: what is older than the configured period goes, a batch at a time.
    match store.purge_expired(&config.retention, now).await {
        Ok(purged) if purged.audit_events + purged.sync_runs > 0 => {
            tracing::info!(
                audit_events = purged.audit_events,
                sync_runs = purged.sync_runs,
                "purged what is past its retention"
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(error = %chain(&error), "could not purge what is past its retention");
        }
    }

    summary.requests = integration.client.requests_sent() - requests_before;
    summary.requests_by_status = integration
        .client
        .requests_by_status()
        .into_iter()
        .map(|(answer, count)| {
            let before = answers_before.get(&answer).copied().unwrap_or(0);
            (answer, count.saturating_sub(before))
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    store
        .finish_sync_run(run, &summary, config.clock.exact())
        .await?;
    if let Err(error) = store.clear_pass_accounts(run).await {
        tracing::warn!(error = %chain(&error), "could not clear the pass's work list; the next pass's leader does");
    }
    Ok(SyncReport {
        run,
        outcome: summary.outcome,
        accounts: summary.accounts,
        accounts_failed: summary.accounts_failed,
        connectors: summary.connectors,
        jobs_new: summary.jobs_new,
        audit_events_new: summary.audit_events_new,
        rows_written,
        requests: summary.requests,
        duration: started.elapsed(),
        errors: summary.errors,
        changes: usize::try_from(changes_found).unwrap_or(usize::MAX),
        interrupted,
    })
}

/// How often the leader of a pass looks whether the accounts other workers hold are
/// done (or their claims expired) once none is left to claim.
const WAIT_FOR_HELPERS: Duration = Duration::from_millis(250);

/// The accounts of a pass after its leader has seen them all finished.
struct Led {
    rows: Vec<PassAccountRecord>,
    changes: Vec<ChangeEvent>,
    interrupted: bool,
    /// Why sharing the accounts out stopped early, if it did.
    error: Option<Error>,
}

/// Publishes the pass's accounts, syncs them with whatever other workers join, and
/// waits until every account is finished; an account whose worker dies is claimed again
/// when its claim expires.
async fn lead<H: PassHook>(
    pass: &Pass<'_>,
    run: SyncRunId,
    accounts: &[PassAccount],
    hook: &H,
    shutdown: &Shutdown,
) -> Led {
    let store = pass.store;
    let mut changes = Vec::new();
    let mut interrupted = false;
    // The changes found are kept whatever fails later: their data is committed, and
    // the next pass would not find them again.
    let shared = async {
        store
            .publish_pass_accounts(run, pass.integration.id, accounts)
            .await?;
        pass.config.progress.set_total(accounts.len() as u64);
        loop {
            let (worked, failure) = pass.work(run, hook, Role::Lead, shutdown).await;
            changes.extend(worked.changes);
            if let Some(error) = failure {
                return Err(error);
            }
            if shutdown.is_requested() {
                // Nobody starts another account of this pass; those in hand finish.
                store.withdraw_pass_accounts(run).await?;
                interrupted = true;
                return Ok(());
            }
            let unfinished = store.unfinished_pass_accounts(run).await?;
            pass.config
                .progress
                .done_at_least((accounts.len() as u64).saturating_sub(unfinished));
            if unfinished == 0 {
                return Ok(());
            }
            let mut stop = shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep(WAIT_FOR_HELPERS) => {}
                () = stop.requested() => {}
            }
        }
    };
    let mut error: Option<Error> = shared.await.err();
    let rows = match store.pass_accounts(run).await {
        Ok(rows) => rows,
        Err(failure) => {
            error.get_or_insert(failure.into());
            Vec::new()
        }
    };
    Led {
        rows,
        changes,
        interrupted,
        error,
    }
}

/// What a worker did in a pass another worker leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpReport {
    /// The pass (its `sync_runs` row belongs to the leader).
    pub run: SyncRunId,
    /// Accounts this worker synced, failed ones included.
    pub accounts: u64,
    /// Of those, the ones that failed.
    pub accounts_failed: u64,
    /// Requests this worker sent to Keepit, retries included.
    pub requests: u64,
    /// How long it helped.
    pub duration: Duration,
}

/// Joins a pass of `integration` that another worker leads, if one has accounts left
/// to claim, and syncs accounts of it until none is left. `None` when there was nothing
/// to help with.
///
/// The leader walked the tree and runs the alert evaluation and retention at the end;
/// this worker only syncs accounts, each committed with its cursors as in a pass of its
/// own, and stores the messages for what changed in them through
/// [`PassHook::record_changes`]. Several workers need PostgreSQL: on SQLite, one
/// process syncs at a time.
pub async fn help_pass<H: PassHook>(
    store: &Store,
    integration: &Integration,
    config: &SyncConfig,
    hook: &H,
    shutdown: &Shutdown,
) -> Result<Option<HelpReport>> {
    if shutdown.is_requested() {
        return Ok(None);
    }
    let Some(run) = store.open_pass(integration.id, Utc::now()).await? else {
        return Ok(None);
    };
    let started = Instant::now();
    let requests_before = integration.client.requests_sent();
    // The leader's clock decides the pass's windows, so every account of it reads the
    // same ones whoever syncs it.
    let now = store.sync_run(run).await?.started_at;
    let pass = Pass {
        store,
        integration,
        config,
        now,
    };
    let (worked, failure) = pass.work(run, hook, Role::Help, shutdown).await;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(Some(HelpReport {
        run,
        accounts: worked.accounts,
        accounts_failed: worked.failed,
        requests: integration.client.requests_sent() - requests_before,
        duration: started.elapsed(),
    }))
}

pub(super) fn rows(report: &keepit_store::AccountSyncReport) -> u64 {
    let counts = [
        report.connectors,
        report.statuses,
        report.jobs,
        report.audit_events,
    ];
    counts
        .iter()
        .map(|count| count.inserted + count.changed)
        .sum::<u64>()
        + report.connectors_removed
        + report.cursors_moved
}

/// Runs one account's work under the account deadline.
async fn within<T>(limit: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(Error::AccountDeadline { limit }))
}

mod account;
mod connector;
mod discovery;
mod records;
mod work;

use account::Pass;
use discovery::{Discovery, discover};
use work::Role;
