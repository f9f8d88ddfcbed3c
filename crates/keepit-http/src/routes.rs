//! The handlers, grouped by area, and what they share.

pub(crate) mod alerts;
pub(crate) mod connectors;
pub(crate) mod customers;
pub(crate) mod integrations;
pub(crate) mod jobs;
pub(crate) mod messages;
pub(crate) mod ops;
pub(crate) mod rules;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{AppError, ErrorCode};

/// Answers paths that match no route, in the error envelope.
pub(crate) async fn no_such_route(request: Request) -> AppError {
    AppError::client(
        ErrorCode::NoSuchRoute,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// Answers a known path with a method it does not serve, in the error envelope.
pub(crate) async fn method_not_allowed(request: Request) -> AppError {
    AppError::client(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A JSON request body whose rejections use the error envelope (422 naming the problem).
pub(crate) struct Body<T>(pub(crate) T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(error)) => {
                Err(AppError::validation("body", error.body_text()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::invalid(
                "content-type",
                "the body must be JSON with `Content-Type: application/json`",
            )),
            Err(other) => Err(AppError::invalid("body", other.body_text())),
        }
    }
}

/// Parses a numeric row id from a path segment.
pub(crate) fn row_id(name: &str, text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .map_err(|_| AppError::invalid(name, format!("{text:?} is not a numeric id")))
}

/// A CSV writer for downloads: RFC 4180 quoting and CRLF line ends.
pub(crate) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// A CSV download.
pub(crate) fn csv_response(body: axum::body::Body, filename: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Turns a CSV writer failure into a 500.
pub(crate) fn csv_error(error: impl std::error::Error + Send + Sync + 'static) -> AppError {
    AppError::Internal(Box::new(error))
}
