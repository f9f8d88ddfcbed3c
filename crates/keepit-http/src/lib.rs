//! The keepit-watch HTTP API: an axum `Router` over keepit-store.
//!
//! [`router`] builds the whole application from an [`AppState`]: the JSON API under
//! `/api/v1` (jobs, customers, connectors, alerts, alert rules, messages, integrations,
//! sync runs), its OpenAPI document at `/api/v1/openapi.json`, and the operations
//! endpoints `/healthz`, `/readyz` and `/metrics`. Every route but `/healthz` needs an
//! `Authorization: Bearer <token>` header checked against the store's API tokens;
//! viewers may only read. Errors use one envelope, [`AppError`]; JSON bodies are the
//! types of [`dto`], converted explicitly from store and domain types.
//!
//! This crate reaches the database only through keepit-store (never sea-orm), reads
//! no environment variables, and uses keepit-client only to test an integration's
//! connection and to fetch a job's skipped items.

mod auth;
pub mod dto;
mod error;
mod keepit;
mod metrics;
mod openapi;
mod query;
mod routes;
mod web;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use chrono::{DateTime, Utc};
use keepit_store::Store;
use keepit_store::secrets::MasterKey;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use crate::error::{AppError, ErrorCode};
pub use crate::web::WebConfig;

/// Where the handlers read the current time from.
///
/// Production uses the system clock; tests pin it so that age checks (the one-month
/// window of skipped-items reports) are deterministic.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that always answers `at`.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// A clock that asks `now` for the time.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The key that seals stored Keepit credentials. Without it, creating
    /// integrations, testing them and fetching skipped items answer 503.
    pub master_key: Option<Arc<MasterKey>>,
    /// The time source.
    pub clock: Clock,
    /// Whether `/metrics` answers without a token (for scrapers that cannot send one).
    pub metrics_public: bool,
    /// Browser sessions of the dashboard.
    pub web: WebConfig,
    /// What `/metrics` reports as `keepit_watch_build_info`.
    pub build: BuildInfo,
}

/// The version and commit of the program serving the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release version.
    pub version: String,
    /// The git commit it was built from (`unknown` without git).
    pub commit: String,
}

impl Default for BuildInfo {
    /// This crate's version, commit unknown (a binary sets its own).
    fn default() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: "unknown".to_owned(),
        }
    }
}

impl AppState {
    /// A state with the system clock.
    pub fn new(store: Store, master_key: Option<Arc<MasterKey>>) -> AppState {
        AppState {
            store,
            master_key,
            clock: Clock::system(),
            metrics_public: false,
            web: WebConfig::default(),
            build: BuildInfo::default(),
        }
    }
}

/// The OpenAPI document's fixed parts; the paths come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "keepit-watch API",
        description = "Read-only monitoring of Keepit backups for MSPs. See docs/API.md."
    ),
    modifiers(&BearerAuth),
    components(schemas(
        openapi::JobStatusCode,
        openapi::JobTypeCode,
        openapi::AlertStateCode,
        openapi::AlertEventCode,
        openapi::SeverityCode,
        openapi::RuleKindCode,
        openapi::MessageKindCode,
        openapi::SyncOutcomeCode,
        openapi::HealthCode,
        openapi::AuditCategoryCode,
    )),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document, before state and middleware are applied.
fn api() -> OpenApiRouter<AppState> {
    use utoipa_axum::routes;

    use crate::routes::{
        alerts, connectors, customers, integrations, jobs, matching, messages, ops, people, psa,
        rules,
    };
    let v1 = OpenApiRouter::new()
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::jobs_csv))
        .routes(routes!(jobs::job_report))
        .routes(routes!(jobs::skipped_items_csv))
        .routes(routes!(customers::list_customers))
        .routes(routes!(customers::customer_timeline))
        .routes(routes!(matching::list_accounts))
        .routes(routes!(matching::link_account, matching::unlink_account))
        .routes(routes!(matching::merge_customer))
        .routes(routes!(connectors::list_connectors))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::alert_transitions))
        .routes(routes!(alerts::acknowledge_alert))
        .routes(routes!(alerts::silence_alert))
        .routes(routes!(rules::list_rules, rules::create_rule))
        .routes(routes!(rules::update_rule, rules::delete_rule))
        .routes(routes!(rules::preview_new_rule))
        .routes(routes!(rules::preview_rule_change))
        .routes(routes!(
            rules::get_override,
            rules::put_override,
            rules::delete_override
        ))
        .routes(routes!(messages::list_messages))
        .routes(routes!(messages::mark_read))
        .routes(routes!(
            integrations::list_integrations,
            integrations::create_integration
        ))
        .routes(routes!(
            integrations::get_integration,
            integrations::update_integration,
            integrations::delete_integration
        ))
        .routes(routes!(integrations::test_new_integration))
        .routes(routes!(integrations::sync_now))
        .routes(routes!(integrations::test_integration))
        .routes(routes!(integrations::enable_integration))
        .routes(routes!(integrations::disable_integration))
        .routes(routes!(
            psa::list_psa_connections,
            psa::create_psa_connection
        ))
        .routes(routes!(
            psa::get_psa_connection,
            psa::update_psa_connection,
            psa::delete_psa_connection
        ))
        .routes(routes!(psa::test_psa_connection))
        .routes(routes!(psa::psa_picklists))
        .routes(routes!(psa::import_companies))
        .routes(routes!(psa::list_psa_tickets))
        .routes(routes!(people::list_users, people::create_user))
        .routes(routes!(people::update_user, people::delete_user))
        .routes(routes!(people::list_tokens, people::create_token))
        .routes(routes!(people::revoke_token))
        .routes(routes!(ops::sync_runs))
        .routes(routes!(ops::openapi_document));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_and_document().1
}

/// The routes and their finished document: the shared answers are added once every
/// route is in it.
fn api_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::Modify as _;
    let (routes, mut document) = api().split_for_parts();
    openapi::SharedAnswers.modify(&mut document);
    (routes, document)
}

/// The span of one request in the access log: method and route template
/// (`/api/v1/jobs/{guid}`, not the concrete path, and never the query string, which may
/// carry what people typed into filters).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route)
}

/// The whole HTTP application.
///
/// Requests are traced (method, path, status, latency) with tower-http; the bearer
/// check runs on every API route but the probes, and the dashboard's pages need a
/// browser session instead.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api_and_document();
    let document = Arc::new(document);
    routes
        .fallback(routes::no_such_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), auth::require_token))
        .merge(web::router(&state))
        .layer(axum::Extension(routes::ops::Document(document)))
        .layer(axum::extract::DefaultBodyLimit::max(
            routes::BODY_LIMIT_BYTES,
        ))
        .layer(CatchPanicLayer::custom(error::panicked))
        .layer(axum::middleware::from_fn(error::log_server_errors))
        // The access log: one INFO line per answered request (status and latency) in
        // the request's span.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .with_state(state)
}
