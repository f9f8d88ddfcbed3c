//! Customers and their timelines.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepit_store::TimelineCursor;

use crate::AppState;
use crate::dto::{CustomerDto, ErrorEnvelope, TimelineEntryDto, TimelinePageDto};
use crate::error::AppError;
use crate::query::{only_known, pairs, parse_customer, parse_limit, single};

/// `GET /customers`: every customer.
#[utoipa::path(
    get,
    path = "/customers",
    tag = "customers",
    responses((status = 200, description = "Customers by name", body = Vec<CustomerDto>))
)]
pub(crate) async fn list_customers(
    State(state): State<AppState>,
) -> Result<Json<Vec<CustomerDto>>, AppError> {
    let customers = state.store.customers().await?;
    Ok(Json(customers.iter().map(CustomerDto::from).collect()))
}

/// `GET /customers/{id}/timeline`: audit events and finished jobs, merged, newest first.
#[utoipa::path(
    get,
    path = "/customers/{id}/timeline",
    tag = "customers",
    params(
        ("id" = i64, Path, description = "Customer id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size, 1 to 500"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of the timeline", body = TimelinePageDto),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
        (status = 404, description = "No such customer", body = ErrorEnvelope),
    )
)]
pub(crate) async fn customer_timeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TimelinePageDto>, AppError> {
    let customer = parse_customer("id", &id)?;
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["limit", "cursor"])?;
    let limit = parse_limit(single(&pairs, "limit")?, 500)?;
    let cursor = single(&pairs, "cursor")?
        .map(|text| {
            TimelineCursor::decode(text).map_err(|error| AppError::invalid("cursor", error))
        })
        .transpose()?;
    // A 404 for an unknown customer, rather than an empty timeline.
    state.store.customer(customer).await?;
    let page = state
        .store
        .customer_timeline(customer, limit, cursor)
        .await?;
    Ok(Json(TimelinePageDto {
        entries: page.entries.iter().map(TimelineEntryDto::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}
