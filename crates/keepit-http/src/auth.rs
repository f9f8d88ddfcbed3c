//! Bearer-token authentication and the admin/viewer split.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keepit_store::{Role, UserRecord};

use crate::AppState;
use crate::error::{AppError, ErrorCode};

/// The authenticated caller, put into the request extensions by [`require_token`].
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) UserRecord);

/// Paths served without a token: liveness and readiness, which say nothing but
/// whether the process and its database answer.
pub(crate) const PUBLIC_PATHS: &[&str] = &["/healthz", "/readyz"];

/// Checks `Authorization: Bearer <token>` on every route but `/healthz`, and refuses
/// state-changing methods to viewers.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if PUBLIC_PATHS.contains(&path) || (state.metrics_public && path == "/metrics") {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .map(str::to_owned);
    let Some(token) = token else {
        // A signed-in browser may read the API too (the Job Monitor's CSV link), and
        // only the API.
        let (method, headers) = (request.method().clone(), request.headers().clone());
        if path.starts_with("/api/v1/")
            && let Some(user) = crate::web::session_user_for_api(&state, &method, &headers).await
        {
            request.extensions_mut().insert(Caller(user));
            return next.run(request).await;
        }
        return unauthorized("an `Authorization: Bearer <token>` header is required")
            .into_response();
    };
    let user = match state
        .store
        .authenticate_api_token(&token, state.clock.now())
        .await
    {
        Ok(Some((user, _token))) => user,
        Ok(None) => return unauthorized("the token is unknown or revoked").into_response(),
        Err(error) => return AppError::from(error).into_response(),
    };
    let reads_only = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads_only && user.role != Role::Admin && !is_personal(request.uri().path()) {
        return AppError::client(
            ErrorCode::Forbidden,
            "viewers may only read; this needs an admin",
        )
        .into_response();
    }
    request.extensions_mut().insert(Caller(user));
    next.run(request).await
}

/// Writes that only touch the caller's own state, which viewers may do too: marking
/// one of their messages read, and creating or revoking their own tokens (the token
/// routes check ownership themselves).
pub(crate) fn is_personal(path: &str) -> bool {
    let read = path
        .strip_prefix("/api/v1/messages/")
        .and_then(|rest| rest.strip_suffix("/read"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    let token = path == "/api/v1/tokens"
        || path
            .strip_prefix("/api/v1/tokens/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    read || token
}

fn unauthorized(message: &str) -> impl IntoResponse {
    let mut response = AppError::client(ErrorCode::Unauthorized, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}
