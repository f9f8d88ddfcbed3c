//! Users and API tokens: who may use keepit-watch, in which role, who receives
//! messages (seed 000), and the bearer tokens they sign in with.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use keepit_domain::{MessagePreference, UserId};
use keepit_store::{ApiTokenId, ApiTokenRecord, NewUser, Role, UserChange, UserRecord};
use secrecy::ExposeSecret as _;

use crate::AppState;
use crate::auth::Caller;
use crate::dto::{
    ErrorEnvelope, NewTokenRequest, NewUserRequest, TokenCreatedDto, TokenDto, UserDto,
    UserPatchRequest,
};
use crate::error::{AppError, ErrorCode};
use crate::query::{only_known, pairs, single};
use crate::routes::{Body, row_id};

fn role(field: &str, text: &str) -> Result<Role, AppError> {
    Role::parse(text.trim()).ok_or_else(|| {
        AppError::validation(
            field,
            format!("{text:?} is not a role; expected admin or viewer"),
        )
    })
}

fn preference(send_messages: bool) -> MessagePreference {
    if send_messages {
        MessagePreference::OptedIn
    } else {
        MessagePreference::OptedOut
    }
}

/// `GET /users`: every user, with role and whether they receive messages.
#[utoipa::path(
    get,
    path = "/users",
    tag = "people",
    responses((status = 200, description = "Users", body = Vec<UserDto>))
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
) -> Result<Json<Vec<UserDto>>, AppError> {
    let users = state.store.users().await?;
    Ok(Json(users.iter().map(UserDto::from).collect()))
}

/// `POST /users`: adds a user (admins only).
#[utoipa::path(
    post,
    path = "/users",
    tag = "people",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "The new user", body = UserDto),
        (status = 409, description = "A user with this e-mail exists", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Body(request): Body<NewUserRequest>,
) -> Result<(StatusCode, Json<UserDto>), AppError> {
    let name = request.name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "must not be empty"));
    }
    let record = state
        .store
        .create_user(
            &NewUser {
                email: request.email.clone(),
                name: name.to_owned(),
                role: role("role", &request.role)?,
                primary_admin: false,
                message_preference: request
                    .send_messages
                    .map_or(MessagePreference::Default, preference),
            },
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&record))))
}

/// `PATCH /users/{id}`: changes a user's name, role or message setting (admins only).
/// The last administrator cannot be made a viewer.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "User id")),
    request_body = UserPatchRequest,
    responses(
        (status = 200, description = "The user after the change", body = UserDto),
        (status = 404, description = "No such user", body = ErrorEnvelope),
        (status = 409, description = "This would leave no administrator, or demote the caller", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(id): Path<String>,
    Body(request): Body<UserPatchRequest>,
) -> Result<Json<UserDto>, AppError> {
    let id = UserId(row_id("id", &id)?);
    if id == caller.id && request.role.as_deref().map(str::trim) == Some("viewer") {
        return Err(AppError::client(
            ErrorCode::Conflict,
            "administrators cannot demote themselves; ask another administrator",
        ));
    }
    let change = UserChange {
        name: request.name.clone(),
        role: request
            .role
            .as_deref()
            .map(|text| role("role", text))
            .transpose()?,
        message_preference: request.send_messages.map(preference),
    };
    let record = state
        .store
        .update_user(id, &change, state.clock.now())
        .await?;
    Ok(Json(UserDto::from(&record)))
}

/// `DELETE /users/{id}`: removes a user with their tokens and inbox (admins only).
/// The last administrator cannot be deleted.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorEnvelope),
        (status = 409, description = "This is the last administrator, or the caller", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = UserId(row_id("id", &id)?);
    if id == caller.id {
        return Err(AppError::client(
            ErrorCode::Conflict,
            "administrators cannot delete themselves; ask another administrator",
        ));
    }
    if state.store.delete_user(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("user", id.0))
    }
}

/// `GET /tokens`: the caller's own tokens; administrators see everyone's, or one
/// user's with `?user=`. Secrets are never shown again.
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "people",
    params(("user" = Option<i64>, Query, description = "Only this user's tokens (administrators)")),
    responses(
        (status = 200, description = "Tokens, without their secrets", body = Vec<TokenDto>),
        (status = 403, description = "A viewer asked for someone else's tokens", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<TokenDto>>, AppError> {
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["user"])?;
    let user = single(&pairs, "user")?
        .map(|text| row_id("user", text).map(UserId))
        .transpose()?;
    let tokens: Vec<ApiTokenRecord> = match (caller.role, user) {
        (Role::Admin, None) => state.store.all_api_tokens().await?,
        (Role::Admin, Some(user)) => state.store.api_tokens(user).await?,
        (Role::Viewer, Some(user)) if user != caller.id => {
            return Err(AppError::client(
                ErrorCode::Forbidden,
                "viewers see only their own tokens",
            ));
        }
        (Role::Viewer, _) => state.store.api_tokens(caller.id).await?,
    };
    Ok(Json(tokens.iter().map(TokenDto::from).collect()))
}

/// `POST /tokens`: creates a token for the caller (or, for administrators, for the
/// user given). The answer carries the secret as `token`, once.
#[utoipa::path(
    post,
    path = "/tokens",
    tag = "people",
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "The token; `token` is shown only now", body = TokenCreatedDto),
        (status = 403, description = "A viewer asked for a token for someone else", body = ErrorEnvelope),
        (status = 404, description = "No such user", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    Body(request): Body<NewTokenRequest>,
) -> Result<(StatusCode, Json<TokenCreatedDto>), AppError> {
    let owner = match request.user_id.map(UserId) {
        Some(user) if user != caller.id && caller.role != Role::Admin => {
            return Err(AppError::client(
                ErrorCode::Forbidden,
                "viewers may create tokens only for themselves",
            ));
        }
        Some(user) => user,
        None => caller.id,
    };
    let label = request.label.trim();
    if label.is_empty() {
        return Err(AppError::validation("label", "must not be empty"));
    }
    let (record, secret) = state
        .store
        .create_api_token(owner, label, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreatedDto {
            token: secret.expose_secret().to_owned(),
            details: TokenDto::from(&record),
        }),
    ))
}

/// `DELETE /tokens/{id}`: revokes a token; the next request made with it is refused.
/// Anyone may revoke their own; administrators any.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "people",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token, or already revoked, or not the caller's", body = ErrorEnvelope),
    )
)]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = ApiTokenId(row_id("id", &id)?);
    let token = state.store.api_token(id).await?;
    // Someone else's token is "not found" to a viewer: its existence is not theirs to learn.
    if caller.role != Role::Admin && token.user != caller.id {
        return Err(AppError::not_found("API token", id.0));
    }
    if state.store.revoke_api_token(id, state.clock.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("API token", id.0))
    }
}

impl From<&UserRecord> for UserDto {
    fn from(user: &UserRecord) -> Self {
        let send_messages = match user.message_preference {
            MessagePreference::OptedIn => true,
            MessagePreference::OptedOut => false,
            MessagePreference::Default => user.primary_admin,
        };
        UserDto {
            id: user.id.0,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            primary_admin: user.primary_admin,
            send_messages,
            created_at: crate::dto::time(user.created_at),
        }
    }
}

impl From<&ApiTokenRecord> for TokenDto {
    fn from(token: &ApiTokenRecord) -> Self {
        TokenDto {
            id: token.id.0,
            user_id: token.user.0,
            label: token.label.clone(),
            created_at: crate::dto::time(token.created_at),
            last_used_at: token.last_used_at.map(crate::dto::time),
            revoked_at: token.revoked_at.map(crate::dto::time),
        }
    }
}
