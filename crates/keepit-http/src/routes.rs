//! The handlers, grouped by area, and what they share.

pub(crate) mod alerts;
pub(crate) mod connectors;
pub(crate) mod customers;
pub(crate) mod integrations;
pub(crate) mod jobs;
pub(crate) mod matching;
pub(crate) mod messages;
pub(crate) mod ops;
pub(crate) mod people;
pub(crate) mod psa;
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

/// Largest request body the API reads; every body it takes is a few hundred bytes.
pub(crate) const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON request body whose rejections use the error envelope.
///
/// A body over [`BODY_LIMIT_BYTES`] is 413; a body that is not JSON, or not JSON at
/// all, is 400; a field of the wrong type, an unknown field (request types refuse
/// them, so a typo such as `untill` cannot pass for an omitted field) or a value past
/// its bound ([`Bounded`]) is 422 naming the field.
pub(crate) struct Body<T>(pub(crate) T);

/// Limits a request type puts on its values beyond their types, checked before any
/// handler sees them.
pub(crate) trait Bounded {
    /// The first value out of bounds, as a 422 naming its field.
    fn check_bounds(&self) -> Result<(), AppError>;
}

/// Checks that a text field is at most `max` characters long.
pub(crate) fn at_most(field: &str, value: Option<&str>, max: usize) -> Result<(), AppError> {
    match value {
        Some(text) if text.chars().count() > max => Err(AppError::validation(
            field,
            format!("must be at most {max} characters long"),
        )),
        _ => Ok(()),
    }
}

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned + Bounded,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => value,
            Err(JsonRejection::JsonDataError(error)) => {
                let text = error.body_text();
                return Err(match unknown_field(&text) {
                    Some(field) => AppError::validation(
                        &field,
                        "is not a field of this request; check its spelling",
                    ),
                    None => AppError::validation("body", text),
                });
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                return Err(AppError::invalid(
                    "content-type",
                    "the body must be JSON with `Content-Type: application/json`",
                ));
            }
            Err(JsonRejection::BytesRejection(rejection))
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                return Err(AppError::client(
                    ErrorCode::PayloadTooLarge,
                    format!("the body is larger than {BODY_LIMIT_BYTES} bytes"),
                ));
            }
            Err(other) => return Err(AppError::invalid("body", other.body_text())),
        };
        value.check_bounds()?;
        Ok(Body(value))
    }
}

/// The field serde names in an "unknown field `x`, expected ..." error.
fn unknown_field(text: &str) -> Option<String> {
    let start = text.find("unknown field `")? + "unknown field `".len();
    let length = text[start..].find('`')?;
    let field: String = text[start..start + length].chars().take(64).collect();
    Some(field)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(
            unknown_field(
                "Failed to deserialize the JSON body into the target type: unknown field `untill`, expected `until` at line 1 column 9"
            ),
            Some("untill".to_owned())
        );
        assert_eq!(unknown_field("missing field `name`"), None);
        assert_eq!(unknown_field("unknown field `open"), None);
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(at_most("name", Some("ééé"), 3).is_ok());
        assert!(at_most("name", None, 0).is_ok());
        let error = at_most("name", Some("abcd"), 3).unwrap_err();
        assert_eq!(error.parameter(), Some("name"));
        assert_eq!(error.code(), ErrorCode::ValidationFailed);
    }
}
