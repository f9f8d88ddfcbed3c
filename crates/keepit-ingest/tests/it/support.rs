//! A fleet served by keepit-mock, a store, and a client and config pointed at them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keepit_client::{Credentials, KeepitClient, RetryPolicy};
use keepit_ingest::{Clock, Integration, NoopHook, Shutdown, SyncConfig, SyncReport, sync_once};
use keepit_mock::{Fleet, FleetServer, FleetSpec, MockKeepit};
use keepit_store::{KeepitCredentials, NewIntegration, Store, StoreConfig};

/// The PostgreSQL server to test against, if any.
#[allow(clippy::disallowed_methods)] // Tests choose their backend from the environment.
pub(crate) fn postgres_url() -> Option<String> {
    std::env::var("KEEPIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

pub(crate) async fn sqlite() -> Store {
    Store::connect_and_migrate(&StoreConfig::in_memory())
        .await
        .expect("sqlite store")
}

pub(crate) async fn postgres(url: &str) -> Store {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut config = StoreConfig::new(url);
    config.schema = Some(format!(
        "t_keepit_ingest_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    config.max_connections = Some(4);
    Store::connect_and_migrate(&config)
        .await
        .expect("postgres store")
}

/// Every backend to run a test on.
pub(crate) async fn backends() -> Vec<(&'static str, Store)> {
    let mut stores = vec![("sqlite", sqlite().await)];
    if let Some(url) = postgres_url() {
        stores.push(("postgres", postgres(&url).await));
    }
    stores
}

pub(crate) async fn finish(store: Store) {
    let _ = store.drop_schema_and_close().await;
}

pub(crate) struct Harness {
    pub(crate) mock: MockKeepit,
    pub(crate) fleet: FleetServer,
    pub(crate) integration: Integration,
    pub(crate) config: SyncConfig,
}

pub(crate) fn small_spec(seed: u64) -> FleetSpec {
    FleetSpec {
        seed,
        accounts: 8,
        connectors_per_account: (2, 4),
        ..FleetSpec::default()
    }
}

impl Harness {
    pub(crate) async fn start(spec: &FleetSpec, store: &Store) -> Harness {
        let fleet = Fleet::generate(spec).expect("fleet");
        let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
        let now = served.now();
        let integration = store
            .create_integration(
                &NewIntegration {
                    name: "MSP".into(),
                    region: None,
                    base_url: Some(mock.uri()),
                    parent_account: served.parent(),
                    credentials: KeepitCredentials::default(),
                    enabled: true,
                    settings: keepit_store::IntegrationSettings::default(),
                },
                &keepit_store::secrets::MasterKey::generate(),
                now,
            )
            .await
            .expect("integration");
        let credentials = Credentials::UserPassword {
            username: mock.credentials().username().to_owned(),
            password: mock.credentials().password().clone(),
        };
        let client = KeepitClient::builder()
            .base_url(mock.uri())
            .credentials(credentials)
            .max_concurrency(8)
            .retry(RetryPolicy {
                max_attempts: 8,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(5),
            })
            .build()
            .expect("client");
        let clock_source = served.clone();
        let config = SyncConfig {
            clock: Clock::from_fn(move || clock_source.now()),
            ..SyncConfig::default()
        };
        Harness {
            mock,
            fleet: served,
            integration: Integration {
                id: integration.id,
                parent: integration.parent_account,
                client,
            },
            config,
        }
    }

    pub(crate) async fn sync(&self, store: &Store) -> SyncReport {
        sync_once(
            store,
            &self.integration,
            &self.config,
            &NoopHook,
            &Shutdown::never(),
        )
        .await
        .expect("sync pass")
    }
}
