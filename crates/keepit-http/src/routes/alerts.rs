//! Alerts: list, history, acknowledge, silence.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepit_store::{AlertFilter, AlertId};

use crate::AppState;
use crate::auth::Caller;
use crate::dto::{AlertDto, AlertTransitionDto, ErrorEnvelope, SilenceRequest};
use crate::error::AppError;
use crate::query::{pairs, parse_customer, parse_time};
use crate::routes::connectors::parse_bool;
use crate::routes::{Body, row_id};

/// `GET /alerts`: open alerts (pending and firing), or all with `include_resolved=true`.
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "alerts",
    params(
        ("include_resolved" = Option<bool>, Query, description = "Include resolved alerts"),
        ("customer" = Option<i64>, Query, description = "Only this customer's alerts"),
    ),
    responses(
        (status = 200, description = "Alerts", body = Vec<AlertDto>),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<AlertDto>>, AppError> {
    let mut filter = AlertFilter::default();
    for (key, value) in pairs(raw.as_deref()) {
        match key.as_str() {
            "include_resolved" => {
                filter.include_resolved = parse_bool("include_resolved", &value)?;
            }
            "customer" => filter.customer = Some(parse_customer("customer", &value)?),
            other => {
                return Err(AppError::invalid(
                    other,
                    "unknown parameter; expected include_resolved or customer",
                ));
            }
        }
    }
    let alerts = state.store.alerts(&filter).await?;
    Ok(Json(alerts.iter().map(AlertDto::from).collect()))
}

/// `GET /alerts/{id}/transitions`: an alert's history, oldest first: how it opened,
/// escalated and resolved (with the reason each time), who acknowledged or silenced
/// it, and when people were told.
#[utoipa::path(
    get,
    path = "/alerts/{id}/transitions",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, description = "The alert's transitions, oldest first", body = Vec<AlertTransitionDto>),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
    )
)]
pub(crate) async fn alert_transitions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<AlertTransitionDto>>, AppError> {
    let id = AlertId(row_id("id", &id)?);
    // Answers 404 for an unknown alert rather than an empty history.
    state.store.alert(id).await?;
    let transitions = state.store.alert_transitions(id).await?;
    Ok(Json(
        transitions.iter().map(AlertTransitionDto::from).collect(),
    ))
}

/// `POST /alerts/{id}/acknowledge`: records that the caller has seen the alert.
#[utoipa::path(
    post,
    path = "/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, description = "The alert after acknowledging", body = AlertDto),
        (status = 403, description = "Viewers may not acknowledge", body = ErrorEnvelope),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
    )
)]
pub(crate) async fn acknowledge_alert(
    State(state): State<AppState>,
    Extension(Caller(user)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AlertDto>, AppError> {
    let id = AlertId(row_id("id", &id)?);
    let alert = state
        .store
        .acknowledge_alert(id, user.id, state.clock.now())
        .await?;
    Ok(Json(AlertDto::from(&alert)))
}

/// `POST /alerts/{id}/silence`: no reminders until `until` (`null` lifts the silence).
#[utoipa::path(
    post,
    path = "/alerts/{id}/silence",
    tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    request_body = SilenceRequest,
    responses(
        (status = 200, description = "The alert after silencing", body = AlertDto),
        (status = 403, description = "Viewers may not silence", body = ErrorEnvelope),
        (status = 404, description = "No such alert", body = ErrorEnvelope),
        (status = 422, description = "`until` is not a future RFC 3339 time", body = ErrorEnvelope),
    )
)]
pub(crate) async fn silence_alert(
    State(state): State<AppState>,
    Extension(Caller(user)): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<SilenceRequest>,
) -> Result<Json<AlertDto>, AppError> {
    let id = AlertId(row_id("id", &id)?);
    let now = state.clock.now();
    let until = request
        .until
        .as_deref()
        .map(|text| {
            parse_time("until", text).map_err(|_| {
                AppError::validation("until", format!("{text:?} is not an RFC 3339 time"))
            })
        })
        .transpose()?;
    if until.is_some_and(|until| until <= now) {
        return Err(AppError::validation("until", "must be in the future"));
    }
    let alert = state
        .store
        .silence_alert(id, until, Some(user.id), now)
        .await?;
    Ok(Json(AlertDto::from(&alert)))
}
