//! The client's one error type.

use std::time::Duration;

/// Everything that can go wrong talking to Keepit.
///
/// Each variant names the endpoint template (for example `GET /users/{a}/devices`)
/// so a failure can be traced to a call without exposing account data or secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The credentials were refused (HTTP 401). Never retried.
    #[error("keepit refused the credentials for {endpoint}")]
    Unauthorized {
        /// The endpoint template.
        endpoint: &'static str,
    },
    /// The credentials are valid but lack the permission (HTTP 403). Never retried.
    #[error("keepit denied access to {endpoint}: the credentials lack the needed role")]
    Forbidden {
        /// The endpoint template.
        endpoint: &'static str,
    },
    /// The resource does not exist (HTTP 404) where that is not a normal "empty" answer.
    #[error("keepit has no such resource at {endpoint}")]
    NotFound {
        /// The endpoint template.
        endpoint: &'static str,
    },
    /// Keepit kept answering 429 after every retry.
    #[error("keepit rate-limited {endpoint}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// The endpoint template.
        endpoint: &'static str,
        /// How long Keepit asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Keepit answered with another error status; the body was parsed when it could be.
    #[error("keepit answered {status} for {endpoint}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// The endpoint template.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The `<code>` of an XML error body, if there was one.
        code: Option<String>,
        /// The error description, shortened and stripped of personal data.
        message: String,
    },
    /// The response could not be understood.
    #[error("could not decode the answer of {endpoint}: {reason} (body starts: {snippet:?})")]
    Decode {
        /// The endpoint template.
        endpoint: &'static str,
        /// What was wrong.
        reason: String,
        /// The first characters of the body, with personal data and tokens masked.
        snippet: String,
    },
    /// The answer was longer than the configured limit; it was not read to the end.
    #[error("keepit's answer to {endpoint} is larger than the limit of {limit_bytes} bytes")]
    TooLarge {
        /// The endpoint template.
        endpoint: &'static str,
        /// The configured limit.
        limit_bytes: u64,
    },
    /// The request did not complete in time: every attempt timed out, or the call's
    /// total deadline passed.
    #[error("keepit did not answer {endpoint} in time")]
    Timeout {
        /// The endpoint template.
        endpoint: &'static str,
    },
    /// The connection failed, on every attempt.
    #[error("could not reach keepit for {endpoint}")]
    Transport {
        /// The endpoint template.
        endpoint: &'static str,
        /// The underlying error (the HTTP stack's; its type is not part of this API).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The client was configured wrongly (bad region, base URL, missing credentials).
    #[error("invalid keepit client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The endpoint template the error belongs to, when there is one.
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            Error::Unauthorized { endpoint }
            | Error::Forbidden { endpoint }
            | Error::NotFound { endpoint }
            | Error::RateLimited { endpoint, .. }
            | Error::Api { endpoint, .. }
            | Error::Decode { endpoint, .. }
            | Error::TooLarge { endpoint, .. }
            | Error::Timeout { endpoint }
            | Error::Transport { endpoint, .. } => Some(endpoint),
            Error::Config(_) => None,
        }
    }

    /// Whether retrying later could help (rate limits, timeouts, transport and 5xx errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::Timeout { .. } | Error::Transport { .. } => true,
            Error::Api { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
