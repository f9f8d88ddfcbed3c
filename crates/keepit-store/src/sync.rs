//! Sync bookkeeping: runs, cursors, leases, and the one transaction per account that
//! stores a sync's data together with the cursors that cover it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{AccountId, ConnectorId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionOptions, TransactionTrait,
};

use crate::audit::{AuditEventRecord, upsert_audit_events};
use crate::connectors::{
    ConnectorRecord, ConnectorStatusRecord, mark_connectors_removed, upsert_connectors,
    upsert_statuses,
};
use crate::convert::{account_id, micros};
use crate::entity::{integration, sync_cursor, sync_lease, sync_run, sync_run_request};
use crate::error::{Error, Result};
use crate::ids::{IntegrationId, SyncRunId};
use crate::jobs::{JobRecord, upsert_jobs};
use crate::store::Store;
use crate::upsert::UpsertCounts;

/// The answer to a request for a sync lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// The caller holds the lease now.
    Acquired,
    /// Another holder has it.
    Held {
        /// The holder as it stored itself.
        holder: String,
        /// When the lease expires unless it is renewed.
        expires_at: DateTime<Utc>,
    },
}

/// How a sync run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Still running (or died without finishing).
    Running,
    /// Every account synced.
    Ok,
    /// Some accounts failed; the others were stored.
    Partial,
    /// Nothing could be synced.
    Failed,
    /// The process running it died; the run was closed when its lease was taken over.
    Abandoned,
}

impl SyncOutcome {
    /// Every outcome.
    pub const ALL: [SyncOutcome; 5] = [
        SyncOutcome::Running,
        SyncOutcome::Ok,
        SyncOutcome::Partial,
        SyncOutcome::Failed,
        SyncOutcome::Abandoned,
    ];

    /// The stored and wire form: `running`, `ok`, `partial`, `failed`, `abandoned`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncOutcome::Running => "running",
            SyncOutcome::Ok => "ok",
            SyncOutcome::Partial => "partial",
            SyncOutcome::Failed => "failed",
            SyncOutcome::Abandoned => "abandoned",
        }
    }

    /// Parses [`SyncOutcome::as_str`]'s form.
    pub fn parse(text: &str) -> Option<SyncOutcome> {
        SyncOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// Why one account could not be synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAccountError {
    /// The account (none when the failure was before any account, e.g. login).
    pub account: Option<AccountId>,
    /// What went wrong, for people.
    pub error: String,
}

/// The counts and errors of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRunSummary {
    /// How it ended.
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
    /// Requests made to Keepit.
    pub requests: u64,
    /// The same requests by how Keepit answered: the HTTP status (`"200"`, `"429"`) or
    /// `"no_answer"` when the connection failed or timed out.
    pub requests_by_status: BTreeMap<String, u64>,
    /// One entry per failed account.
    pub errors: Vec<SyncAccountError>,
}

impl SyncRunSummary {
    /// A summary with no counts yet.
    pub fn new(outcome: SyncOutcome) -> SyncRunSummary {
        SyncRunSummary {
            outcome,
            accounts: 0,
            accounts_failed: 0,
            connectors: 0,
            jobs_new: 0,
            audit_events_new: 0,
            requests: 0,
            requests_by_status: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

/// The bounds of the sync duration histogram: a pass takes seconds for a small MSP and
/// may take most of an hour for thousands of connectors. Totals of purged runs are kept
/// per bound, so changing them needs a migration that recounts `sync_run_totals`.
pub const SYNC_DURATION_BOUNDS: [std::time::Duration; 10] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(5),
    std::time::Duration::from_secs(15),
    std::time::Duration::from_secs(30),
    std::time::Duration::from_secs(60),
    std::time::Duration::from_secs(120),
    std::time::Duration::from_secs(300),
    std::time::Duration::from_secs(600),
    std::time::Duration::from_secs(1_800),
    std::time::Duration::from_secs(3_600),
];

/// Totals over every sync run ever recorded, purged ones included; see
/// [`Store::sync_run_totals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRunTotals {
    /// Finished runs by outcome (`ok`, `partial`, `failed`, `abandoned`). Only grows.
    pub runs_by_outcome: BTreeMap<String, u64>,
    /// Runs started and not finished (a gauge: it goes down when they finish).
    pub running: u64,
    /// How long the finished runs took, against [`SYNC_DURATION_BOUNDS`]. Only grows.
    pub durations: DurationHistogram,
    /// Keepit requests by answer, as in [`SyncRunSummary::requests_by_status`]. Only
    /// grows.
    pub requests_by_status: BTreeMap<String, u64>,
}

impl SyncRunTotals {
    /// The totals as named figures, the form `sync_run_totals` keeps them in.
    fn named(&self) -> Vec<(String, u64)> {
        let mut named: Vec<(String, u64)> = self
            .runs_by_outcome
            .iter()
            .map(|(outcome, n)| (format!("runs:{outcome}"), *n))
            .chain(
                self.requests_by_status
                    .iter()
                    .map(|(status, n)| (format!("requests:{status}"), *n)),
            )
            .collect();
        named.push(("duration:count".to_owned(), self.durations.count));
        named.push((
            "duration:sum_ms".to_owned(),
            u64::try_from(self.durations.sum.as_millis()).unwrap_or(u64::MAX),
        ));
        for (bound, n) in &self.durations.buckets {
            named.push((format!("duration:le_ms:{}", bound.as_millis()), *n));
        }
        named
    }

    /// Adds named figures (as [`SyncRunTotals::named`] writes them) to these totals.
    /// Names this version does not know are skipped.
    fn add_named(&mut self, name: &str, value: u64) {
        if let Some(outcome) = name.strip_prefix("runs:") {
            *self.runs_by_outcome.entry(outcome.to_owned()).or_default() += value;
        } else if let Some(status) = name.strip_prefix("requests:") {
            *self
                .requests_by_status
                .entry(status.to_owned())
                .or_default() += value;
        } else if name == "duration:count" {
            self.durations.count += value;
        } else if name == "duration:sum_ms" {
            self.durations.sum += std::time::Duration::from_millis(value);
        } else if let Some(bound) = name
            .strip_prefix("duration:le_ms:")
            .and_then(|ms| ms.parse::<u64>().ok())
            && let Some((_, n)) = self
                .durations
                .buckets
                .iter_mut()
                .find(|(b, _)| b.as_millis() == u128::from(bound))
        {
            *n += value;
        }
    }
}

/// A cumulative histogram of durations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Each bound with how many durations were at most that long.
    pub buckets: Vec<(std::time::Duration, u64)>,
    /// How many durations there are.
    pub count: u64,
    /// Their sum.
    pub sum: std::time::Duration,
}

/// A stored sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRunRecord {
    /// Row id.
    pub id: SyncRunId,
    /// The integration synced (none for an ad-hoc run).
    pub integration: Option<IntegrationId>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Outcome and counts.
    pub summary: SyncRunSummary,
}

fn to_i64(value: u64) -> i64 {
    crate::convert::to_i64(value)
}

impl TryFrom<sync_run::Model> for SyncRunRecord {
    type Error = Error;
    fn try_from(model: sync_run::Model) -> Result<Self> {
        let table = "sync_runs";
        let errors: Vec<serde_json::Value> = serde_json::from_str(&model.errors)
            .map_err(|e| Error::corrupt(table, "errors", &model.errors, e))?;
        let errors = errors
            .into_iter()
            .map(|entry| {
                let account = entry
                    .get("account")
                    .and_then(serde_json::Value::as_str)
                    .map(|guid| account_id(table, "errors", guid))
                    .transpose()?;
                let error = entry
                    .get("error")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Ok(SyncAccountError { account, error })
            })
            .collect::<Result<Vec<_>>>()?;
        let count = crate::convert::to_u64;
        Ok(SyncRunRecord {
            id: SyncRunId(model.id),
            integration: model.integration_id.map(IntegrationId),
            started_at: model.started_at,
            finished_at: model.finished_at,
            summary: SyncRunSummary {
                outcome: SyncOutcome::parse(&model.outcome).ok_or_else(|| {
                    Error::corrupt(table, "outcome", &model.outcome, "unknown outcome")
                })?,
                accounts: count(model.accounts),
                accounts_failed: count(model.accounts_failed),
                connectors: count(model.connectors),
                jobs_new: count(model.jobs_new),
                audit_events_new: count(model.audit_events_new),
                requests: count(model.requests),
                requests_by_status: BTreeMap::new(),
                errors,
            },
        })
    }
}

/// Names one sync cursor: a stream of one account (or of one of its connectors).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CursorKey {
    /// The integration.
    pub integration: IntegrationId,
    /// The account.
    pub account: AccountId,
    /// The connector, for per-connector streams.
    pub connector: Option<ConnectorId>,
    /// The stream ("jobs", "audit", ...).
    pub stream: String,
}

/// A cursor position to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorMove {
    /// Which cursor.
    pub key: CursorKey,
    /// Its new position (for time windows, an RFC 3339 time).
    pub position: String,
}

/// Everything one account's sync learned, committed in one transaction.
#[derive(Debug, Clone)]
pub struct AccountSyncBatch {
    /// The account.
    pub account: AccountId,
    /// Its connectors.
    pub connectors: Vec<ConnectorRecord>,
    /// When `true`, `connectors` is the complete listing: stored connectors of the
    /// account that are missing from it are marked removed.
    pub connectors_complete: bool,
    /// Their statuses.
    pub statuses: Vec<ConnectorStatusRecord>,
    /// Jobs.
    pub jobs: Vec<JobRecord>,
    /// Audit events.
    pub audit_events: Vec<AuditEventRecord>,
    /// Cursors that this data moves.
    pub cursors: Vec<CursorMove>,
    /// The sync's clock.
    pub now: DateTime<Utc>,
}

/// What [`Store::commit_account_sync`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountSyncReport {
    /// Connectors inserted and changed.
    pub connectors: UpsertCounts,
    /// Connectors marked removed.
    pub connectors_removed: u64,
    /// Statuses inserted and changed.
    pub statuses: UpsertCounts,
    /// Jobs inserted and changed.
    pub jobs: UpsertCounts,
    /// Audit events inserted.
    pub audit_events: UpsertCounts,
    /// Cursors created or moved.
    pub cursors_moved: u64,
}

async fn move_cursors<C: ConnectionTrait>(
    conn: &C,
    moves: &[CursorMove],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut moved = 0;
    for chunk in moves.chunks(500) {
        let models = chunk.iter().map(|m| sync_cursor::ActiveModel {
            integration_id: Set(m.key.integration.0),
            account_guid: Set(m.key.account.to_string()),
            connector_guid: Set(m
                .key
                .connector
                .as_ref()
                .map_or_else(String::new, ToString::to_string)),
            stream: Set(m.key.stream.clone()),
            position: Set(m.position.clone()),
            updated_at: Set(now),
            ..Default::default()
        });
        moved += sync_cursor::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([
                    sync_cursor::Column::IntegrationId,
                    sync_cursor::Column::AccountGuid,
                    sync_cursor::Column::ConnectorGuid,
                    sync_cursor::Column::Stream,
                ])
                .update_columns([
                    sync_cursor::Column::Position,
                    sync_cursor::Column::UpdatedAt,
                ])
                .action_and_where(Expr::cust(crate::convert::distinct_from_excluded(
                    "sync_cursors",
                    &["position"],
                )))
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(moved)
}

impl Store {
    /// Stores one account's connectors, statuses, jobs and audit events and moves its
    /// cursors, all in one transaction: if any write fails, nothing changes, and the
    /// cursors stay where they were.
    pub async fn commit_account_sync(&self, batch: &AccountSyncBatch) -> Result<AccountSyncReport> {
        for cursor in &batch.cursors {
            if cursor.key.account != batch.account {
                return Err(Error::invalid(
                    "cursor",
                    format!(
                        "cursor of account {} in the batch of account {}",
                        cursor.key.account, batch.account
                    ),
                ));
            }
        }
        let now = micros(batch.now);
        let txn = self.begin_write().await?;
        let mut report = AccountSyncReport {
            connectors: upsert_connectors(&txn, &batch.connectors, now).await?,
            ..AccountSyncReport::default()
        };
        if batch.connectors_complete {
            let present: Vec<ConnectorId> = batch
                .connectors
                .iter()
                .map(|c| c.connector.clone())
                .collect();
            report.connectors_removed =
                mark_connectors_removed(&txn, &batch.account, &present, now).await?;
        }
        report.statuses = upsert_statuses(&txn, &batch.statuses, now).await?;
        report.jobs = upsert_jobs(&txn, &batch.jobs, now).await?;
        report.audit_events = upsert_audit_events(&txn, &batch.audit_events, now).await?;
        report.cursors_moved = move_cursors(&txn, &batch.cursors, now).await?;
        txn.commit().await?;
        Ok(report)
    }

    /// Every cursor of one account of an integration, in one query: the account's own
    /// streams and those of its connectors.
    pub async fn sync_cursors_of_account(
        &self,
        integration: IntegrationId,
        account: &AccountId,
    ) -> Result<Vec<CursorMove>> {
        let rows: Vec<(String, String, String)> = sync_cursor::Entity::find()
            .select_only()
            .column(sync_cursor::Column::ConnectorGuid)
            .column(sync_cursor::Column::Stream)
            .column(sync_cursor::Column::Position)
            .filter(sync_cursor::Column::IntegrationId.eq(integration.0))
            .filter(sync_cursor::Column::AccountGuid.eq(account.as_str()))
            .into_tuple()
            .all(self.db())
            .await?;
        rows.into_iter()
            .map(|(connector, stream, position)| {
                let connector = if connector.is_empty() {
                    None
                } else {
                    Some(crate::convert::connector_id(
                        "sync_cursors",
                        "connector_guid",
                        &connector,
                    )?)
                };
                Ok(CursorMove {
                    key: CursorKey {
                        integration,
                        account: account.clone(),
                        connector,
                        stream,
                    },
                    position,
                })
            })
            .collect()
    }

    /// The stored position of a cursor.
    pub async fn sync_cursor(&self, key: &CursorKey) -> Result<Option<String>> {
        Ok(sync_cursor::Entity::find()
            .select_only()
            .column(sync_cursor::Column::Position)
            .filter(sync_cursor::Column::IntegrationId.eq(key.integration.0))
            .filter(sync_cursor::Column::AccountGuid.eq(key.account.as_str()))
            .filter(
                sync_cursor::Column::ConnectorGuid
                    .eq(key.connector.as_ref().map_or("", |c| c.as_str())),
            )
            .filter(sync_cursor::Column::Stream.eq(key.stream.as_str()))
            .into_tuple::<String>()
            .one(self.db())
            .await?)
    }

    /// Moves cursors on their own (when no data came with them).
    pub async fn move_sync_cursors(&self, moves: &[CursorMove], now: DateTime<Utc>) -> Result<u64> {
        move_cursors(self.db(), moves, micros(now)).await
    }

    /// Records the start of a sync run.
    pub async fn start_sync_run(
        &self,
        integration: Option<IntegrationId>,
        at: DateTime<Utc>,
    ) -> Result<SyncRunId> {
        let model = sync_run::ActiveModel {
            integration_id: Set(integration.map(|i| i.0)),
            started_at: Set(micros(at)),
            finished_at: Set(None),
            outcome: Set(SyncOutcome::Running.as_str().to_owned()),
            accounts: Set(0),
            accounts_failed: Set(0),
            connectors: Set(0),
            jobs_new: Set(0),
            audit_events_new: Set(0),
            requests: Set(0),
            errors: Set("[]".to_owned()),
            ..Default::default()
        }
        .insert(self.db())
        .await?;
        Ok(SyncRunId(model.id))
    }

    /// Records the end of a sync run with its counts and errors.
    pub async fn finish_sync_run(
        &self,
        id: SyncRunId,
        summary: &SyncRunSummary,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let errors: Vec<serde_json::Value> = summary
            .errors
            .iter()
            .map(|e| serde_json::json!({"account": e.account.as_ref().map(AccountId::as_str), "error": e.error}))
            .collect();
        let txn = self.begin_write().await?;
        let Some((started_at, integration_id, outcome)) = sync_run::Entity::find_by_id(id.0)
            .select_only()
            .column(sync_run::Column::StartedAt)
            .column(sync_run::Column::IntegrationId)
            .column(sync_run::Column::Outcome)
            .into_tuple::<(DateTime<Utc>, Option<i64>, String)>()
            .one(&txn)
            .await?
        else {
            return Err(Error::not_found("sync run", id));
        };
        // A run another worker closed as abandoned (its lease had expired) stays so:
        // rewriting its outcome would take one from the `abandoned` counter.
        if outcome != SyncOutcome::Running.as_str() {
            tracing::warn!(
                run = id.0,
                outcome = %outcome,
                "this sync run was closed by another worker while it ran; its result is not recorded"
            );
            return Ok(());
        }
        // The integration shows how its latest run ended.
        if let Some(integration_id) = integration_id {
            integration::Entity::update_many()
                .col_expr(integration::Column::LastSyncAt, Expr::value(micros(at)))
                .col_expr(
                    integration::Column::LastSyncOutcome,
                    Expr::value(summary.outcome.as_str()),
                )
                .filter(integration::Column::Id.eq(integration_id))
                .exec(&txn)
                .await?;
        }
        let duration_ms = (micros(at) - started_at).num_milliseconds().max(0);
        sync_run::Entity::update_many()
            .col_expr(sync_run::Column::FinishedAt, Expr::value(micros(at)))
            .col_expr(sync_run::Column::DurationMs, Expr::value(duration_ms))
            .col_expr(
                sync_run::Column::Outcome,
                Expr::value(summary.outcome.as_str()),
            )
            .col_expr(
                sync_run::Column::Accounts,
                Expr::value(to_i64(summary.accounts)),
            )
            .col_expr(
                sync_run::Column::AccountsFailed,
                Expr::value(to_i64(summary.accounts_failed)),
            )
            .col_expr(
                sync_run::Column::Connectors,
                Expr::value(to_i64(summary.connectors)),
            )
            .col_expr(
                sync_run::Column::JobsNew,
                Expr::value(to_i64(summary.jobs_new)),
            )
            .col_expr(
                sync_run::Column::AuditEventsNew,
                Expr::value(to_i64(summary.audit_events_new)),
            )
            .col_expr(
                sync_run::Column::Requests,
                Expr::value(to_i64(summary.requests)),
            )
            .col_expr(
                sync_run::Column::Errors,
                Expr::value(serde_json::Value::Array(errors).to_string()),
            )
            .filter(sync_run::Column::Id.eq(id.0))
            .filter(sync_run::Column::Outcome.eq(SyncOutcome::Running.as_str()))
            .exec(&txn)
            .await?;
        sync_run_request::Entity::delete_many()
            .filter(sync_run_request::Column::SyncRunId.eq(id.0))
            .exec(&txn)
            .await?;
        let rows: Vec<sync_run_request::ActiveModel> = summary
            .requests_by_status
            .iter()
            .filter(|(_, requests)| **requests > 0)
            .map(|(status, requests)| sync_run_request::ActiveModel {
                sync_run_id: Set(id.0),
                status: Set(status.clone()),
                requests: Set(to_i64(*requests)),
                ..Default::default()
            })
            .collect();
        if !rows.is_empty() {
            sync_run_request::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// One sync run.
    pub async fn sync_run(&self, id: SyncRunId) -> Result<SyncRunRecord> {
        let model = sync_run::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("sync run", id))?;
        let mut runs = vec![model.try_into()?];
        self.attach_request_statuses(&mut runs).await?;
        Ok(runs.remove(0))
    }

    /// When the latest sync run of an integration started, whoever ran it. Several
    /// sync workers read it to keep one schedule between them.
    pub async fn last_sync_run_start(
        &self,
        integration: IntegrationId,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(sync_run::Entity::find()
            .select_only()
            .column(sync_run::Column::StartedAt)
            .filter(sync_run::Column::IntegrationId.eq(integration.0))
            .order_by_desc(sync_run::Column::StartedAt)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(self.db())
            .await?)
    }

    /// The latest sync runs, newest first.
    pub async fn sync_runs(&self, limit: u32) -> Result<Vec<SyncRunRecord>> {
        let mut runs = sync_run::Entity::find()
            .order_by_desc(sync_run::Column::StartedAt)
            .order_by_desc(sync_run::Column::Id)
            .limit(u64::from(limit.clamp(1, 1000)))
            .all(self.reader())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<SyncRunRecord>>>()?;
        self.attach_request_statuses(&mut runs).await?;
        Ok(runs)
    }

    async fn attach_request_statuses(&self, runs: &mut [SyncRunRecord]) -> Result<()> {
        let rows = sync_run_request::Entity::find()
            .filter(sync_run_request::Column::SyncRunId.is_in(runs.iter().map(|run| run.id.0)))
            .all(self.reader())
            .await?;
        let mut by_run: HashMap<i64, BTreeMap<String, u64>> = HashMap::new();
        for row in rows {
            by_run
                .entry(row.sync_run_id)
                .or_default()
                .insert(row.status, crate::convert::to_u64(row.requests));
        }
        for run in runs {
            run.summary.requests_by_status = by_run.remove(&run.id.0).unwrap_or_default();
        }
        Ok(())
    }

    /// Totals over every sync run ever recorded, for monitoring: finished runs by
    /// outcome, their durations against [`SYNC_DURATION_BOUNDS`], and Keepit requests by
    /// answer, with runs retention purged included (see [`Store::purge_sync_runs`]), so
    /// every figure but `running` only grows and can be exported as a counter.
    pub async fn sync_run_totals(&self) -> Result<SyncRunTotals> {
        // One snapshot for every read: a purge committing between them would count its
        // runs twice (kept and folded), and the next scrape would see counters drop.
        // SQLite's deferred transaction reads one snapshot from its first read on.
        let txn = self
            .reader()
            .begin_with_options(TransactionOptions {
                isolation_level: (self.backend() == crate::Backend::Postgres)
                    .then_some(sea_orm::IsolationLevel::RepeatableRead),
                access_mode: (self.backend() == crate::Backend::Postgres)
                    .then_some(sea_orm::AccessMode::ReadOnly),
                sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Deferred),
            })
            .await?;
        let mut totals = run_figures(&txn, None).await?;
        let backend = txn.get_database_backend();
        for row in txn
            .query_all_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT name, value FROM sync_run_totals",
            ))
            .await?
        {
            let name: String = row.try_get("", "name")?;
            let value = crate::convert::to_u64(row.try_get::<i64>("", "value")?);
            totals.add_named(&name, value);
        }
        txn.commit().await?;
        Ok(totals)
    }

    /// Takes the sync lease of an integration for `ttl`, if it is free, expired, or
    /// already held by `holder`. Otherwise says who holds it and until when.
    ///
    /// One conditional upsert, so two processes racing for it cannot both win.
    pub async fn acquire_sync_lease(
        &self,
        integration: IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<LeaseGrant> {
        let now = micros(now);
        // The lease can be released between the upsert and the read that names its
        // holder; then the upsert is simply tried again.
        for _ in 0..3 {
            let taken = sync_lease::Entity::insert(sync_lease::ActiveModel {
                integration_id: Set(integration.0),
                holder: Set(holder.to_owned()),
                acquired_at: Set(now),
                expires_at: Set(now + ttl),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::column(sync_lease::Column::IntegrationId)
                    .update_columns([
                        sync_lease::Column::Holder,
                        sync_lease::Column::AcquiredAt,
                        sync_lease::Column::ExpiresAt,
                    ])
                    .action_and_where(Expr::cust(
                        "\"sync_leases\".\"expires_at\" <= excluded.\"acquired_at\" \
                         OR \"sync_leases\".\"holder\" = excluded.\"holder\"",
                    ))
                    .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
            if taken == 1 {
                return Ok(LeaseGrant::Acquired);
            }
            if let Some((holder, expires_at)) = self.sync_lease(integration).await? {
                return Ok(LeaseGrant::Held { holder, expires_at });
            }
        }
        Err(Error::Conflict {
            what: "sync lease of integration",
            key: integration.0.to_string(),
        })
    }

    /// Takes over a lease from `previous`, a holder known to be dead, whatever its
    /// expiry. Fails (as [`LeaseGrant::Held`]) when the lease changed hands meanwhile.
    pub async fn take_over_sync_lease(
        &self,
        integration: IntegrationId,
        previous: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<LeaseGrant> {
        let now = micros(now);
        let result = sync_lease::Entity::update_many()
            .col_expr(sync_lease::Column::Holder, Expr::value(holder.to_owned()))
            .col_expr(sync_lease::Column::AcquiredAt, Expr::value(now))
            .col_expr(sync_lease::Column::ExpiresAt, Expr::value(now + ttl))
            .filter(sync_lease::Column::IntegrationId.eq(integration.0))
            .filter(sync_lease::Column::Holder.eq(previous))
            .exec(self.db())
            .await?;
        if result.rows_affected == 1 {
            return Ok(LeaseGrant::Acquired);
        }
        // Released meanwhile: try the ordinary way.
        self.acquire_sync_lease(integration, holder, now, ttl).await
    }

    /// Who holds an integration's sync lease and until when, if anyone does.
    pub async fn sync_lease(
        &self,
        integration: IntegrationId,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        Ok(sync_lease::Entity::find()
            .filter(sync_lease::Column::IntegrationId.eq(integration.0))
            .one(self.db())
            .await?
            .map(|lease| (lease.holder, lease.expires_at)))
    }

    /// Closes the runs of an integration that are still `running` as
    /// [`SyncOutcome::Abandoned`]. Called by the holder of the integration's lease
    /// before it starts its own run: no other process can be running one, so these
    /// were left by a process that died. Returns how many were closed.
    pub async fn close_abandoned_sync_runs(
        &self,
        integration: IntegrationId,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        crate::pass::clear_integration_passes(self.db(), integration).await?;
        let result = sync_run::Entity::update_many()
            .col_expr(
                sync_run::Column::Outcome,
                Expr::value(SyncOutcome::Abandoned.as_str()),
            )
            .col_expr(sync_run::Column::FinishedAt, Expr::value(micros(now)))
            .filter(sync_run::Column::IntegrationId.eq(integration.0))
            .filter(sync_run::Column::Outcome.eq(SyncOutcome::Running.as_str()))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }

    /// Extends a lease `holder` still holds. Returns `false` when another process took it over.
    pub async fn renew_sync_lease(
        &self,
        integration: IntegrationId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<bool> {
        let result = sync_lease::Entity::update_many()
            .col_expr(
                sync_lease::Column::ExpiresAt,
                Expr::value(micros(now) + ttl),
            )
            .filter(sync_lease::Column::IntegrationId.eq(integration.0))
            .filter(sync_lease::Column::Holder.eq(holder))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Gives a lease back. Returns `false` when `holder` did not hold it.
    pub async fn release_sync_lease(
        &self,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<bool> {
        let result = sync_lease::Entity::delete_many()
            .filter(sync_lease::Column::IntegrationId.eq(integration.0))
            .filter(sync_lease::Column::Holder.eq(holder))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }
}

/// The figures of [`SyncRunTotals`] over the stored runs, or over the runs `ids` only.
async fn run_figures(db: &impl ConnectionTrait, ids: Option<&[i64]>) -> Result<SyncRunTotals> {
    let backend = db.get_database_backend();
    let number = |row: &sea_orm::QueryResult, column: &str| -> Result<u64> {
        Ok(crate::convert::to_u64(row.try_get::<i64>("", column)?))
    };
    // Ids and bounds are numbers of ours, not caller text, so they are written into
    // the SQL.
    let (runs, requests) = match ids {
        None => (String::new(), String::new()),
        Some(ids) => {
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            (
                format!(" AND id IN ({list})"),
                format!(" WHERE sync_run_id IN ({list})"),
            )
        }
    };
    let mut totals = SyncRunTotals::default();
    for row in db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            format!(
                "SELECT outcome, COUNT(*) AS n FROM sync_runs WHERE 1 = 1{runs} GROUP BY outcome"
            ),
        ))
        .await?
    {
        let outcome: String = row.try_get("", "outcome")?;
        let n = number(&row, "n")?;
        if outcome == SyncOutcome::Running.as_str() {
            totals.running += n;
        } else {
            totals.runs_by_outcome.insert(outcome, n);
        }
    }
    let buckets: String = SYNC_DURATION_BOUNDS
        .iter()
        .enumerate()
        .map(|(n, bound)| {
            format!(
                ", CAST(COALESCE(SUM(CASE WHEN duration_ms <= {} THEN 1 ELSE 0 END), 0) AS BIGINT) AS b{n}",
                bound.as_millis()
            )
        })
        .collect();
    let sql = format!(
        "SELECT COUNT(duration_ms) AS n, CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT) AS total{buckets} \
         FROM sync_runs WHERE duration_ms IS NOT NULL{runs}"
    );
    if let Some(row) = db
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await?
    {
        totals.durations.count = number(&row, "n")?;
        totals.durations.sum = std::time::Duration::from_millis(number(&row, "total")?);
        for (n, bound) in SYNC_DURATION_BOUNDS.iter().enumerate() {
            totals
                .durations
                .buckets
                .push((*bound, number(&row, &format!("b{n}"))?));
        }
    }
    for row in db
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            format!(
                "SELECT status, CAST(SUM(requests) AS BIGINT) AS n FROM sync_run_requests{requests} GROUP BY status"
            ),
        ))
        .await?
    {
        let status: String = row.try_get("", "status")?;
        totals.requests_by_status.insert(status, number(&row, "n")?);
    }
    Ok(totals)
}

/// Adds the figures of the finished runs `ids` to `sync_run_totals`, in the
/// transaction that deletes them.
pub(crate) async fn fold_into_totals(
    txn: &sea_orm::DatabaseTransaction,
    ids: &[i64],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let figures = run_figures(txn, Some(ids)).await?;
    let backend = txn.get_database_backend();
    for (name, value) in figures.named().into_iter().filter(|(_, value)| *value > 0) {
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "INSERT INTO sync_run_totals (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = sync_run_totals.value + excluded.value"
                }
                _ => {
                    "INSERT INTO sync_run_totals (name, value) VALUES (?, ?) \
                     ON CONFLICT (name) DO UPDATE SET value = sync_run_totals.value + excluded.value"
                }
            },
            [name.into(), to_i64(value).into()],
        ))
        .await?;
    }
    Ok(())
}
