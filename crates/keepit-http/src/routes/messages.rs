//! The caller's own inbox.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use keepit_store::{InboxQuery, MessageId};

use crate::AppState;
use crate::auth::Caller;
use crate::dto::{ErrorEnvelope, InboxDto, MessageDto};
use crate::error::AppError;
use crate::query::{pairs, parse_limit};
use crate::routes::connectors::parse_bool;
use crate::routes::row_id;

/// `GET /messages`: the caller's messages, newest first.
#[utoipa::path(
    get,
    path = "/messages",
    tag = "messages",
    params(
        ("unread" = Option<bool>, Query, description = "Only unread messages"),
        ("before" = Option<i64>, Query, description = "Only messages older than this id (paging)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "At most this many, 1 to 500 (default 50)"),
    ),
    responses(
        (status = 200, description = "The caller's inbox", body = InboxDto),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_messages(
    State(state): State<AppState>,
    Extension(Caller(user)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Json<InboxDto>, AppError> {
    let mut query = InboxQuery::default();
    for (key, value) in pairs(raw.as_deref()) {
        match key.as_str() {
            "unread" => query.unread_only = parse_bool("unread", &value)?,
            "before" => query.before = Some(MessageId(row_id("before", &value)?)),
            "limit" => query.limit = parse_limit(Some(&value), 500)?,
            other => {
                return Err(AppError::invalid(
                    other,
                    "unknown parameter; expected unread, before or limit",
                ));
            }
        }
    }
    let items = state.store.inbox(user.id, &query).await?;
    let unread = state.store.unread_count(user.id).await?;
    Ok(Json(InboxDto {
        messages: items.iter().map(MessageDto::from).collect(),
        unread,
    }))
}

/// `POST /messages/{id}/read`: marks one of the caller's messages read.
#[utoipa::path(
    post,
    path = "/messages/{id}/read",
    tag = "messages",
    params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 204, description = "Marked read"),
        (status = 404, description = "No such message in the caller's inbox", body = ErrorEnvelope),
    )
)]
pub(crate) async fn mark_read(
    State(state): State<AppState>,
    Extension(Caller(user)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = MessageId(row_id("id", &id)?);
    if state
        .store
        .mark_message_read(user.id, id, state.clock.now())
        .await?
    {
        return Ok(StatusCode::NO_CONTENT);
    }
    // Nothing changed: either it was read before (fine, marking is idempotent) or it is
    // not in the caller's inbox (404, whoever else it belongs to).
    let newest_up_to_it = state
        .store
        .inbox(
            user.id,
            &InboxQuery {
                unread_only: false,
                before: id.0.checked_add(1).map(MessageId),
                limit: Some(1),
            },
        )
        .await?;
    if newest_up_to_it
        .first()
        .is_some_and(|item| item.message.id == id)
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("message", id))
    }
}
