//! Connecting to the database, applying migrations, and the [`Store`] handle.

use std::fmt;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DatabaseTransaction,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait as _,
};
use sea_orm_migration::MigratorTrait;

use crate::error::{Error, Result};
use crate::migration::Migrator;

/// Where the database is and how to talk to it.
///
/// `Debug` prints the URL with its password replaced by `***`.
#[derive(Clone)]
pub struct StoreConfig {
    /// A `DATABASE_URL`-style URL: `sqlite://path.db?mode=rwc`, `sqlite::memory:`,
    /// or `postgres://user:password@host:port/database`.
    pub database_url: String,
    /// Largest number of pooled connections. `None` picks a default: one for SQLite
    /// (SQLite has a single writer; one connection avoids lock upgrades between
    /// connections of the same process), ten for PostgreSQL.
    pub max_connections: Option<u32>,
    /// SQLite files only: connections of a second pool that serves the read-only
    /// queries of the HTTP API (Job Monitor, lists, token checks), so reads run in
    /// parallel next to the single writer (WAL mode lets readers and one writer work at
    /// once). `None` picks four. PostgreSQL and in-memory SQLite use one pool for all.
    pub read_connections: Option<u32>,
    /// How long a SQLite connection waits for a lock held by another connection or
    /// process before giving up (default 30 s). Write transactions begin `IMMEDIATE`,
    /// so every wait for the write lock happens here, where SQLite retries by itself.
    pub busy_timeout: Duration,
    /// How long to wait for a connection (PostgreSQL) or for the pool to hand one out.
    pub connect_timeout: Duration,
    /// PostgreSQL only: the schema to use instead of `public` (set as `search_path`
    /// on every connection). The schema must exist.
    pub schema: Option<String>,
}

impl StoreConfig {
    /// The default database: a SQLite file in the working directory, created on first use.
    pub const DEFAULT_URL: &'static str = "sqlite://keepit-watch.db?mode=rwc";

    /// The default database inside a state directory: `keepit-watch.db` there.
    pub fn default_url_in(state_dir: &std::path::Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            state_dir.join("keepit-watch.db").display()
        )
    }

    /// A configuration for `database_url` with default settings.
    pub fn new(database_url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            database_url: database_url.into(),
            max_connections: None,
            read_connections: None,
            busy_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            schema: None,
        }
    }

    /// A private in-memory SQLite database, gone when the store is dropped.
    pub fn in_memory() -> StoreConfig {
        StoreConfig::new("sqlite::memory:")
    }

    /// The database URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.database_url)
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::new(StoreConfig::DEFAULT_URL)
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("database_url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("read_connections", &self.read_connections)
            .field("busy_timeout", &self.busy_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Replaces the password of a URL (`user:password@`, or a `password=` parameter) by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let at = authority_start + at;
            if let Some(colon) = out[authority_start..at].find(':') {
                out.replace_range(authority_start + colon + 1..at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file, or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The handle to keepit-watch's database. Cheap to clone: clones share one pool.
///
/// Repository methods are grouped by area in the crate's modules; each takes and
/// returns domain types or the plain record types of this crate.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// The pool for read-only queries: a pool of its own for SQLite files, else `db`.
    reader: DatabaseConnection,
    backend: Backend,
    schema: Option<String>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to the database named by `config`.
    ///
    /// SQLite files are created when the URL says `mode=rwc`, and run in WAL mode with
    /// a busy timeout, foreign keys on and up to 256 MiB of the file memory-mapped for
    /// reads; they get one writer connection and a pool of readers
    /// ([`StoreConfig::read_connections`]). PostgreSQL gets one connection pool.
    pub async fn connect(config: &StoreConfig) -> Result<Store> {
        let url = config.database_url.trim();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::InvalidUrl {
                url: config.redacted_url(),
                reason: "expected a sqlite: or postgres:// url",
            });
        };
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let base_options = || {
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .sqlx_logging(false)
                .connect_timeout(config.connect_timeout)
                .acquire_timeout(config.connect_timeout);
            if backend == Backend::Sqlite {
                let busy_timeout = config.busy_timeout;
                options.map_sqlx_sqlite_opts(move |sqlite: SqliteConnectOptions| {
                    let sqlite = sqlite.busy_timeout(busy_timeout).foreign_keys(true);
                    if in_memory {
                        sqlite
                    } else {
                        sqlite
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                            .pragma("mmap_size", "268435456")
                    }
                });
            }
            options
        };
        let mut options = base_options();
        match backend {
            Backend::Sqlite => {
                if in_memory {
                    // Every connection to `:memory:` is its own database: keep exactly one
                    // connection open for the life of the pool.
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                } else {
                    options.max_connections(config.max_connections.unwrap_or(1));
                }
            }
            Backend::Postgres => {
                options.max_connections(config.max_connections.unwrap_or(10));
                if let Some(schema) = &config.schema {
                    if !valid_schema_name(schema) {
                        return Err(Error::InvalidUrl {
                            url: config.redacted_url(),
                            reason: "the schema name must be 1 to 63 lowercase letters, digits or underscores",
                        });
                    }
                    options.set_schema_search_path(schema.clone());
                }
            }
        }
        let connect_error = |source| Error::Connect {
            url: config.redacted_url(),
            source,
        };
        let db = Database::connect(options).await.map_err(connect_error)?;
        let reader = if backend == Backend::Sqlite && !in_memory {
            let mut options = base_options();
            options.max_connections(config.read_connections.unwrap_or(4).max(1));
            Database::connect(options).await.map_err(connect_error)?
        } else {
            db.clone()
        };
        let schema = match backend {
            Backend::Postgres => config.schema.clone(),
            Backend::Sqlite => None,
        };
        if let Some(schema) = &schema {
            // A configured schema that does not exist yet is created, so a fresh
            // database only needs the schema name.
            db.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(|source| Error::Connect {
                    url: config.redacted_url(),
                    source,
                })?;
        }
        Ok(Store {
            db,
            reader,
            backend,
            schema,
        })
    }

    /// Drops the configured PostgreSQL schema with everything in it, and closes the store.
    /// Meant for tests that give each run a schema of its own; does nothing on SQLite.
    pub async fn drop_schema_and_close(self) -> Result<()> {
        if let Some(schema) = &self.schema {
            self.db
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await?;
        }
        self.close().await
    }

    /// Applies every migration that has not been applied yet.
    ///
    /// Processes that start together on an empty database take turns: the migrations
    /// run inside one transaction that first takes a lock (a transaction-scoped advisory
    /// lock on PostgreSQL, an exclusive transaction on SQLite), so the second process
    /// waits, then finds nothing left to do.
    pub async fn migrate(&self) -> Result<()> {
        let mode = match self.backend {
            Backend::Sqlite => SqliteTransactionMode::Exclusive,
            Backend::Postgres => SqliteTransactionMode::Deferred,
        };
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(mode),
                ..TransactionOptions::default()
            })
            .await
            .map_err(Error::Migration)?;
        if self.backend == Backend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await
            .map_err(Error::Migration)?;
        }
        Migrator::up(&txn, None).await.map_err(Error::Migration)?;
        txn.commit().await.map_err(Error::Migration)
    }

    /// Begins a write transaction. On SQLite it begins `IMMEDIATE`: the write lock is
    /// taken at `BEGIN`, waiting up to the busy timeout, instead of at the first write,
    /// where a transaction that has already read cannot wait and fails with "database
    /// is locked" as soon as another process writes.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        Ok(self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?)
    }

    /// [`Store::connect`] followed by [`Store::migrate`], as both binaries do at startup.
    pub async fn connect_and_migrate(config: &StoreConfig) -> Result<Store> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (a connection round trip).
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(Error::Database)
    }

    /// Checks that the database is ready to serve: it answers, its schema is migrated,
    /// and the tables every request reads can be read, through the read pool and the
    /// writer (separate connections on SQLite). A missing table or a damaged page at
    /// the root of one fails here, where a bare ping would still succeed.
    ///
    /// Every probe is a constant amount of work (one row of each table at most), so a
    /// readiness check every few seconds costs nothing on a large database.
    pub async fn ready(&self) -> Result<()> {
        let backend = self.db.get_database_backend();
        let probe = "SELECT (SELECT COUNT(*) FROM seaql_migrations) AS migrations, \
                     (SELECT id FROM users LIMIT 1) AS a_user, \
                     (SELECT id FROM api_tokens LIMIT 1) AS a_token, \
                     (SELECT id FROM sync_runs ORDER BY id DESC LIMIT 1) AS a_run, \
                     (SELECT id FROM backup_jobs LIMIT 1) AS a_job, \
                     (SELECT id FROM alerts LIMIT 1) AS an_alert";
        for pool in [&self.reader, &self.db] {
            let row = pool
                .query_one_raw(Statement::from_string(backend, probe))
                .await?;
            let migrations = row
                .map(|row| row.try_get::<i64>("", "migrations"))
                .transpose()?
                .unwrap_or(0);
            if migrations == 0 {
                return Err(Error::invalid(
                    "schema",
                    "no migration has been applied to this database",
                ));
            }
        }
        Ok(())
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            // A clone of `db` when there is no separate read pool; closing twice is
            // harmless.
            self.reader.close_by_ref().await.map_err(Error::Database)?;
        }
        self.db.close().await.map_err(Error::Database)
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The pool for queries that only read and need no transaction.
    pub(crate) fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    #[cfg(test)]
    pub(crate) fn db_backend(&self) -> sea_orm::DbBackend {
        self.db.get_database_backend()
    }
}

/// The PostgreSQL advisory lock key that serialises migrations ("keepit-w" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6b65_6570_6974_2d77;

/// PostgreSQL schema names accepted in configuration: plain lowercase identifiers, so
/// they can be quoted into statements safely.
fn valid_schema_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}
