//! Why a PSA call failed.

use std::time::Duration;

/// Why a PSA call failed. Messages never carry credentials or tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The settings cannot work (a base URL that does not parse, a missing field).
    #[error("the PSA connection is misconfigured: {0}")]
    Config(String),
    /// The PSA refused the credentials.
    #[error("the PSA refused the credentials: {message}")]
    Unauthorized {
        /// What the PSA said, shortened.
        message: String,
    },
    /// The credentials are valid but lack a permission.
    #[error("the PSA's API user lacks a permission: {message}")]
    Forbidden {
        /// What the PSA said, shortened.
        message: String,
    },
    /// What was asked for does not exist (or, on some PSAs, the credentials cannot see it).
    #[error("not found in the PSA: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The PSA asked to slow down longer than this client waits.
    #[error("the PSA is rate limiting; try again in {retry_after:?}")]
    RateLimited {
        /// How long the PSA asked to wait.
        retry_after: Duration,
    },
    /// This connection's own hourly request budget is spent (it is shared with the
    /// MSP's other tools on some PSAs); work waits for the next window.
    #[error("the hourly request budget of this PSA connection ({budget}) is spent")]
    BudgetSpent {
        /// The budget, in requests per hour.
        budget: u32,
    },
    /// The PSA refused the request for good (a 4xx other than 401, 403, 404 and 429,
    /// or a validation error it reports as a 500).
    #[error("the PSA refused the request (HTTP {status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the PSA said, shortened.
        message: String,
    },
    /// The PSA failed (5xx) after the retries that were safe.
    #[error("the PSA failed (HTTP {status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// What the PSA said, shortened.
        message: String,
    },
    /// The PSA could not be reached (connection, TLS, timeout).
    #[error("the PSA could not be reached: {0}")]
    Unreachable(String),
    /// The PSA answered something this client cannot read.
    #[error("unexpected answer from the PSA for {what}: {detail}")]
    Unexpected {
        /// The call.
        what: &'static str,
        /// What was wrong, shortened.
        detail: String,
    },
}

impl Error {
    /// Whether trying again later may succeed (rate limits, budgets, outages), as
    /// opposed to a refusal that needs a person (credentials, permissions, settings).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::BudgetSpent { .. }
                | Error::Server { .. }
                | Error::Unreachable(_)
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// At most 300 characters of an answer, on one line, for error messages.
pub(crate) fn shorten(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    line.trim().to_owned()
}
