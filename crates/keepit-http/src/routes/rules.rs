//! Alert rules: list, create, replace, delete. Thresholds are checked with
//! [`Thresholds::validate`] before anything is stored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keepit_domain::{
    AlertRule, AlertRuleId, AlertRuleSpec, AlertScope, ConnectorKind, CustomerId, RuleKind,
    Threshold, ThresholdError, Thresholds,
};

use crate::AppState;
use crate::dto::{
    AlertRuleDto, AlertRuleRequest, ErrorEnvelope, OverrideDto, OverrideRequest, RulePreviewDto,
    ScopeDto,
};
use crate::error::AppError;
use crate::routes::{Body, row_id};

/// `GET /alert-rules`: every rule.
#[utoipa::path(
    get,
    path = "/alert-rules",
    tag = "alert-rules",
    responses((status = 200, description = "Rules", body = Vec<AlertRuleDto>))
)]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
) -> Result<Json<Vec<AlertRuleDto>>, AppError> {
    let rules = state.store.alert_rules().await?;
    Ok(Json(rules.iter().map(AlertRuleDto::from).collect()))
}

/// `POST /alert-rules`: creates a rule.
#[utoipa::path(
    post,
    path = "/alert-rules",
    tag = "alert-rules",
    request_body = AlertRuleRequest,
    responses(
        (status = 201, description = "The new rule", body = AlertRuleDto),
        (status = 403, description = "Viewers may not change rules", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_rule(
    State(state): State<AppState>,
    Body(request): Body<AlertRuleRequest>,
) -> Result<(StatusCode, Json<AlertRuleDto>), AppError> {
    let rule = new_rule(&request)?;
    let record = state
        .store
        .create_alert_rule(&rule, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(AlertRuleDto::from(&record))))
}

/// `PUT /alert-rules/{id}`: replaces a rule's content.
#[utoipa::path(
    put,
    path = "/alert-rules/{id}",
    tag = "alert-rules",
    params(("id" = i64, Path, description = "Rule id")),
    request_body = AlertRuleRequest,
    responses(
        (status = 200, description = "The rule after the change", body = AlertRuleDto),
        (status = 403, description = "Viewers may not change rules", body = ErrorEnvelope),
        (status = 404, description = "No such rule", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(request): Body<AlertRuleRequest>,
) -> Result<Json<AlertRuleDto>, AppError> {
    let id = AlertRuleId(row_id("id", &id)?);
    let rule = new_rule(&request)?;
    let record = state
        .store
        .update_alert_rule(id, &rule, state.clock.now())
        .await?;
    Ok(Json(AlertRuleDto::from(&record)))
}

/// `DELETE /alert-rules/{id}`: deletes a rule.
#[utoipa::path(
    delete,
    path = "/alert-rules/{id}",
    tag = "alert-rules",
    params(("id" = i64, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Viewers may not change rules", body = ErrorEnvelope),
        (status = 404, description = "No such rule", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = AlertRuleId(row_id("id", &id)?);
    if state.store.delete_alert_rule(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("alert rule", id))
    }
}

/// `POST /alert-rules/preview`: what a new rule would do, before it is created.
#[utoipa::path(
    post,
    path = "/alert-rules/preview",
    tag = "alert-rules",
    request_body = AlertRuleRequest,
    responses(
        (status = 200, description = "The dry run; nothing is stored", body = RulePreviewDto),
        (status = 403, description = "Viewers may not change rules", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn preview_new_rule(
    State(state): State<AppState>,
    Body(request): Body<AlertRuleRequest>,
) -> Result<Json<RulePreviewDto>, AppError> {
    preview(&state, &request, None).await.map(Json)
}

/// `POST /alert-rules/{id}/preview`: what a rule would do after a change (the body
/// of a `PUT`), next to what it does as stored.
#[utoipa::path(
    post,
    path = "/alert-rules/{id}/preview",
    tag = "alert-rules",
    params(("id" = i64, Path, description = "Rule id")),
    request_body = AlertRuleRequest,
    responses(
        (status = 200, description = "The dry run; nothing is stored", body = RulePreviewDto),
        (status = 403, description = "Viewers may not change rules", body = ErrorEnvelope),
        (status = 404, description = "No such rule", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn preview_rule_change(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(request): Body<AlertRuleRequest>,
) -> Result<Json<RulePreviewDto>, AppError> {
    let id = AlertRuleId(row_id("id", &id)?);
    let current = state.store.alert_rule(id).await?.rule;
    preview(&state, &request, Some(current)).await.map(Json)
}

/// The dry run of `request`, as a change of `current` when there is one (keeping
/// its per-customer overrides, as a `PUT` does).
pub(crate) async fn preview(
    state: &AppState,
    request: &AlertRuleRequest,
    current: Option<AlertRule>,
) -> Result<RulePreviewDto, AppError> {
    let spec = new_rule(request)?;
    let candidate = match &current {
        Some(current) => AlertRule {
            id: current.id,
            spec,
            overrides: current.overrides.clone(),
        },
        None => AlertRule {
            id: AlertRuleId(0),
            spec,
            overrides: Vec::new(),
        },
    };
    let report = keepit_alerts::adapter::preview(
        &state.store,
        &candidate,
        current.as_ref(),
        state.clock.now(),
    )
    .await
    .map_err(|error| match error {
        keepit_alerts::Error::Store(error) => AppError::from(error),
        other => AppError::Internal(Box::new(other)),
    })?;
    Ok(RulePreviewDto::from(&report))
}

/// Turns a request into a rule, validating kind, scope, name and thresholds.
pub(crate) fn new_rule(request: &AlertRuleRequest) -> Result<AlertRuleSpec, AppError> {
    let kind = RuleKind::parse(request.kind.trim())
        .map_err(|error| AppError::validation("kind", error))?;
    let name = request.name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "must not be empty"));
    }
    let scope = match request.scope.clone().unwrap_or(ScopeDto::All {}) {
        ScopeDto::All {} => AlertScope::All,
        ScopeDto::Customer { customer_id } => AlertScope::Customer(CustomerId(customer_id)),
        ScopeDto::ConnectorKind { connector_kind } => {
            let kind = ConnectorKind::from_code(connector_kind.trim());
            if !ConnectorKind::known().contains(&kind) {
                return Err(AppError::validation(
                    "scope.connector_kind",
                    format!("{connector_kind:?} is not a known connector kind"),
                ));
            }
            AlertScope::ConnectorKind(kind)
        }
    };
    let given = request.thresholds();
    let field_of = |threshold| {
        given
            .iter()
            .find(|(t, _, _)| *t == threshold)
            .map_or("thresholds", |(_, field, _)| *field)
    };
    let mut thresholds = Thresholds::default();
    for &(threshold, field, value) in &given {
        thresholds
            .set(threshold, Some(value))
            .map_err(|error| AppError::validation(field, error))?;
    }
    if request.warning_off() {
        thresholds
            .set(Threshold::WarnAfter, None)
            .map_err(|error| AppError::validation("warn_after_hours", error))?;
    }
    thresholds.validate().map_err(|error| {
        let field = match &error {
            ThresholdError::WarningAfterStale { .. } => "warn_after_hours",
            ThresholdError::NotPositive { threshold }
            | ThresholdError::TooLong { threshold }
            | ThresholdError::TooMany { threshold, .. }
            | ThresholdError::Required { threshold } => field_of(*threshold),
            _ => "thresholds",
        };
        AppError::validation(field, error)
    })?;
    Ok(AlertRuleSpec {
        kind,
        name: name.to_owned(),
        enabled: request.enabled.unwrap_or(true),
        scope,
        thresholds,
    })
}

fn override_path(rule: &str, customer: &str) -> Result<(AlertRuleId, CustomerId), AppError> {
    Ok((
        AlertRuleId(row_id("id", rule)?),
        CustomerId(row_id("customer_id", customer)?),
    ))
}

/// `GET /alert-rules/{id}/overrides/{customer_id}`: one customer's changes to a rule.
#[utoipa::path(
    get,
    path = "/alert-rules/{id}/overrides/{customer_id}",
    tag = "alert-rules",
    params(
        ("id" = i64, Path, description = "Rule id"),
        ("customer_id" = i64, Path, description = "Customer id"),
    ),
    responses(
        (status = 200, description = "The customer's override", body = OverrideDto),
        (status = 404, description = "No such rule, or no override for this customer", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_override(
    State(state): State<AppState>,
    Path((rule, customer)): Path<(String, String)>,
) -> Result<Json<OverrideDto>, AppError> {
    let (rule, customer) = override_path(&rule, &customer)?;
    let overrides = state.store.alert_rule(rule).await?.rule.overrides;
    overrides
        .iter()
        .find(|o| o.customer == customer)
        .map(|o| Json(OverrideDto::from(o)))
        .ok_or_else(|| AppError::not_found("override for customer", customer))
}

/// `PUT /alert-rules/{id}/overrides/{customer_id}`: sets (or replaces) one customer's
/// changes to a rule: turn it off or on for them, or other thresholds.
#[utoipa::path(
    put,
    path = "/alert-rules/{id}/overrides/{customer_id}",
    tag = "alert-rules",
    params(
        ("id" = i64, Path, description = "Rule id"),
        ("customer_id" = i64, Path, description = "Customer id"),
    ),
    request_body = OverrideRequest,
    responses(
        (status = 200, description = "The override as stored", body = OverrideDto),
        (status = 404, description = "No such rule or customer", body = ErrorEnvelope),
    )
)]
pub(crate) async fn put_override(
    State(state): State<AppState>,
    Path((rule, customer)): Path<(String, String)>,
    Body(request): Body<OverrideRequest>,
) -> Result<Json<OverrideDto>, AppError> {
    let (rule, customer) = override_path(&rule, &customer)?;
    state.store.alert_rule(rule).await?;
    state.store.customer(customer).await?;
    let mut thresholds = keepit_domain::ThresholdOverrides::default();
    let mut check = Thresholds::default();
    for (threshold, field, value) in request.thresholds() {
        check
            .set(threshold, Some(value))
            .map_err(|error| AppError::validation(field, error))?;
        thresholds.0.insert(threshold, Some(value));
    }
    let o = keepit_domain::CustomerOverride {
        customer,
        enabled: request.enabled,
        thresholds,
    };
    state
        .store
        .set_alert_rule_override(rule, &o, state.clock.now())
        .await?;
    Ok(Json(OverrideDto::from(&o)))
}

/// `DELETE /alert-rules/{id}/overrides/{customer_id}`: the customer follows the rule again.
#[utoipa::path(
    delete,
    path = "/alert-rules/{id}/overrides/{customer_id}",
    tag = "alert-rules",
    params(
        ("id" = i64, Path, description = "Rule id"),
        ("customer_id" = i64, Path, description = "Customer id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such override", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_override(
    State(state): State<AppState>,
    Path((rule, customer)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let (rule, customer) = override_path(&rule, &customer)?;
    if state
        .store
        .delete_alert_rule_override(rule, customer)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("override for customer", customer))
    }
}
