//! A synced store, users with tokens, and request helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt as _;
use keepit_client::{Credentials, KeepitClient, RetryPolicy};
use keepit_domain::{MessagePreference, UserId};
use keepit_http::{AppState, Clock, router};
use keepit_ingest::{Clock as SyncClock, Integration, NoopHook, Shutdown, SyncConfig, sync_once};
use keepit_mock::{Fleet, FleetServer, FleetSpec, MockKeepit};
use keepit_store::secrets::MasterKey;
use keepit_store::{KeepitCredentials, NewIntegration, NewUser, Role, Store, StoreConfig};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// A response: status, body text, and the body as JSON when it parses.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Answer {
    /// The envelope's `error.code`.
    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The envelope's `error.message`.
    pub(crate) fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }
}

/// The databases an HTTP test runs on: SQLite always, PostgreSQL when
/// `KEEPIT_TEST_POSTGRES_URL` is set (CI sets it), each in a schema of its own.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn config(&self) -> StoreConfig {
        match self {
            Backend::Sqlite => StoreConfig::in_memory(),
            Backend::Postgres(url) => {
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.subsec_nanos());
                let mut config = StoreConfig::new(url.clone());
                config.schema = Some(format!(
                    "t_keepit_http_{}_{nanos}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                config.max_connections = Some(4);
                config
            }
        }
    }
}

/// Every backend to run on.
#[allow(clippy::disallowed_methods)] // Tests choose their backend from the environment.
pub(crate) fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = std::env::var("KEEPIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
    {
        backends.push(Backend::Postgres(url));
    }
    backends
}

/// Runs `test` against a fresh app on every backend in turn.
pub(crate) async fn on_each_backend(test: impl AsyncFn(&App)) {
    for backend in backends() {
        #[allow(clippy::print_stderr)] // Shown by the test runner when the test fails.
        {
            eprintln!("--- on {}", backend.name());
        }
        let app = App::open(&backend, true).await;
        test(&app).await;
        app.finish().await;
    }
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

pub(crate) struct App {
    store_config: StoreConfig,
    pub(crate) store: Store,
    pub(crate) state: AppState,
    pub(crate) router: Router,
    pub(crate) fleet: FleetServer,
    pub(crate) _mock: MockKeepit,
    pub(crate) admin: String,
    pub(crate) admin_id: UserId,
    pub(crate) viewer: String,
    pub(crate) viewer_id: UserId,
    pub(crate) integration: keepit_store::IntegrationId,
}

pub(crate) fn spec() -> FleetSpec {
    FleetSpec {
        seed: 7,
        accounts: 6,
        connectors_per_account: (2, 3),
        ..FleetSpec::default()
    }
}

impl App {
    /// A fleet synced into a fresh SQLite store, with or without the master key.
    pub(crate) async fn start_with(master_key: bool) -> App {
        App::open(&Backend::Sqlite, master_key).await
    }

    /// Drops the test's PostgreSQL schema; the store may already be closed.
    pub(crate) async fn finish(self) {
        let _ = self.store.close().await;
        if self.store_config.schema.is_some()
            && let Ok(store) = Store::connect_and_migrate(&self.store_config).await
        {
            let _ = store.drop_schema_and_close().await;
        }
    }

    /// A fleet synced into a fresh store on `backend`, without alert evaluation.
    pub(crate) async fn open(backend: &Backend, master_key: bool) -> App {
        App::open_with(backend, master_key, false).await
    }

    /// The same, with the shipped alert pass evaluating the default rules after the
    /// sync (as the demo does), so the fleet's stale and failing connectors alert.
    pub(crate) async fn open_with(backend: &Backend, master_key: bool, alerts: bool) -> App {
        let store_config = backend.config();
        let store = Store::connect_and_migrate(&store_config)
            .await
            .expect("store");
        let fleet = Fleet::generate(&spec()).expect("fleet");
        let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
        let now = served.now();
        let key = Arc::new(MasterKey::generate());
        let integration = store
            .create_integration(
                &NewIntegration {
                    name: "MSP".into(),
                    region: None,
                    base_url: Some(mock.uri()),
                    parent_account: served.parent(),
                    credentials: KeepitCredentials {
                        username: Some(mock.credentials().username().to_owned()),
                        password: Some(mock.credentials().password().clone()),
                        api_token_login: None,
                        api_token_password: None,
                    },
                    enabled: true,
                    settings: keepit_store::IntegrationSettings::default(),
                },
                &key,
                now,
            )
            .await
            .expect("integration");
        let client = KeepitClient::builder()
            .base_url(mock.uri())
            .credentials(Credentials::UserPassword {
                username: mock.credentials().username().to_owned(),
                password: mock.credentials().password().clone(),
            })
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
            clock: SyncClock::from_fn(move || clock_source.now()),
            ..SyncConfig::default()
        };
        let target = Integration {
            id: integration.id,
            parent: integration.parent_account.clone(),
            client,
        };
        if alerts {
            let hook = keepit_alerts::AlertPass::default();
            sync_once(&store, &target, &config, &hook, &Shutdown::never()).await
        } else {
            sync_once(&store, &target, &config, &NoopHook, &Shutdown::never()).await
        }
        .expect("sync");
        let (admin_id, admin) = user(&store, "admin@example.test", Role::Admin, now).await;
        let (viewer_id, viewer) = user(&store, "viewer@example.test", Role::Viewer, now).await;
        let state = AppState {
            store: store.clone(),
            master_key: master_key.then_some(key),
            clock: Clock::fixed(now),
            metrics_public: false,
            web: keepit_http::WebConfig::default(),
            build: keepit_http::BuildInfo::default(),
        };
        App {
            store_config,
            router: router(state.clone()),
            state,
            store,
            fleet: served,
            _mock: mock,
            admin,
            admin_id,
            viewer,
            viewer_id,
            integration: integration.id,
        }
    }

    /// What a sync daemon does when asked: syncs every enabled integration that has
    /// a "sync now" waiting, with the stored credentials, and evaluates alerts.
    pub(crate) async fn run_requested_syncs(&self) -> usize {
        let key = self.state.master_key.as_deref().expect("a master key");
        let requested = self.store.take_sync_requests().await.unwrap();
        for id in &requested {
            let record = self.store.integration(*id).await.unwrap();
            let credentials = self.store.integration_credentials(*id, key).await.unwrap();
            let client = keepit_ingest::client_for_integration(
                &record,
                credentials,
                &keepit_ingest::ClientLimits::default(),
            )
            .unwrap();
            let clock_source = self.fleet.clone();
            let config = SyncConfig {
                clock: SyncClock::from_fn(move || clock_source.now()),
                ..SyncConfig::default()
            };
            let target = Integration {
                id: *id,
                parent: record.parent_account.clone(),
                client,
            };
            sync_once(
                &self.store,
                &target,
                &config,
                &keepit_alerts::AlertPass::default(),
                &Shutdown::never(),
            )
            .await
            .unwrap();
        }
        requested.len()
    }

    /// The fleet's "now", which the app's clock answers.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.fleet.now()
    }

    /// The same app with its clock at `at`.
    pub(crate) fn at(&self, at: DateTime<Utc>) -> Router {
        let mut state = self.state.clone();
        state.clock = Clock::fixed(at);
        router(state)
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&self.admin), None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::POST, path, Some(&self.admin), body).await
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        send(&self.router, method, path, token, body).await
    }
}

pub(crate) async fn send(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    answer(router, request).await
}

/// Sends a request built by the caller (for headers `send` does not set).
pub(crate) async fn answer(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        text,
        json,
    }
}

async fn user(store: &Store, email: &str, role: Role, now: DateTime<Utc>) -> (UserId, String) {
    let user = store
        .create_user(
            &NewUser {
                email: email.to_owned(),
                name: email.to_owned(),
                role,
                primary_admin: role == Role::Admin,
                message_preference: MessagePreference::Default,
            },
            now,
        )
        .await
        .unwrap();
    let (_, token) = store.create_api_token(user.id, "test", now).await.unwrap();
    (user.id, token.expose_secret().to_owned())
}
