//! Jobs: the batched upsert and the Job Monitor query.
//!
//! The Job Monitor lists jobs newest first by `(sort_time desc, id desc)`, where
//! `sort_time` is the first of started, requested start and scheduled time that Keepit
//! gave (stored as a column so it can be indexed), and pages with a [`JobCursor`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, BackupStatistics, ConnectorId, FailureReason, JobId, JobStatistics, JobStatus,
    JobType, RestoreStatistics, Volume,
};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, LikeExpr, Order, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Value,
};

use crate::convert::{
    account_id, connector_id, distinct_from_excluded, job_id, literal_limits, micros, opt_micros,
    rows_per_statement, to_i64, to_u64,
};
use crate::cursor::JobCursor;
use crate::customers::customers_of_accounts;
use crate::entity::{connector, customer, job};
use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::store::Store;
use crate::upsert::{MultiRowInsert, UpsertCounts, dedup_last};

/// A job as the sync read it from Keepit, with its decided status.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job.
    pub job: JobId,
    /// The connector it ran for.
    pub connector: ConnectorId,
    /// The account of that connector.
    pub account: AccountId,
    /// Backup, restore, ...
    pub job_type: JobType,
    /// The status decided by `keepit_domain::decide_status`.
    pub status: JobStatus,
    /// Whether Keepit says it is running.
    pub active: bool,
    /// When it was scheduled.
    pub scheduled: Option<DateTime<Utc>>,
    /// Requested start.
    pub start: Option<DateTime<Utc>>,
    /// Handed to a worker.
    pub dispatched: Option<DateTime<Utc>>,
    /// Execution began.
    pub started: Option<DateTime<Utc>>,
    /// End, if it succeeded.
    pub succeeded: Option<DateTime<Utc>>,
    /// End, if it failed.
    pub failed: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled: Option<DateTime<Utc>>,
    /// Progress from 0.0 to 1.0.
    pub progress: Option<f64>,
    /// The snapshot it used or produced.
    pub snapshot_at: Option<DateTime<Utc>>,
    /// Item counts and sizes.
    pub statistics: Option<JobStatistics>,
    /// Why it failed, mapped onto the catalogue.
    pub failure_reason: Option<FailureReason>,
    /// Keepit's own failure summary text.
    pub failure_summary: Option<String>,
    /// Keepit's job description.
    pub description: Option<String>,
    /// Keepit's statistics as sent (name, value), kept so that a statistic whose name
    /// the parser does not know is not lost.
    pub raw_stats: Vec<(String, String)>,
}

impl JobRecord {
    /// The time the Job Monitor sorts by: started, else requested start, else scheduled,
    /// else the end; `fallback` when Keepit gave none of them.
    pub fn sort_time(&self, fallback: DateTime<Utc>) -> DateTime<Utc> {
        self.started
            .or(self.start)
            .or(self.scheduled)
            .or(self.ended_at())
            .unwrap_or(fallback)
    }

    /// When it ended (succeeded, failed or was cancelled), if it did.
    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        [self.cancelled, self.failed, self.succeeded]
            .into_iter()
            .flatten()
            .max()
    }
}

/// A stored job with the names the Job Monitor shows next to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// Row id (part of the pagination cursor).
    pub id: i64,
    /// What Keepit said about it last.
    pub record: JobRecord,
    /// The customer of its account.
    pub customer: Option<CustomerId>,
    /// That customer's name.
    pub customer_name: Option<String>,
    /// Its connector's name.
    pub connector_name: Option<String>,
    /// The stored sort time.
    pub sort_time: DateTime<Utc>,
    /// First sync that saw it.
    pub first_seen_at: DateTime<Utc>,
    /// When its stored content last changed.
    pub updated_at: DateTime<Utc>,
}

fn volume(count: Option<i64>, bytes: Option<i64>) -> Volume {
    Volume {
        count: count.map_or(0, to_u64),
        bytes: bytes.map_or(0, to_u64),
    }
}

impl TryFrom<job::Model> for StoredJob {
    type Error = Error;
    fn try_from(model: job::Model) -> Result<Self> {
        let table = "backup_jobs";
        let statistics = match model.stats_kind.as_deref() {
            None => None,
            Some("backup") => Some(JobStatistics::Backup(BackupStatistics {
                added: volume(model.added_count, model.added_bytes),
                removed: volume(model.removed_count, model.removed_bytes),
                skipped: volume(model.skipped_count, model.skipped_bytes),
            })),
            Some("restore") => Some(JobStatistics::Restore(RestoreStatistics {
                restored: volume(model.restored_count, model.restored_bytes),
                overwritten: volume(model.overwritten_count, model.overwritten_bytes),
                skipped: volume(model.skipped_count, model.skipped_bytes),
            })),
            Some(other) => {
                return Err(Error::corrupt(
                    table,
                    "stats_kind",
                    other,
                    "unknown statistics kind",
                ));
            }
        };
        Ok(StoredJob {
            id: model.id,
            record: JobRecord {
                job: job_id(table, "job_guid", &model.job_guid)?,
                connector: connector_id(table, "connector_guid", &model.connector_guid)?,
                account: account_id(table, "account_guid", &model.account_guid)?,
                job_type: JobType::from_wire(&model.job_type),
                status: JobStatus::parse(&model.status)
                    .map_err(|e| Error::corrupt(table, "status", &model.status, e))?,
                active: model.active,
                scheduled: model.scheduled_at,
                start: model.start_at,
                dispatched: model.dispatched_at,
                started: model.started_at,
                succeeded: model.succeeded_at,
                failed: model.failed_at,
                cancelled: model.cancelled_at,
                progress: model.progress,
                snapshot_at: model.snapshot_at,
                statistics,
                failure_reason: model.failure_reason_code.as_deref().map(|code| {
                    FailureReason::from_stored(code, model.failure_reason_raw.as_deref())
                }),
                failure_summary: model.failure_summary,
                description: model.description,
                raw_stats: read_raw_stats(model.raw_stats.as_deref())?,
            },
            customer: model.customer_id.map(CustomerId),
            customer_name: None,
            connector_name: None,
            sort_time: model.sort_time,
            first_seen_at: model.first_seen_at,
            updated_at: model.updated_at,
        })
    }
}

/// Every column whose change makes an upsert rewrite the row.
const CONTENT_COLUMNS: &[&str] = &[
    "connector_guid",
    "account_guid",
    "customer_id",
    "job_type",
    "status",
    "active",
    "scheduled_at",
    "start_at",
    "dispatched_at",
    "started_at",
    "succeeded_at",
    "failed_at",
    "cancelled_at",
    "ended_at",
    "sort_time",
    "progress",
    "snapshot_at",
    "stats_kind",
    "added_count",
    "added_bytes",
    "removed_count",
    "removed_bytes",
    "skipped_count",
    "skipped_bytes",
    "restored_count",
    "restored_bytes",
    "overwritten_count",
    "overwritten_bytes",
    "failure_reason_code",
    "failure_reason_raw",
    "failure_summary",
    "description",
    "raw_stats",
];

/// Columns written by an upsert, in the order of [`job_values`].
pub(crate) const INSERT_COLUMNS: &[&str] = &[
    "job_guid",
    "connector_guid",
    "account_guid",
    "customer_id",
    "job_type",
    "status",
    "active",
    "scheduled_at",
    "start_at",
    "dispatched_at",
    "started_at",
    "succeeded_at",
    "failed_at",
    "cancelled_at",
    "ended_at",
    "sort_time",
    "progress",
    "snapshot_at",
    "stats_kind",
    "added_count",
    "added_bytes",
    "removed_count",
    "removed_bytes",
    "skipped_count",
    "skipped_bytes",
    "restored_count",
    "restored_bytes",
    "overwritten_count",
    "overwritten_bytes",
    "failure_reason_code",
    "failure_reason_raw",
    "failure_summary",
    "description",
    "raw_stats",
    "first_seen_at",
    "updated_at",
];

/// Raw statistics as stored: a JSON array of `[name, value]` pairs, or nothing.
fn raw_stats_json(stats: &[(String, String)]) -> Option<String> {
    (!stats.is_empty()).then(|| serde_json::json!(stats).to_string())
}

fn read_raw_stats(text: Option<&str>) -> Result<Vec<(String, String)>> {
    text.map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text)
            .map_err(|error| Error::corrupt("backup_jobs", "raw_stats", text, error))
    })
}

fn job_values(record: &JobRecord, customer: Option<i64>, now: DateTime<Utc>) -> Vec<Value> {
    let (stats_kind, added, removed, skipped, restored, overwritten) = match record.statistics {
        None => (None, None, None, None, None, None),
        Some(JobStatistics::Backup(stats)) => (
            Some("backup"),
            Some(stats.added),
            Some(stats.removed),
            Some(stats.skipped),
            None,
            None,
        ),
        Some(JobStatistics::Restore(stats)) => (
            Some("restore"),
            None,
            None,
            Some(stats.skipped),
            Some(stats.restored),
            Some(stats.overwritten),
        ),
    };
    let count = |volume: Option<Volume>| Value::from(volume.map(|v| to_i64(v.count)));
    let bytes = |volume: Option<Volume>| Value::from(volume.map(|v| to_i64(v.bytes)));
    let time = |time: Option<DateTime<Utc>>| Value::from(opt_micros(time));
    let text = |text: Option<&str>| Value::from(text.map(str::to_owned));
    vec![
        Value::from(record.job.as_str()),
        Value::from(record.connector.as_str()),
        Value::from(record.account.as_str()),
        Value::from(customer),
        Value::from(record.job_type.as_str()),
        Value::from(record.status.as_str()),
        Value::from(record.active),
        time(record.scheduled),
        time(record.start),
        time(record.dispatched),
        time(record.started),
        time(record.succeeded),
        time(record.failed),
        time(record.cancelled),
        time(record.ended_at()),
        Value::from(micros(record.sort_time(now))),
        Value::from(record.progress),
        time(record.snapshot_at),
        text(stats_kind),
        count(added),
        bytes(added),
        count(removed),
        bytes(removed),
        count(skipped),
        bytes(skipped),
        count(restored),
        bytes(restored),
        count(overwritten),
        bytes(overwritten),
        text(record.failure_reason.as_ref().map(FailureReason::code)),
        text(record.failure_reason.as_ref().and_then(FailureReason::raw)),
        text(record.failure_summary.as_deref()),
        text(record.description.as_deref()),
        text(raw_stats_json(&record.raw_stats).as_deref()),
        Value::from(now),
        Value::from(now),
    ]
}

/// Inserts new jobs and rewrites only those whose content differs from the stored row
/// (`ON CONFLICT DO UPDATE ... WHERE <some column IS DISTINCT FROM the new value>`).
pub(crate) async fn upsert_jobs<C: ConnectionTrait>(
    conn: &C,
    records: &[JobRecord],
    now: DateTime<Utc>,
) -> Result<UpsertCounts> {
    let now = micros(now);
    let records = dedup_last(records, |record| record.job.clone());
    let customers = customers_of_accounts(conn, records.iter().map(|r| r.account.as_str())).await?;
    let set = INSERT_COLUMNS
        .iter()
        .filter(|column| !matches!(**column, "job_guid" | "first_seen_at"))
        .map(|column| format!("\"{column}\" = excluded.\"{column}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let on_conflict = format!(
        "ON CONFLICT (\"job_guid\") DO UPDATE SET {set} WHERE {}",
        distinct_from_excluded("backup_jobs", CONTENT_COLUMNS)
    );
    let insert = MultiRowInsert {
        table: "backup_jobs",
        columns: INSERT_COLUMNS,
        on_conflict: &on_conflict,
    };
    let mut counts = UpsertCounts::default();
    for chunk in records.chunks(rows_per_statement(
        conn.get_database_backend(),
        INSERT_COLUMNS.len(),
    )) {
        let existing: Vec<String> = job::Entity::find()
            .select_only()
            .column(job::Column::JobGuid)
            .filter(job::Column::JobGuid.is_in(chunk.iter().map(|r| r.job.as_str())))
            .into_tuple()
            .all(conn)
            .await?;
        let inserted = (chunk.len() - existing.len()) as u64;
        let rows = chunk
            .iter()
            .map(|record| {
                job_values(
                    record,
                    customers.get(record.account.as_str()).copied().flatten(),
                    now,
                )
            })
            .collect();
        let written = insert.execute(conn, rows).await?;
        counts.inserted += inserted;
        counts.changed += written.saturating_sub(inserted);
    }
    Ok(counts)
}

/// Filters and paging of the Job Monitor.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    /// Only this customer's jobs.
    pub customer: Option<CustomerId>,
    /// Only this account's jobs.
    pub account: Option<AccountId>,
    /// Only this connector's jobs.
    pub connector: Option<ConnectorId>,
    /// Only jobs in one of these statuses (empty: all).
    pub statuses: Vec<JobStatus>,
    /// Only jobs of one of these types (empty: all).
    pub types: Vec<JobType>,
    /// Only jobs whose sort time is at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Only jobs whose sort time is before this.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive text in the description, failure summary or reason, connector
    /// name or customer name.
    pub text: Option<String>,
    /// Page size: default 50, at most 500.
    pub limit: Option<u32>,
    /// Continue after this position (from the previous page's `next`).
    pub cursor: Option<JobCursor>,
}

impl JobQuery {
    /// Page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size; larger requests are clamped.
    pub const MAX_LIMIT: u32 = 500;

    fn page_size(&self) -> u64 {
        u64::from(
            self.limit
                .unwrap_or(Self::DEFAULT_LIMIT)
                .clamp(1, Self::MAX_LIMIT),
        )
    }
}

/// One page of the Job Monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<StoredJob>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<JobCursor>,
}

/// `%`, `_` and `\` are literal in the user's text.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn lower_like(column: impl sea_orm::sea_query::IntoColumnRef, pattern: &str) -> Expr {
    Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern).escape('\\'))
}

/// Fills in connector and customer names for a page of jobs.
pub(crate) async fn attach_names<C: ConnectionTrait>(
    conn: &C,
    jobs: &mut [StoredJob],
) -> Result<()> {
    let connector_guids: Vec<String> = jobs
        .iter()
        .map(|j| j.record.connector.to_string())
        .collect();
    let customer_ids: Vec<i64> = jobs
        .iter()
        .filter_map(|j| j.customer.map(|c| c.0))
        .collect();
    let connector_names: HashMap<String, String> = connector::Entity::find()
        .select_only()
        .columns([connector::Column::ConnectorGuid, connector::Column::Name])
        .filter(connector::Column::ConnectorGuid.is_in(connector_guids))
        .into_tuple::<(String, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let customer_names: HashMap<i64, String> = customer::Entity::find()
        .select_only()
        .columns([customer::Column::Id, customer::Column::Name])
        .filter(customer::Column::Id.is_in(customer_ids))
        .into_tuple::<(i64, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    for job in jobs {
        job.connector_name = connector_names.get(job.record.connector.as_str()).cloned();
        job.customer_name = job.customer.and_then(|c| customer_names.get(&c.0).cloned());
    }
    Ok(())
}

/// The free text of a query, when it has any.
fn search_text(query: &JobQuery) -> Option<&str> {
    query
        .text
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The connectors and customers whose names contain a query's free text.
#[derive(Debug)]
enum NameMatches {
    /// Found by comparing names in Rust.
    Listed {
        connectors: Vec<String>,
        customers: Vec<i64>,
    },
    /// Too many to list as parameters (a one-letter search in a big fleet, say): the
    /// database compares the names itself, which on SQLite folds ASCII case only.
    TooMany,
}

/// Above this many matching names, [`NameMatches::TooMany`] is used: every status
/// branch of a page query repeats the list, and SQLite takes at most 32,766 parameters.
const MAX_LISTED_NAMES: usize = 1_000;

/// The jobs matching every filter of `query` except the status, newest first, at most
/// one more than a page. `names` are the name matches of the query's free text.
fn filtered_jobs(
    query: &JobQuery,
    names: Option<&NameMatches>,
    page_size: u64,
) -> Select<job::Entity> {
    let mut select = job::Entity::find()
        .order_by_desc(job::Column::SortTime)
        .order_by_desc(job::Column::Id)
        .limit(page_size + 1);
    if let Some(customer) = query.customer {
        select = select.filter(job::Column::CustomerId.eq(customer.0));
    }
    if let Some(account) = &query.account {
        select = select.filter(job::Column::AccountGuid.eq(account.as_str()));
    }
    if let Some(connector) = &query.connector {
        select = select.filter(job::Column::ConnectorGuid.eq(connector.as_str()));
    }
    if !query.types.is_empty() {
        select = select
            .filter(job::Column::JobType.is_in(query.types.iter().map(|t| t.as_str().to_owned())));
    }
    if let Some(from) = query.from {
        select = select.filter(job::Column::SortTime.gte(micros(from)));
    }
    if let Some(to) = query.to {
        select = select.filter(job::Column::SortTime.lt(micros(to)));
    }
    if let Some((text, names)) = search_text(query).zip(names) {
        let pattern = like_pattern(text);
        let mut any = Condition::any();
        for column in [
            job::Column::Description,
            job::Column::FailureSummary,
            job::Column::FailureReasonCode,
            job::Column::FailureReasonRaw,
        ] {
            any = any.add(lower_like((job::Entity, column), &pattern));
        }
        match names {
            NameMatches::Listed {
                connectors,
                customers,
            } => {
                if !connectors.is_empty() {
                    any = any.add(job::Column::ConnectorGuid.is_in(connectors.iter().cloned()));
                }
                if !customers.is_empty() {
                    any = any.add(job::Column::CustomerId.is_in(customers.iter().copied()));
                }
            }
            NameMatches::TooMany => {
                let connectors = Query::select()
                    .column(connector::Column::ConnectorGuid)
                    .from(connector::Entity)
                    .and_where(lower_like(connector::Column::Name, &pattern))
                    .take();
                let customers = Query::select()
                    .column(customer::Column::Id)
                    .from(customer::Entity)
                    .and_where(lower_like(customer::Column::Name, &pattern))
                    .take();
                any = any
                    .add(
                        Expr::col((job::Entity, job::Column::ConnectorGuid))
                            .in_subquery(connectors),
                    )
                    .add(Expr::col((job::Entity, job::Column::CustomerId)).in_subquery(customers));
            }
        }
        select = select.filter(any);
    }
    if let Some(cursor) = query.cursor {
        // `sort_time <= at` bounds the index range; the rest drops the rows at `at` that
        // the previous page already had.
        let at = micros(cursor.sort_time);
        select = select.filter(job::Column::SortTime.lte(at)).filter(
            Condition::any()
                .add(job::Column::SortTime.lt(at))
                .add(job::Column::Id.lt(cursor.id)),
        );
    }
    select
}

impl Store {
    /// Upserts jobs in batches; returns how many were new and how many changed.
    /// Their connectors must be stored first.
    pub async fn upsert_jobs(
        &self,
        records: &[JobRecord],
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts> {
        let txn = self.begin_write().await?;
        let counts = upsert_jobs(&txn, records, now).await?;
        txn.commit().await?;
        Ok(counts)
    }

    /// Connectors and customers whose name contains `text`, ignoring case by Unicode
    /// rules. Names are compared here rather than in SQL because SQLite's `lower()`
    /// folds only ASCII, so "ØRESUND" would not find "Øresund" there.
    async fn names_containing(&self, text: &str) -> Result<NameMatches> {
        let needle = text.to_lowercase();
        let connectors: Vec<(String, String)> = connector::Entity::find()
            .select_only()
            .columns([connector::Column::ConnectorGuid, connector::Column::Name])
            .into_tuple()
            .all(self.reader())
            .await?;
        let customers: Vec<(i64, String)> = customer::Entity::find()
            .select_only()
            .columns([customer::Column::Id, customer::Column::Name])
            .into_tuple()
            .all(self.reader())
            .await?;
        let containing = |name: &String| name.to_lowercase().contains(&needle);
        let connectors: Vec<String> = connectors
            .into_iter()
            .filter_map(|(guid, name)| containing(&name).then_some(guid))
            .collect();
        let customers: Vec<i64> = customers
            .into_iter()
            .filter_map(|(id, name)| containing(&name).then_some(id))
            .collect();
        Ok(if connectors.len() + customers.len() > MAX_LISTED_NAMES {
            NameMatches::TooMany
        } else {
            NameMatches::Listed {
                connectors,
                customers,
            }
        })
    }

    /// One job, with names.
    pub async fn job(&self, job: &JobId) -> Result<Option<StoredJob>> {
        let inner = job::Entity::find()
            .filter(job::Column::JobGuid.eq(job.as_str()))
            .into_query();
        Ok(self.jobs_with_names(inner).await?.pop())
    }

    /// Runs `inner` (a select of whole `backup_jobs` rows) and reads the connector and
    /// customer names in the same statement, newest first.
    async fn jobs_with_names(&self, inner: SelectStatement) -> Result<Vec<StoredJob>> {
        // Names come from scalar subqueries, one unique-index lookup per row of the
        // page: joins let PostgreSQL hash whole tables (every connector) for 50 rows.
        let page = Alias::new("page");
        let connector_name = Query::select()
            .column((connector::Entity, connector::Column::Name))
            .from(connector::Entity)
            .and_where(
                Expr::col((connector::Entity, connector::Column::ConnectorGuid))
                    .equals((page.clone(), job::Column::ConnectorGuid)),
            )
            .take();
        let customer_name = Query::select()
            .column((customer::Entity, customer::Column::Name))
            .from(customer::Entity)
            .and_where(
                Expr::col((customer::Entity, customer::Column::Id))
                    .equals((page.clone(), job::Column::CustomerId)),
            )
            .take();
        let statement = Query::select()
            .column((page.clone(), Asterisk))
            .expr_as(
                Expr::SubQuery(None, Box::new(connector_name.into())),
                Alias::new("connector_name"),
            )
            .expr_as(
                Expr::SubQuery(None, Box::new(customer_name.into())),
                Alias::new("customer_name"),
            )
            .from_subquery(inner, page.clone())
            .order_by((page.clone(), job::Column::SortTime), Order::Desc)
            .order_by((page, job::Column::Id), Order::Desc)
            .take();
        let rows = self
            .reader()
            .query_all_raw(literal_limits(
                self.reader().get_database_backend().build(&statement),
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let mut job = StoredJob::try_from(job::Model::from_query_result(row, "")?)?;
                job.connector_name = row.try_get("", "connector_name")?;
                job.customer_name = row.try_get("", "customer_name")?;
                Ok(job)
            })
            .collect()
    }

    /// The Job Monitor: jobs matching `query`, newest first, one page at a time.
    ///
    /// With several statuses the page is the newest of one page per status (a `UNION
    /// ALL` of per-status queries, each an index range on `(…, status, sort_time, id)`),
    /// so a rare status next to a common one never makes the database read past the
    /// common one's rows.
    pub async fn jobs(&self, query: &JobQuery) -> Result<JobPage> {
        let page_size = query.page_size();
        let mut statuses: Vec<&JobStatus> = Vec::with_capacity(query.statuses.len());
        for status in &query.statuses {
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        let names = match search_text(query) {
            Some(text) => Some(self.names_containing(text).await?),
            None => None,
        };
        let inner = match statuses.as_slice() {
            [] => filtered_jobs(query, names.as_ref(), page_size).into_query(),
            [status] => filtered_jobs(query, names.as_ref(), page_size)
                .filter(job::Column::Status.eq(status.as_str()))
                .into_query(),
            several => {
                let mut branches = several.iter().enumerate().map(|(n, status)| {
                    let branch = filtered_jobs(query, names.as_ref(), page_size)
                        .filter(job::Column::Status.eq(status.as_str()))
                        .into_query();
                    Query::select()
                        .column(Asterisk)
                        .from_subquery(branch, Alias::new(format!("status_{n}")))
                        .take()
                });
                let mut union = branches.next().unwrap_or_else(Query::select);
                for branch in branches {
                    union.union(UnionType::All, branch);
                }
                Query::select()
                    .column(Asterisk)
                    .from_subquery(union, Alias::new("statuses"))
                    .order_by(job::Column::SortTime, Order::Desc)
                    .order_by(job::Column::Id, Order::Desc)
                    .limit(page_size + 1)
                    .take()
            }
        };
        let mut jobs = self.jobs_with_names(inner).await?;
        let next = if jobs.len() as u64 > page_size {
            jobs.truncate(page_size as usize);
            jobs.last().map(|last| JobCursor {
                sort_time: last.sort_time,
                id: last.id,
            })
        } else {
            None
        };
        Ok(JobPage { jobs, next })
    }
}

/// A finished backup as the alert engine reads it: no statistics, no names.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedBackup {
    /// The job.
    pub job: JobId,
    /// Its connector.
    pub connector: ConnectorId,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Successful, incomplete or unsuccessful.
    pub status: JobStatus,
    /// Why it failed, when it did.
    pub failure_reason: Option<FailureReason>,
}

impl Store {
    /// Every backup job that ended successful, incomplete or unsuccessful at or
    /// after `since`, in no particular order.
    ///
    /// Reads six columns per job instead of the Job Monitor's forty: a rule's dry
    /// run replays weeks of history of a whole fleet. The stretch up to `now` is read
    /// as four ranges of the `(job_type, sort_time, id)` index at once, over the read
    /// pool (`now` only balances the ranges; later jobs are read too).
    pub async fn finished_backups(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<FinishedBackup>> {
        // A job's sort time is when it started; no backup is expected to run longer
        // than this slack (one that does is left out of the stretch, as a job list
        // that starts at `since` would leave it out).
        let start = since
            .checked_sub_signed(chrono::Duration::days(JOB_RUN_SLACK_DAYS))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let step = (Ord::max(now, since) - start) / 4;
        let bound = |n: i32| start.checked_add_signed(step * n).unwrap_or(now);
        let (a, b, c, d) = tokio::try_join!(
            self.finished_backups_between(since, bound(0), Some(bound(1))),
            self.finished_backups_between(since, bound(1), Some(bound(2))),
            self.finished_backups_between(since, bound(2), Some(bound(3))),
            self.finished_backups_between(since, bound(3), None),
        )?;
        let mut all = a;
        for part in [b, c, d] {
            all.extend(part);
        }
        Ok(all)
    }

    /// The finished backups that ended at or after `since` among the jobs whose
    /// sort time is in `[from, to)` (open-ended when `to` is `None`).
    async fn finished_backups_between(
        &self,
        since: DateTime<Utc>,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<FinishedBackup>> {
        let table = "backup_jobs";
        let finished = [
            JobStatus::Successful,
            JobStatus::Incomplete,
            JobStatus::Unsuccessful,
        ];
        let mut query = job::Entity::find();
        if let Some(to) = to {
            query = query.filter(job::Column::SortTime.lt(micros(to)));
        }
        let rows: Vec<FinishedRow> = query
            .select_only()
            .columns([
                job::Column::JobGuid,
                job::Column::ConnectorGuid,
                job::Column::Status,
                job::Column::EndedAt,
                job::Column::FailureReasonCode,
                job::Column::FailureReasonRaw,
            ])
            .filter(job::Column::JobType.eq(JobType::Backup.as_str()))
            .filter(job::Column::SortTime.gte(micros(from)))
            .filter(job::Column::Status.is_in(finished.iter().map(|status| status.as_str())))
            .filter(job::Column::EndedAt.gte(micros(since)))
            .into_tuple()
            .all(self.reader())
            .await?;
        rows.into_iter()
            .map(|(guid, connector, status, ended_at, code, raw)| {
                let Some(ended_at) = ended_at else {
                    return Ok(None);
                };
                Ok(Some(FinishedBackup {
                    job: job_id(table, "job_guid", &guid)?,
                    connector: connector_id(table, "connector_guid", &connector)?,
                    ended_at,
                    status: JobStatus::parse(&status)
                        .map_err(|e| Error::corrupt(table, "status", &status, e))?,
                    failure_reason: code
                        .as_deref()
                        .map(|code| FailureReason::from_stored(code, raw.as_deref())),
                }))
            })
            .filter_map(Result::transpose)
            .collect()
    }
}

/// How long before its end a finished backup may have started, for the index bound
/// of [`Store::finished_backups`].
const JOB_RUN_SLACK_DAYS: i64 = 7;

/// The columns [`Store::finished_backups`] reads.
type FinishedRow = (
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
);
