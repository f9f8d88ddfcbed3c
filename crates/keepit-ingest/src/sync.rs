//! One sync pass over one integration.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use keepit_alerts::ChangeEvent;
use keepit_client::{AccountNode, AuditQuery, Connector, KeepitClient};
use keepit_domain::{
    AccountId, ConnectorId, FailureReason, Health, JobFamily, JobStatus, SnapshotKind,
};
use keepit_store::{
    AccountSyncBatch, AuditEventRecord, ConnectorFilter, ConnectorRecord, ConnectorStatusRecord,
    CursorKey, CursorMove, IntegrationId, JobQuery, JobRecord, KeepitAccountSighting, LeaseGrant,
    Store, StoredConnector, StoredConnectorStatus, SyncAccountError, SyncOutcome, SyncRunId,
    SyncRunSummary,
};

use crate::changes::{self, AccountHistory};
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

/// Renews the lease every third of its lifetime for as long as it is polled; returns
/// only when another process has taken the lease over. A renewal that fails for a
/// database error is retried at the next tick: the lease outlives two missed ones.
async fn keep_lease(
    store: &Store,
    integration: IntegrationId,
    holder: &str,
    config: &SyncConfig,
) -> Error {
    let period = (config.lease_ttl / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
    let requests_before = integration.client.requests_sent();
    let answers_before = integration.client.requests_by_status();
    let run = store.start_sync_run(Some(integration.id), now).await?;
    let mut summary = SyncRunSummary::new(SyncOutcome::Ok);
    let mut rows_written = 0;
    let mut all_changes = Vec::new();
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
                let present: Vec<AccountId> = accounts
                    .iter()
                    .map(|node| node.account.id.clone())
                    .collect();
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
            let mut results = stream::iter(accounts)
                .map(|node| {
                    let shutdown = shutdown.clone();
                    let pass = &pass;
                    async move {
                        if shutdown.is_requested() {
                            return None;
                        }
                        let account = node.account.id.clone();
                        Some((account, pass.account(&node).await))
                    }
                })
                .buffer_unordered(config.account_concurrency.max(1));
            while let Some(result) = results.next().await {
                match result {
                    None => interrupted = true,
                    Some((_, Ok(done))) => {
                        summary.connectors += done.connectors_seen;
                        summary.jobs_new += done.report.jobs.inserted;
                        summary.audit_events_new += done.report.audit_events.inserted;
                        rows_written += rows(&done.report);
                        all_changes.extend(done.changes);
                    }
                    Some((account, Err(error))) => {
                        tracing::warn!(%account, error = %chain(&error), "account sync failed");
                        summary.accounts_failed += 1;
                        summary.errors.push(SyncAccountError {
                            account: Some(account),
                            error: chain(&error),
                        });
                    }
                }
            }
            if summary.accounts_failed > 0 || interrupted {
                summary.outcome = if summary.accounts_failed == summary.accounts {
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
        .finish_sync_run(run, &summary, config.clock.now())
        .await?;
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
        changes: all_changes.len(),
        interrupted,
    })
}

fn rows(report: &keepit_store::AccountSyncReport) -> u64 {
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

/// The account tree, and the accounts whose children could not be listed.
struct Discovery {
    accounts: Vec<AccountNode>,
    failed: Vec<(AccountId, Error)>,
}

/// Checks the credentials, walks the tree and records every account as a customer.
///
/// Only a failure at the top (the credentials, the parent account) fails the pass. An
/// account whose children cannot be listed is reported as failed and skipped; the rest
/// of the tree is synced.
async fn discover(
    store: &Store,
    integration: &Integration,
    account_deadline: Duration,
    now: DateTime<Utc>,
) -> Result<Discovery> {
    let client = &integration.client;
    // whoami proves the credentials and the region before anything else.
    client.whoami().await?;
    // Keepit answers 404 for the children of an account it does not know, which the
    // walk would take for "no customers": ask for the parent itself first.
    match client.account(&integration.parent).await {
        Ok(_) => {}
        Err(
            source @ (keepit_client::Error::NotFound { .. }
            | keepit_client::Error::Forbidden { .. }),
        ) => {
            return Err(Error::ParentNotVisible {
                account: integration.parent.clone(),
                source,
            });
        }
        Err(error) => return Err(error.into()),
    }
    let mut accounts: Vec<AccountNode> = Vec::new();
    let mut failed: Vec<(AccountId, Error)> = Vec::new();
    let mut seen: HashSet<AccountId> = HashSet::from([integration.parent.clone()]);
    let mut level = vec![integration.parent.clone()];
    let mut depth = 0;
    while !level.is_empty() && depth < MAX_DEPTH {
        depth += 1;
        let listings: Vec<(AccountId, Result<Vec<keepit_client::ChildAccount>>)> =
            stream::iter(level.drain(..))
                .map(|parent| async move {
                    // A listing counts against its account's deadline like the rest of it.
                    let children = within(account_deadline, async {
                        Ok(client.child_accounts(&parent).await?)
                    })
                    .await;
                    (parent, children)
                })
                .buffered(8)
                .collect()
                .await;
        for (parent, listing) in listings {
            match listing {
                Ok(children) => {
                    for child in children {
                        if seen.insert(child.id.clone()) {
                            level.push(child.id.clone());
                            accounts.push(AccountNode {
                                account: child,
                                depth,
                            });
                        }
                    }
                }
                Err(error) if parent == integration.parent => return Err(error),
                Err(error) => failed.push((parent, error)),
            }
        }
    }
    for node in &accounts {
        let sighting = KeepitAccountSighting {
            integration: integration.id,
            account: node.account.id.clone(),
            parent: node.account.parent.clone(),
            company_name: node.account.display_name(),
            seen_at: now,
        };
        let outcome = store.sync_customer(&sighting).await?;
        tracing::debug!(account = %node.account.id, ?outcome, "customer matched");
    }
    let broken: HashSet<&AccountId> = failed.iter().map(|(account, _)| account).collect();
    let accounts = accounts
        .into_iter()
        .filter(|node| !broken.contains(&node.account.id))
        .collect();
    Ok(Discovery { accounts, failed })
}

/// Runs one account's work under the account deadline.
async fn within<T>(limit: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(Error::AccountDeadline { limit }))
}

/// Deepest account tree followed.
const MAX_DEPTH: usize = 16;

struct Pass<'a> {
    store: &'a Store,
    integration: &'a Integration,
    config: &'a SyncConfig,
    now: DateTime<Utc>,
}

struct AccountDone {
    report: keepit_store::AccountSyncReport,
    connectors_seen: u64,
    changes: Vec<ChangeEvent>,
}

/// What one connector contributed to its account's batch.
struct ConnectorDone {
    status: Option<ConnectorStatusRecord>,
    jobs: Vec<JobRecord>,
    cursor: Option<CursorMove>,
}

impl Pass<'_> {
    fn cursor_key(
        &self,
        account: &AccountId,
        connector: Option<&ConnectorId>,
        stream: &str,
    ) -> CursorKey {
        CursorKey {
            integration: self.integration.id,
            account: account.clone(),
            connector: connector.cloned(),
            stream: stream.to_owned(),
        }
    }

    async fn account(&self, node: &AccountNode) -> Result<AccountDone> {
        let account = &node.account.id;
        within(self.config.account_deadline, self.account_inner(node))
            .await
            .map_err(|source| Error::Account {
                account: account.clone(),
                source: Box::new(source),
            })
    }

    async fn account_inner(&self, node: &AccountNode) -> Result<AccountDone> {
        let client = &self.integration.client;
        let account = &node.account.id;
        let previous: HashMap<ConnectorId, (StoredConnector, Option<StoredConnectorStatus>)> = self
            .store
            .connectors_with_status(&ConnectorFilter {
                account: Some(account.clone()),
                include_removed: true,
                ..ConnectorFilter::default()
            })
            .await?
            .into_iter()
            .map(|(connector, status)| (connector.record.connector.clone(), (connector, status)))
            .collect();

        let connectors = client.connectors(account, true).await?;
        // One account-level call gives the last snapshot of every connector that has one.
        let summary = if connectors
            .iter()
            .any(|connector| connector.state().is_active())
        {
            client.backup_summary(account).await?
        } else {
            Vec::new()
        };
        let summary_supported = !summary.is_empty();
        let summary: HashMap<ConnectorId, keepit_client::BackupSummaryEntry> = summary
            .into_iter()
            .map(|entry| (entry.connector.clone(), entry))
            .collect();

        // Every cursor of the account in one query, instead of one per connector.
        let cursors: HashMap<(Option<ConnectorId>, String), DateTime<Utc>> = self
            .store
            .sync_cursors_of_account(self.integration.id, account)
            .await?
            .into_iter()
            .filter_map(|cursor| {
                let time = DateTime::parse_from_rfc3339(&cursor.position)
                    .ok()?
                    .with_timezone(&Utc);
                Some(((cursor.key.connector, cursor.key.stream), time))
            })
            .collect();
        let cursors = &cursors;
        let unfinished = self.unfinished_jobs(account).await?;
        let known_jobs = self.known_jobs(account).await?;
        let done: Vec<ConnectorDone> = stream::iter(connectors.iter())
            .map(|connector| {
                let previous = previous.get(&connector.id);
                let summary = summary.get(&connector.id);
                let unfinished = unfinished
                    .get(&connector.id)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                self.connector(
                    account,
                    connector,
                    previous,
                    summary,
                    summary_supported,
                    unfinished,
                    &known_jobs,
                    cursors,
                )
            })
            .buffered(self.config.connector_concurrency.max(1))
            .try_collect()
            .await?;

        let audit_key = self.cursor_key(account, None, AUDIT_STREAM);
        let audit_cursor = cursors.get(&(None, AUDIT_STREAM.to_owned())).copied();
        let audit_from = match audit_cursor {
            Some(cursor) => {
                (cursor - self.config.audit_overlap).max(self.now - self.config.audit_window)
            }
            None => self.now - self.config.audit_window,
        };
        let records: Vec<keepit_client::AuditRecord> = client
            .audit_log(
                AuditQuery::between(account.clone(), audit_from, self.now),
                self.config.audit_page_size,
            )
            .try_collect()
            .await?;
        let audit_events: Vec<AuditEventRecord> = records.iter().map(audit_record).collect();

        let records: Vec<ConnectorRecord> = connectors
            .iter()
            .map(|connector| connector_record(account, connector))
            .collect();
        let statuses: Vec<ConnectorStatusRecord> =
            done.iter().filter_map(|item| item.status.clone()).collect();
        let jobs: Vec<JobRecord> = done
            .iter()
            .flat_map(|item| item.jobs.iter().cloned())
            .collect();
        let mut cursors: Vec<CursorMove> =
            done.iter().filter_map(|item| item.cursor.clone()).collect();
        // The audit cursor is the newest record seen, so a pass that finds nothing new
        // leaves it (and the database) untouched; the next window starts at it minus
        // the overlap.
        let newest_audit = audit_events.iter().map(|event| event.time).max();
        if let Some(position) = advance(audit_cursor, newest_audit, self.now) {
            cursors.push(CursorMove {
                key: audit_key,
                position,
            });
        }

        let customer = self
            .store
            .keepit_account(account)
            .await?
            .and_then(|record| record.customer);
        let history = AccountHistory {
            synced_before: audit_cursor.is_some(),
            customer,
            previous: &previous,
            known_jobs: &known_jobs,
        };
        let changes = changes::detect(
            &history,
            node,
            &connectors,
            &statuses,
            &jobs,
            &audit_events,
            self.now,
        );

        let batch = AccountSyncBatch {
            account: account.clone(),
            connectors: records,
            connectors_complete: true,
            statuses,
            jobs,
            audit_events,
            cursors,
            now: self.now,
        };
        let report = self.store.commit_account_sync(&batch).await?;
        Ok(AccountDone {
            report,
            connectors_seen: connectors.len() as u64,
            changes,
        })
    }

    /// Stored jobs of the account that were still scheduled or running, by connector.
    async fn unfinished_jobs(
        &self,
        account: &AccountId,
    ) -> Result<HashMap<ConnectorId, Vec<keepit_domain::JobId>>> {
        let mut unfinished: HashMap<ConnectorId, Vec<keepit_domain::JobId>> = HashMap::new();
        let mut query = JobQuery {
            account: Some(account.clone()),
            statuses: vec![JobStatus::InProgress, JobStatus::Scheduled],
            limit: Some(JobQuery::MAX_LIMIT),
            ..JobQuery::default()
        };
        loop {
            let page = self.store.jobs(&query).await?;
            for job in page.jobs {
                // A job scheduled for later changes nothing until its start passes.
                if job.record.status == JobStatus::Scheduled && job.sort_time > self.now {
                    continue;
                }
                unfinished
                    .entry(job.record.connector.clone())
                    .or_default()
                    .push(job.record.job.clone());
            }
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(unfinished)
    }

    /// Jobs of the account stored with a start inside the history window, with their
    /// status, to tell new and newly finished jobs from known ones.
    async fn known_jobs(
        &self,
        account: &AccountId,
    ) -> Result<HashMap<keepit_domain::JobId, JobStatus>> {
        let mut known = HashMap::new();
        let mut query = JobQuery {
            account: Some(account.clone()),
            from: Some(self.now - self.config.first_sync_window - TimeDelta::days(1)),
            limit: Some(JobQuery::MAX_LIMIT),
            ..JobQuery::default()
        };
        loop {
            let page = self.store.jobs(&query).await?;
            for job in page.jobs {
                known.insert(job.record.job.clone(), job.record.status);
            }
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(known)
    }

    #[allow(clippy::too_many_arguments)] // One call site; a struct would only rename the list.
    async fn connector(
        &self,
        account: &AccountId,
        connector: &Connector,
        previous: Option<&(StoredConnector, Option<StoredConnectorStatus>)>,
        summary: Option<&keepit_client::BackupSummaryEntry>,
        summary_supported: bool,
        unfinished: &[keepit_domain::JobId],
        known: &HashMap<keepit_domain::JobId, JobStatus>,
        cursors: &HashMap<(Option<ConnectorId>, String), DateTime<Utc>>,
    ) -> Result<ConnectorDone> {
        if !connector.state().is_active() {
            // Inaccessible or leaving connectors are listed but not watched.
            return Ok(ConnectorDone {
                status: None,
                jobs: Vec::new(),
                cursor: None,
            });
        }
        let client = &self.integration.client;
        let previous_status = previous
            .and_then(|(_, status)| status.as_ref())
            .map(|stored| &stored.status);

        // Job history is read on every pass, from the cursor: it is the one signal that
        // a backup failed, and it costs one request when nothing happened.
        let jobs_key = self.cursor_key(account, Some(&connector.id), JOBS_STREAM);
        let jobs_cursor = cursors
            .get(&(Some(connector.id.clone()), JOBS_STREAM.to_owned()))
            .copied();
        let from = match jobs_cursor {
            Some(cursor) => cursor - self.config.job_overlap,
            None => self.now - self.config.first_sync_window,
        };
        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        let finished: Vec<keepit_client::Job> = client
            .job_history_windows(
                account.clone(),
                connector.id.clone(),
                from,
                self.now,
                self.config.job_window,
            )
            .try_collect()
            .await?;
        for job in finished {
            if seen.insert(job.id.clone()) {
                jobs.push(job_record(account, &connector.id, &job, self.now));
            }
        }
        let new_jobs = jobs
            .iter()
            .any(|job| known.get(&job.job) != Some(&job.status));

        // Health, error codes and running jobs change with jobs or with time: they are
        // read again when new jobs arrived, when something was running, and at least
        // every `refresh_every`.
        let refresh = previous_status
            .is_none_or(|status| self.now - status.checked_at >= self.config.refresh_every)
            || new_jobs
            || !unfinished.is_empty();
        let (health, error_code) = match previous_status {
            Some(status) if !refresh => (
                keepit_client::ConnectorHealth {
                    health: status.health,
                    reason: status.health_reason.clone(),
                },
                status.error_code.clone(),
            ),
            _ => {
                let health = client.connector_health(account, &connector.id).await?;
                // The status endpoint explains problems: a healthy connector has nothing
                // to explain, and an unhealthy one whose health and reason are unchanged
                // keeps the error code already stored.
                let unchanged = previous_status.filter(|status| {
                    status.health == health.health && status.health_reason == health.reason
                });
                let error_code = match (health.health, unchanged) {
                    (Health::Healthy, _) => None,
                    (_, Some(status)) => status.error_code.clone(),
                    (_, None) => client
                        .connector_status(account, &connector.id)
                        .await?
                        .and_then(|status| status.error_code().cloned()),
                };
                (health, error_code)
            }
        };
        if refresh {
            for job in client.active_jobs(account, &connector.id).await? {
                if seen.insert(job.id.clone()) {
                    jobs.push(job_record(account, &connector.id, &job, self.now));
                }
            }
            // Jobs stored as running that neither list mentions any more: ask for each.
            for id in unfinished.iter().filter(|id| !seen.contains(*id)) {
                match client.job(account, &connector.id, id).await {
                    Ok(job) => jobs.push(job_record(account, &connector.id, &job, self.now)),
                    Err(keepit_client::Error::NotFound { .. }) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        // History windows select finished jobs by their end, so the cursor is the newest end
        // seen (never past now: scheduled jobs can lie in the future).
        let newest = jobs
            .iter()
            .filter_map(JobRecord::ended_at)
            .filter(|ended| *ended <= self.now)
            .max();
        let cursor = advance(jobs_cursor, newest, self.now).map(|position| CursorMove {
            key: jobs_key,
            position,
        });

        let snapshot = match summary {
            Some(entry) => (
                entry.last_snapshot_at,
                entry.last_snapshot_at.map(|_| {
                    if entry.last_complete_snapshot_at == entry.last_snapshot_at {
                        SnapshotKind::Complete
                    } else {
                        SnapshotKind::Partial
                    }
                }),
                entry.last_snapshot_size,
                entry.last_complete_snapshot_at,
            ),
            None if summary_supported => (None, None, None, None),
            None => match client.latest_snapshot(account, &connector.id).await? {
                Some(snapshot) => {
                    let complete =
                        (snapshot.kind == SnapshotKind::Complete).then_some(snapshot.taken_at);
                    (
                        Some(snapshot.taken_at),
                        Some(snapshot.kind),
                        snapshot.size,
                        complete,
                    )
                }
                None => (None, None, None, None),
            },
        };
        let status = status_record(
            connector,
            previous_status,
            &health,
            error_code,
            &jobs,
            snapshot,
            self.now,
        );
        Ok(ConnectorDone {
            status: Some(status),
            jobs,
            cursor,
        })
    }
}

/// The new position of a time cursor: the newest item seen when it is past the
/// cursor; `now` for a stream read for the first time that had nothing; otherwise
/// no move, so a pass that found nothing new writes nothing.
fn advance(
    cursor: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    match (cursor, newest) {
        (None, None) => Some(now.to_rfc3339()),
        (None, Some(newest)) => Some(newest.to_rfc3339()),
        (Some(cursor), Some(newest)) if newest > cursor => Some(newest.to_rfc3339()),
        (Some(_), _) => None,
    }
}

fn connector_record(account: &AccountId, connector: &Connector) -> ConnectorRecord {
    ConnectorRecord {
        connector: connector.id.clone(),
        account: account.clone(),
        name: connector.name.clone(),
        kind: connector.kind.clone(),
        created: connector.created,
        accessible: connector.accessible,
        deletion_deadline: connector.deletion_deadline,
        backup_retention: connector.backup_retention.clone(),
    }
}

pub(crate) fn job_record(
    account: &AccountId,
    connector: &ConnectorId,
    job: &keepit_client::Job,
    now: DateTime<Utc>,
) -> JobRecord {
    JobRecord {
        job: job.id.clone(),
        connector: connector.clone(),
        account: account.clone(),
        job_type: job.job_type.clone(),
        status: job.status(now),
        active: job.active,
        scheduled: job.scheduled,
        start: job.start,
        dispatched: job.dispatched,
        started: job.started,
        succeeded: job.succeeded,
        failed: job.failed,
        cancelled: job.cancelled,
        progress: job.progress,
        snapshot_at: job.snapshot_time,
        statistics: job.statistics,
        failure_reason: job.failure_reason(now),
        failure_summary: job.summary.clone(),
        description: job.description.clone(),
        raw_stats: job.raw_stats.clone(),
    }
}

type SnapshotFacts = (
    Option<DateTime<Utc>>,
    Option<SnapshotKind>,
    Option<u64>,
    Option<DateTime<Utc>>,
);

fn status_record(
    connector: &Connector,
    previous: Option<&ConnectorStatusRecord>,
    health: &keepit_client::ConnectorHealth,
    error_code: Option<keepit_domain::ConnectorErrorCode>,
    jobs: &[JobRecord],
    (snapshot_at, snapshot_kind, snapshot_size, complete_at): SnapshotFacts,
    now: DateTime<Utc>,
) -> ConnectorStatusRecord {
    let backups: Vec<&JobRecord> = jobs
        .iter()
        .filter(|job| job.job_type.family() == JobFamily::Backup)
        .collect();
    let latest_finished = backups
        .iter()
        .filter(|job| job.status.is_finished())
        .max_by_key(|job| job.ended_at());
    let newest_success = backups
        .iter()
        .filter(|job| job.status == JobStatus::Successful)
        .filter_map(|job| job.ended_at())
        .max();
    let last_successful_backup_at = [
        previous.and_then(|status| status.last_successful_backup_at),
        newest_success,
        complete_at,
    ]
    .into_iter()
    .flatten()
    .max();
    let newest_attempt = backups
        .iter()
        .filter_map(|job| job.ended_at().or(job.started))
        .max();
    let last_attempt_at = [
        previous.and_then(|status| status.last_attempt_at),
        newest_attempt,
    ]
    .into_iter()
    .flatten()
    .max();
    let last_job_status = match latest_finished {
        Some(job) => Some(job.status),
        None => previous.and_then(|status| status.last_job_status),
    };
    let failure_reason = error_code
        .as_ref()
        .map(|code| FailureReason::from_error_code(code, Some(&connector.kind)))
        .or_else(|| health.failure_reason())
        .or_else(|| match latest_finished {
            Some(job) if job.status.needs_attention() => job.failure_reason.clone(),
            Some(_) => None,
            // No backup finished since the last look: the latest known outcome still stands.
            None => previous.and_then(|status| status.failure_reason.clone()),
        });
    ConnectorStatusRecord {
        connector: connector.id.clone(),
        latest_snapshot_at: snapshot_at,
        latest_snapshot_kind: snapshot_kind,
        latest_snapshot_size: snapshot_size,
        last_successful_backup_at,
        last_job_status,
        last_attempt_at,
        health: health.health,
        health_reason: health.reason.clone(),
        error_code,
        failure_reason,
        checked_at: now,
    }
}

fn audit_record(record: &keepit_client::AuditRecord) -> AuditEventRecord {
    AuditEventRecord {
        time: record.time,
        account: record.account.clone(),
        connector: record.connector.clone(),
        actor: record.actor_display(),
        client_ip: record.client_ip.clone(),
        acl: record.acl.clone().unwrap_or_default(),
        method: record.method.clone().unwrap_or_default(),
        allowed: record.allowed,
        succeeded: record.succeeded,
        area: record.area.clone().unwrap_or_default(),
        category: record.category(),
        message: record.message.clone().unwrap_or_default(),
        metadata: record.metadata.clone(),
    }
}
