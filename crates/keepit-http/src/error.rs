//! The one error envelope of the API: `{"error": {"code": "...", "message": "..."}}`.

use std::fmt;

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::dto::{ErrorBody, ErrorEnvelope};

/// Stable, machine-readable error codes (the `code` field of the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A query parameter, path segment or body field is malformed (400).
    InvalidParameter,
    /// The body is well-formed but its values are not acceptable (422).
    ValidationFailed,
    /// No or an unknown bearer token (401).
    Unauthorized,
    /// The caller's role may not do this (403).
    Forbidden,
    /// The resource does not exist, or is not the caller's (404).
    NotFound,
    /// The path matches no route (404).
    NoSuchRoute,
    /// The path exists but not for this method (405).
    MethodNotAllowed,
    /// The resource conflicts with an existing one (409).
    Conflict,
    /// The resource existed but is gone for good (410).
    Gone,
    /// The request body is larger than the API reads (413).
    PayloadTooLarge,
    /// Keepit answered with an error or could not be reached (502).
    UpstreamFailed,
    /// A needed part is not configured (503).
    Unavailable,
    /// Something went wrong on our side (500); the cause is in the server log.
    Internal,
}

impl ErrorCode {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NoSuchRoute => "no_such_route",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Gone => "gone",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UpstreamFailed => "upstream_failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::NoSuchRoute => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Gone => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UpstreamFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error a handler answers with.
///
/// 4xx errors carry a message safe to show; [`AppError::Internal`] and
/// [`AppError::Upstream`] keep their cause for the log and answer a generic message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A client error with a safe message.
    #[error("{message}")]
    Client {
        /// The code (and so the status).
        code: ErrorCode,
        /// What is wrong, for the caller.
        message: String,
        /// The query parameter, path segment or body field at fault, when one is.
        parameter: Option<String>,
    },
    /// A failure on our side; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached right now (503); the cause is logged, never sent.
    #[error("database unavailable")]
    DatabaseUnavailable(#[source] keepit_store::Error),
    /// Keepit failed; the message names what failed without internals.
    #[error("{message}")]
    Upstream {
        /// A safe summary.
        message: String,
        /// The client's error, for the log.
        #[source]
        source: keepit_client::Error,
    },
}

impl AppError {
    /// A 400 naming the parameter and what is wrong with it.
    pub fn invalid(parameter: &str, problem: impl fmt::Display) -> AppError {
        AppError::Client {
            code: ErrorCode::InvalidParameter,
            message: format!("invalid {parameter}: {problem}"),
            parameter: Some(parameter.to_owned()),
        }
    }

    /// A 422 naming the field and what is wrong with it.
    pub fn validation(field: &str, problem: impl fmt::Display) -> AppError {
        AppError::Client {
            code: ErrorCode::ValidationFailed,
            message: format!("invalid {field}: {problem}"),
            parameter: Some(field.to_owned()),
        }
    }

    /// An error with a code and a safe message.
    pub fn client(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError::Client {
            code,
            message: message.into(),
            parameter: None,
        }
    }

    /// A 404 for `what` `key`.
    pub fn not_found(what: &str, key: impl fmt::Display) -> AppError {
        AppError::client(ErrorCode::NotFound, format!("{what} {key} not found"))
    }

    /// The parameter or field a 400 or 422 is about.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            AppError::Client { parameter, .. } => parameter.as_deref(),
            AppError::Internal(_)
            | AppError::DatabaseUnavailable(_)
            | AppError::Upstream { .. } => None,
        }
    }

    /// The code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Client { code, .. } => *code,
            AppError::Internal(_) => ErrorCode::Internal,
            AppError::DatabaseUnavailable(_) => ErrorCode::Unavailable,
            AppError::Upstream { .. } => ErrorCode::UpstreamFailed,
        }
    }
}

impl From<keepit_store::Error> for AppError {
    fn from(error: keepit_store::Error) -> Self {
        match error {
            keepit_store::Error::NotFound { what, key } => AppError::not_found(what, key),
            keepit_store::Error::Conflict { what, key } => {
                AppError::client(ErrorCode::Conflict, format!("{what} {key} already exists"))
            }
            keepit_store::Error::InvalidInput { field, reason } => {
                AppError::validation(field, reason)
            }
            other if other.is_unavailable() => AppError::DatabaseUnavailable(other),
            other => AppError::Internal(Box::new(other)),
        }
    }
}

/// The cause of a 5xx, handed from the response to the logging middleware.
#[derive(Clone)]
struct ServerErrorCause(String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        let message = match &self {
            AppError::Client { message, .. } | AppError::Upstream { message, .. } => {
                message.clone()
            }
            AppError::Internal(_) => {
                "internal server error; the cause is in the server log".to_owned()
            }
            AppError::DatabaseUnavailable(_) => {
                "the database cannot be reached right now; try again shortly".to_owned()
            }
        };
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: code.as_str().to_owned(),
                message,
                parameter: self.parameter().map(str::to_owned),
            },
        };
        let mut response = (code.status(), Json(body)).into_response();
        if code.status().is_server_error() || matches!(self, AppError::Upstream { .. }) {
            response
                .extensions_mut()
                .insert(ServerErrorCause(error_chain(&self)));
        }
        response
    }
}

/// The error and its sources, joined by ": ".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Logs the cause of every 5xx answer; the body the caller sees stays generic.
pub(crate) async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(ServerErrorCause(cause)) = response.extensions().get::<ServerErrorCause>() {
        tracing::error!(%method, %path, status = response.status().as_u16(), %cause, "request failed");
    }
    response
}

/// A handler that panicked answers the generic 500; the panic's message is logged.
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    AppError::Internal(format!("a request handler panicked: {message}").into()).into_response()
}
