//! Upsert benchmark: 100,000 audit events and 100,000 jobs through the repository,
//! against plain multi-row `INSERT`s of the same rows through sqlx, on a SQLite file and
//! (when `KEEPIT_BENCH_POSTGRES_URL` is set) PostgreSQL. Run with
//! `cargo bench -p keepit-store --bench upsert`.

#![allow(clippy::print_stdout)] // A benchmark reports on stdout.
#![allow(missing_docs)] // A benchmark binary has no public API.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use keepit_domain::{
    AccountId, AuditCategory, BackupStatistics, ConnectorId, ConnectorKind, FailureReason, JobId,
    JobStatistics, JobStatus, JobType, ReasonCode, Volume,
};
use keepit_store::{AuditEventRecord, ConnectorRecord, JobRecord, Store, StoreConfig};
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, Database};

const ROWS: usize = 100_000;
const BATCH: usize = 5_000;
const CONNECTORS: usize = 1_000;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn account(n: usize) -> AccountId {
    AccountId::new(&format!("acct{:04}-aaaaaa-bbbbbb", n % 100)).unwrap()
}

fn connector_id(n: usize) -> ConnectorId {
    ConnectorId::new(&format!("conn{:05}-cccccc-dddddd", n % CONNECTORS)).unwrap()
}

fn connectors() -> Vec<ConnectorRecord> {
    (0..CONNECTORS)
        .map(|n| ConnectorRecord {
            connector: connector_id(n),
            account: account(n),
            name: format!("Connector {n}"),
            kind: ConnectorKind::Microsoft365,
            created: Some(base()),
            accessible: true,
            deletion_deadline: None,
            backup_retention: Some("P1Y".to_owned()),
        })
        .collect()
}

fn jobs() -> Vec<JobRecord> {
    (0..ROWS)
        .map(|n| {
            let started = base() + TimeDelta::seconds(n as i64 * 37);
            let failed = n % 7 == 0;
            JobRecord {
                raw_stats: Vec::new(),
                job: JobId::new(&format!("job{n:07}-eeeeee-ffffff-gggggg")).unwrap(),
                connector: connector_id(n),
                account: account(n),
                job_type: if n % 11 == 0 {
                    JobType::Restore
                } else {
                    JobType::Backup
                },
                status: if failed {
                    JobStatus::Unsuccessful
                } else {
                    JobStatus::Successful
                },
                active: false,
                scheduled: Some(started - TimeDelta::seconds(60)),
                start: Some(started - TimeDelta::seconds(30)),
                dispatched: Some(started - TimeDelta::seconds(5)),
                started: Some(started),
                succeeded: (!failed).then(|| started + TimeDelta::seconds(600)),
                failed: failed.then(|| started + TimeDelta::seconds(300)),
                cancelled: None,
                progress: Some(if failed { 0.4 } else { 1.0 }),
                snapshot_at: Some(started + TimeDelta::seconds(590)),
                statistics: Some(JobStatistics::Backup(BackupStatistics {
                    added: Volume {
                        count: n as u64 % 1000,
                        bytes: n as u64 * 1024,
                    },
                    removed: Volume {
                        count: n as u64 % 10,
                        bytes: 2048,
                    },
                    skipped: Volume {
                        count: u64::from(failed),
                        bytes: 0,
                    },
                })),
                failure_reason: failed
                    .then_some(FailureReason::Known(ReasonCode::AuthenticationFailed)),
                failure_summary: failed
                    .then(|| "Authentication failed for the service account".to_owned()),
                description: Some(format!(
                    "[backup][bl][auto][o365-admin]{{Connector {}}}",
                    n % CONNECTORS
                )),
            }
        })
        .collect()
}

fn audit_events() -> Vec<AuditEventRecord> {
    (0..ROWS)
        .map(|n| AuditEventRecord {
            time: base() + TimeDelta::seconds(n as i64 * 13),
            account: account(n),
            connector: (n % 3 == 0).then(|| connector_id(n)),
            actor: Some(format!("user{}@example.com", n % 50)),
            client_ip: Some(format!("198.51.100.{}", n % 250)),
            acl: "DevJobs".to_owned(),
            method: "put".to_owned(),
            allowed: Some(true),
            succeeded: Some(n % 13 != 0),
            area: "Backup/Restore".to_owned(),
            category: AuditCategory::Recovery,
            message: format!("Restore of item {n} requested"),
            metadata: vec![
                ("job".to_owned(), format!("j{n}")),
                ("items".to_owned(), (n % 97).to_string()),
            ],
        })
        .collect()
}

/// Column names and kinds of the two tables, as the migration creates them (minus `id`).
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Real,
    Bool,
    Time,
}

const JOB_COLUMNS: &[(&str, Kind)] = &[
    ("job_guid", Kind::Text),
    ("connector_guid", Kind::Text),
    ("account_guid", Kind::Text),
    ("customer_id", Kind::Int),
    ("job_type", Kind::Text),
    ("status", Kind::Text),
    ("active", Kind::Bool),
    ("scheduled_at", Kind::Time),
    ("start_at", Kind::Time),
    ("dispatched_at", Kind::Time),
    ("started_at", Kind::Time),
    ("succeeded_at", Kind::Time),
    ("failed_at", Kind::Time),
    ("cancelled_at", Kind::Time),
    ("ended_at", Kind::Time),
    ("sort_time", Kind::Time),
    ("progress", Kind::Real),
    ("snapshot_at", Kind::Time),
    ("stats_kind", Kind::Text),
    ("added_count", Kind::Int),
    ("added_bytes", Kind::Int),
    ("removed_count", Kind::Int),
    ("removed_bytes", Kind::Int),
    ("skipped_count", Kind::Int),
    ("skipped_bytes", Kind::Int),
    ("restored_count", Kind::Int),
    ("restored_bytes", Kind::Int),
    ("overwritten_count", Kind::Int),
    ("overwritten_bytes", Kind::Int),
    ("failure_reason_code", Kind::Text),
    ("failure_reason_raw", Kind::Text),
    ("failure_summary", Kind::Text),
    ("description", Kind::Text),
    ("first_seen_at", Kind::Time),
    ("updated_at", Kind::Time),
];

const AUDIT_COLUMNS: &[(&str, Kind)] = &[
    ("content_hash", Kind::Text),
    ("occurred_at", Kind::Time),
    ("account_guid", Kind::Text),
    ("customer_id", Kind::Int),
    ("connector_guid", Kind::Text),
    ("actor", Kind::Text),
    ("client_network", Kind::Text),
    ("acl", Kind::Text),
    ("method", Kind::Text),
    ("allowed", Kind::Bool),
    ("succeeded", Kind::Bool),
    ("area", Kind::Text),
    ("category", Kind::Text),
    ("message", Kind::Text),
    ("metadata", Kind::Text),
    ("first_seen_at", Kind::Time),
];

#[derive(Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

type Rows = Vec<Vec<Value>>;

macro_rules! read_rows {
    ($row:expr, $columns:expr) => {
        $columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Text => Value::Text($row.try_get(*name).unwrap()),
                Kind::Int => Value::Int($row.try_get(*name).unwrap()),
                Kind::Real => Value::Real($row.try_get(*name).unwrap()),
                Kind::Bool => Value::Bool($row.try_get(*name).unwrap()),
                Kind::Time => Value::Time($row.try_get(*name).unwrap()),
            })
            .collect::<Vec<_>>()
    };
}

macro_rules! plain_insert {
    ($pool:expr, $table:expr, $columns:expr, $rows:expr, $rows_per_statement:expr, $placeholder:expr) => {{
        let names: Vec<&str> = $columns.iter().map(|(name, _)| *name).collect();
        for batch in $rows.chunks(BATCH) {
            let mut tx = $pool.begin().await.unwrap();
            for chunk in batch.chunks($rows_per_statement) {
                let mut sql = format!("INSERT INTO {} ({}) VALUES ", $table, names.join(", "));
                let mut n = 0;
                for (i, _) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    for c in 0..names.len() {
                        if c > 0 {
                            sql.push_str(", ");
                        }
                        n += 1;
                        sql.push_str(&$placeholder(n));
                    }
                    sql.push(')');
                }
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for row in chunk {
                    for value in row {
                        query = match value.clone() {
                            Value::Text(v) => query.bind(v),
                            Value::Int(v) => query.bind(v),
                            Value::Real(v) => query.bind(v),
                            Value::Bool(v) => query.bind(v),
                            Value::Time(v) => query.bind(v),
                        };
                    }
                }
                query.execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }
    }};
}

struct Figures {
    audit_first: Duration,
    audit_again: Duration,
    jobs_first: Duration,
    jobs_again: Duration,
    audit_plain: Duration,
    jobs_plain: Duration,
}

async fn ours(
    store: &Store,
    audit: &[AuditEventRecord],
    jobs: &[JobRecord],
) -> (Duration, Duration, u64, u64) {
    let now = base() + TimeDelta::days(400);
    let started = Instant::now();
    let mut audit_written = 0;
    for batch in audit.chunks(BATCH) {
        audit_written += store
            .upsert_audit_events(batch, now)
            .await
            .unwrap()
            .written();
    }
    let audit_time = started.elapsed();
    let started = Instant::now();
    let mut jobs_written = 0;
    for batch in jobs.chunks(BATCH) {
        jobs_written += store.upsert_jobs(batch, now).await.unwrap().written();
    }
    (audit_time, started.elapsed(), audit_written, jobs_written)
}

fn rate(rows: usize, time: Duration) -> f64 {
    rows as f64 / time.as_secs_f64()
}

fn report(backend: &str, f: &Figures) {
    println!("\n{backend} ({ROWS} rows each, {BATCH} per repository call)");
    println!(
        "  {:<14} {:>12} {:>12} {:>12} {:>10} {:>14}",
        "table", "ours rows/s", "plain rows/s", "re-upsert/s", "ours/plain", "re-upsert/first"
    );
    for (name, first, plain, again) in [
        ("audit events", f.audit_first, f.audit_plain, f.audit_again),
        ("jobs", f.jobs_first, f.jobs_plain, f.jobs_again),
    ] {
        println!(
            "  {:<14} {:>12.0} {:>12.0} {:>12.0} {:>10.2} {:>14.2}",
            name,
            rate(ROWS, first),
            rate(ROWS, plain),
            rate(ROWS, again),
            plain.as_secs_f64() / first.as_secs_f64(),
            first.as_secs_f64() / again.as_secs_f64(),
        );
    }
}

async fn fresh_store(config: &StoreConfig) -> Store {
    let store = Store::connect_and_migrate(config).await.unwrap();
    store
        .upsert_connectors(&connectors(), base())
        .await
        .unwrap();
    store
}

async fn bench_sqlite(audit: &[AuditEventRecord], jobs: &[JobRecord]) -> Figures {
    let dir = std::env::temp_dir().join(format!("keepit-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());

    let store = fresh_store(&StoreConfig::new(url("ours.db"))).await;
    let (audit_first, jobs_first, a, j) = ours(&store, audit, jobs).await;
    assert_eq!((a, j), (ROWS as u64, ROWS as u64));
    let (audit_again, jobs_again, a, j) = ours(&store, audit, jobs).await;
    assert_eq!(
        (a, j),
        (0, 0),
        "a second upsert of the same rows writes nothing"
    );
    store.close().await.unwrap();

    // The same rows, read back from our database, go into a fresh one with plain INSERTs.
    let options = |name: &str| {
        url(name)
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
    };
    let source = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options("ours.db"))
        .await
        .unwrap();
    let job_rows: Rows = sqlx::query("SELECT * FROM backup_jobs ORDER BY id")
        .fetch_all(&source)
        .await
        .unwrap()
        .iter()
        .map(|r| read_rows!(r, JOB_COLUMNS))
        .collect();
    let audit_rows: Rows = sqlx::query("SELECT * FROM backup_audit_events ORDER BY id")
        .fetch_all(&source)
        .await
        .unwrap()
        .iter()
        .map(|r| read_rows!(r, AUDIT_COLUMNS))
        .collect();
    source.close().await;
    fresh_store(&StoreConfig::new(url("plain.db")))
        .await
        .close()
        .await
        .unwrap();
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options("plain.db"))
        .await
        .unwrap();
    let placeholder = |_: usize| "?".to_owned();
    let started = Instant::now();
    plain_insert!(
        pool,
        "backup_audit_events",
        AUDIT_COLUMNS,
        audit_rows,
        30_000 / 16,
        placeholder
    );
    let audit_plain = started.elapsed();
    let started = Instant::now();
    plain_insert!(
        pool,
        "backup_jobs",
        JOB_COLUMNS,
        job_rows,
        30_000 / 36,
        placeholder
    );
    let jobs_plain = started.elapsed();
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Figures {
        audit_first,
        audit_again,
        jobs_first,
        jobs_again,
        audit_plain,
        jobs_plain,
    }
}

async fn bench_postgres(url: &str, audit: &[AuditEventRecord], jobs: &[JobRecord]) -> Figures {
    let admin = Database::connect(url).await.unwrap();
    let schema = |name: &str| format!("bench_{}_{name}", std::process::id());
    for name in ["ours", "plain"] {
        admin
            .execute_unprepared(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE; CREATE SCHEMA {}",
                schema(name),
                schema(name)
            ))
            .await
            .unwrap();
    }
    let config = |name: &str| {
        let mut config = StoreConfig::new(url);
        config.schema = Some(schema(name));
        config
    };
    let store = fresh_store(&config("ours")).await;
    let (audit_first, jobs_first, a, j) = ours(&store, audit, jobs).await;
    assert_eq!((a, j), (ROWS as u64, ROWS as u64));
    let (audit_again, jobs_again, a, j) = ours(&store, audit, jobs).await;
    assert_eq!(
        (a, j),
        (0, 0),
        "a second upsert of the same rows writes nothing"
    );
    store.close().await.unwrap();

    let pool_for = |name: &str| {
        // Leaked once per pool: the callback needs a 'static statement.
        let search_path: &'static str =
            Box::leak(format!("SET search_path = {}", schema(name)).into_boxed_str());
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, search_path).await?;
                    Ok(())
                })
            })
    };
    let source = pool_for("ours").connect(url).await.unwrap();
    let job_rows: Rows = sqlx::query("SELECT * FROM backup_jobs ORDER BY id")
        .fetch_all(&source)
        .await
        .unwrap()
        .iter()
        .map(|r| read_rows!(r, JOB_COLUMNS))
        .collect();
    let audit_rows: Rows = sqlx::query("SELECT * FROM backup_audit_events ORDER BY id")
        .fetch_all(&source)
        .await
        .unwrap()
        .iter()
        .map(|r| read_rows!(r, AUDIT_COLUMNS))
        .collect();
    source.close().await;
    fresh_store(&config("plain")).await.close().await.unwrap();
    let pool = pool_for("plain").connect(url).await.unwrap();
    let placeholder = |n: usize| format!("${n}");
    let started = Instant::now();
    plain_insert!(
        pool,
        "backup_audit_events",
        AUDIT_COLUMNS,
        audit_rows,
        2_000,
        placeholder
    );
    let audit_plain = started.elapsed();
    let started = Instant::now();
    plain_insert!(
        pool,
        "backup_jobs",
        JOB_COLUMNS,
        job_rows,
        60_000 / 36,
        placeholder
    );
    let jobs_plain = started.elapsed();
    pool.close().await;
    for name in ["ours", "plain"] {
        admin
            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema(name)))
            .await
            .unwrap();
    }
    Figures {
        audit_first,
        audit_again,
        jobs_first,
        jobs_again,
        audit_plain,
        jobs_plain,
    }
}

#[allow(clippy::disallowed_methods)] // The benchmark binary picks its PostgreSQL server from the environment.
fn postgres_url() -> Option<String> {
    std::env::var("KEEPIT_BENCH_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing else useful.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let audit = audit_events();
        let jobs = jobs();
        let sqlite = bench_sqlite(&audit, &jobs).await;
        report("SQLite (file, WAL)", &sqlite);
        match postgres_url() {
            Some(url) => {
                let postgres = bench_postgres(&url, &audit, &jobs).await;
                report("PostgreSQL", &postgres);
            }
            None => println!("\nPostgreSQL skipped: set KEEPIT_BENCH_POSTGRES_URL to include it"),
        }
    });
}
