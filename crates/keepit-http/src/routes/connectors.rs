//! Connectors with their latest backup status.

use axum::Json;
use axum::extract::{RawQuery, State};
use keepit_store::ConnectorFilter;

use crate::AppState;
use crate::dto::{ConnectorDto, ErrorEnvelope};
use crate::error::AppError;
use crate::query::{pairs, parse_customer};

/// `GET /connectors`: connectors and their status.
#[utoipa::path(
    get,
    path = "/connectors",
    tag = "connectors",
    params(
        ("customer" = Option<i64>, Query, description = "Only this customer's connectors"),
        ("include_removed" = Option<bool>, Query, description = "Include connectors gone from Keepit"),
    ),
    responses(
        (status = 200, description = "Connectors", body = Vec<ConnectorDto>),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_connectors(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<ConnectorDto>>, AppError> {
    let mut filter = ConnectorFilter::default();
    for (key, value) in pairs(raw.as_deref()) {
        match key.as_str() {
            "customer" => filter.customer = Some(parse_customer("customer", &value)?),
            "include_removed" => filter.include_removed = parse_bool("include_removed", &value)?,
            other => {
                return Err(AppError::invalid(
                    other,
                    "unknown parameter; expected customer or include_removed",
                ));
            }
        }
    }
    let connectors = state.store.connectors_with_status(&filter).await?;
    Ok(Json(
        connectors
            .iter()
            .map(|(connector, status)| ConnectorDto::new(connector, status.as_ref()))
            .collect(),
    ))
}

/// Parses `true` or `false`.
pub(crate) fn parse_bool(name: &str, text: &str) -> Result<bool, AppError> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(AppError::invalid(
            name,
            format!("{other:?} is not true or false"),
        )),
    }
}
