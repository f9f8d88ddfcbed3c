//! Repository tests. Each runs against a SQLite file (configured as the binaries use
//! it: WAL, one writer and a pool of readers) and, when `KEEPIT_TEST_POSTGRES_URL` is
//! set, against PostgreSQL in a schema of its own.

mod alerts;
mod customers;
mod fixtures;
mod jobs;
mod pass;
mod props;
mod psa;
mod store;
mod sync;
mod users;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database};

use crate::{Store, StoreConfig};

/// The PostgreSQL server to test against, if any.
#[allow(clippy::disallowed_methods)] // tests choose their backend from the environment
fn postgres_url() -> Option<String> {
    std::env::var("KEEPIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A migrated store on one backend, and how to clean it up.
pub(crate) struct TestBackend {
    pub(crate) store: Store,
    postgres: Option<(String, String)>,
    sqlite_dir: Option<std::path::PathBuf>,
}

fn unique_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "t_keepit_store_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestBackend {
    pub(crate) async fn sqlite() -> TestBackend {
        let dir = std::env::temp_dir().join(unique_schema());
        std::fs::create_dir_all(&dir).expect("test directory");
        let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
        TestBackend {
            store: Store::connect_and_migrate(&StoreConfig::new(url))
                .await
                .expect("sqlite store"),
            postgres: None,
            sqlite_dir: Some(dir),
        }
    }

    pub(crate) async fn postgres(url: &str) -> TestBackend {
        let schema = unique_schema();
        let admin = Database::connect(url)
            .await
            .expect("connect to KEEPIT_TEST_POSTGRES_URL");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .expect("create test schema");
        admin.close().await.expect("close admin connection");
        let mut config = StoreConfig::new(url);
        config.schema = Some(schema.clone());
        config.max_connections = Some(4);
        TestBackend {
            store: Store::connect_and_migrate(&config)
                .await
                .expect("postgres store"),
            postgres: Some((url.to_owned(), schema)),
            sqlite_dir: None,
        }
    }

    /// Drops the PostgreSQL schema (best effort).
    pub(crate) async fn finish(self) {
        let TestBackend {
            store,
            postgres,
            sqlite_dir,
        } = self;
        let _ = store.close().await;
        if let Some(dir) = sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((url, schema)) = postgres
            && let Ok(admin) = Database::connect(&url).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await;
            let _ = admin.close().await;
        }
    }
}

/// Runs `test` against every available backend, each with a fresh migrated store.
pub(crate) async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = TestBackend::sqlite().await;
    test(sqlite.store.clone()).await;
    sqlite.finish().await;
    if let Some(url) = postgres_url() {
        let postgres = TestBackend::postgres(&url).await;
        test(postgres.store.clone()).await;
        postgres.finish().await;
    }
}
