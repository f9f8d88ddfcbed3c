//! Operations: health, readiness, metrics, the OpenAPI document, and sync runs.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::dto::{ErrorEnvelope, SyncRunDto};
use crate::error::{AppError, ErrorCode};
use crate::query::{only_known, pairs, parse_limit, single};

/// The generated OpenAPI document, shared with its handler.
#[derive(Clone)]
pub(crate) struct Document(pub(crate) Arc<utoipa::openapi::OpenApi>);

/// `GET /healthz`: the process is up. Needs no token.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process is up", body = String))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers real queries against the migrated schema. No
/// token is needed, so orchestrators can probe it; it tells nothing but ready or not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers queries on its tables", body = String),
        (status = 503, description = "The database does not answer, is not migrated or is damaged", body = ErrorEnvelope),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<&'static str, AppError> {
    match state.store.ready().await {
        Ok(()) => Ok("ready\n"),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(AppError::client(
                ErrorCode::Unavailable,
                "the database is not ready: it does not answer, is not migrated or is damaged",
            ))
        }
    }
}

/// `GET /metrics`: OpenMetrics when the `Accept` header asks for it, else the
/// Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Metrics: OpenMetrics 1.0 when Accept asks for application/openmetrics-text, else the Prometheus text format 0.0.4", content(
        (String = "text/plain"),
        (String = "application/openmetrics-text"),
    )))
)]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let openmetrics = crate::metrics::wants_openmetrics(
        headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok()),
    );
    let text = crate::metrics::render(&state, openmetrics).await?;
    let mut response = text.into_response();
    // Caches must keep the two formats apart.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if openmetrics {
            crate::metrics::OPENMETRICS
        } else {
            crate::metrics::PROMETHEUS_TEXT
        }),
    );
    Ok(response)
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_document(
    Extension(Document(document)): Extension<Document>,
) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(document)
}

/// `GET /sync-runs`: the latest sync runs, newest first.
#[utoipa::path(
    get,
    path = "/sync-runs",
    tag = "operations",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "At most this many, 1 to 500 (default 50)")),
    responses(
        (status = 200, description = "Sync runs", body = Vec<SyncRunDto>),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sync_runs(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SyncRunDto>>, AppError> {
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["limit"])?;
    let limit = parse_limit(single(&pairs, "limit")?, 500)?;
    let runs = state.store.sync_runs(limit.unwrap_or(50)).await?;
    Ok(Json(runs.iter().map(SyncRunDto::from).collect()))
}
