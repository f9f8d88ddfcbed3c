//! Sending one PSA request: the hourly budget, requests in flight, retries of what is
//! safe, and `429` with `Retry-After`.
//!
//! Written here rather than with a retry or rate-limit crate: the rules are PSA
//! specific (a 500 from Autotask may be a validation error that must not be retried;
//! a spent budget must fail at once, not wait an hour), and they fit in one loop.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{Error, Result, shorten};

/// How failed calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one, with jitter.
    pub base_delay: Duration,
    /// Upper bound of one backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` waited for; a longer one fails with `RateLimited`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads, and writes that set a value: retried after failures and 5xx.
    Repeatable,
    /// Creations: sent again only after a `429` (the PSA did not take it) or when the
    /// connection failed before anything was sent.
    Once,
}

/// Reads an error answer: a message for people, and whether the answer is a refusal
/// that retrying cannot change (Autotask reports validation errors as HTTP 500).
pub(crate) type ErrorReader = fn(status: u16, body: &str) -> (String, bool);

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: String,
    pub(crate) headers: HeaderMap,
}

/// The shared machinery of one PSA connection.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    retry: RetryPolicy,
    budget: Budget,
    permits: tokio::sync::Semaphore,
    read_error: ErrorReader,
}

impl Transport {
    pub(crate) fn new(
        hourly_budget: u32,
        max_in_flight: usize,
        retry: RetryPolicy,
        read_error: ErrorReader,
    ) -> Result<Transport> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("keepit-watch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::Config(format!("cannot build an HTTP client: {error}")))?;
        Ok(Transport {
            http,
            retry,
            budget: Budget::new(hourly_budget),
            permits: tokio::sync::Semaphore::new(max_in_flight.max(1)),
            read_error,
        })
    }

    /// Sends the request `build` makes (once per attempt) and returns a 2xx answer.
    pub(crate) async fn send(
        &self,
        what: &'static str,
        safety: Safety,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts.max(1);
            self.budget.take()?;
            let answer = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| Error::Unreachable("the client is shutting down".into()))?;
                match build(&self.http).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let headers = response.headers().clone();
                        let body = response.text().await.unwrap_or_default();
                        Ok((status, headers, body))
                    }
                    Err(error) => Err(error),
                }
            };
            let (status, headers, body) = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    // A request that never left can be sent again; after a timeout or
                    // a broken connection a creation may have happened, so it is not.
                    let unsent = error.is_connect() || error.is_builder();
                    let message = shorten(&error.without_url().to_string());
                    if !last && (safety == Safety::Repeatable || unsent) {
                        self.backoff(attempt).await;
                        continue;
                    }
                    return Err(Error::Unreachable(message));
                }
            };
            if (200..300).contains(&status) {
                return Ok(Answer { body, headers });
            }
            let (message, permanent) = (self.read_error)(status, &body);
            let message = shorten(&message);
            match status {
                429 => {
                    let wait = retry_after(&headers).unwrap_or(Duration::from_secs(30));
                    if last || wait > self.retry.max_retry_after {
                        return Err(Error::RateLimited { retry_after: wait });
                    }
                    tracing::info!(
                        what,
                        wait_secs = wait.as_secs(),
                        "the PSA asked to slow down"
                    );
                    tokio::time::sleep(wait).await;
                }
                401 => return Err(Error::Unauthorized { message }),
                403 => return Err(Error::Forbidden { message }),
                404 => {
                    return Err(Error::NotFound {
                        what: what.to_owned(),
                    });
                }
                500..=599 if permanent => return Err(Error::Refused { status, message }),
                500..=599 => {
                    if last || safety == Safety::Once {
                        return Err(Error::Server { status, message });
                    }
                    tracing::debug!(what, status, "the PSA failed; trying again");
                    self.backoff(attempt).await;
                }
                _ => return Err(Error::Refused { status, message }),
            }
        }
    }

    async fn backoff(&self, attempt: u32) {
        let base = self.retry.base_delay.as_millis() as u64;
        let exponential = base.saturating_mul(1 << (attempt - 1).min(16));
        let capped = exponential.min(self.retry.max_delay.as_millis() as u64);
        let jitter = rand::rng().random_range(0..=capped / 2 + 1);
        tokio::time::sleep(Duration::from_millis(capped / 2 + jitter)).await;
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these PSAs).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// At most `per_hour` requests in any rolling hour.
#[derive(Debug)]
struct Budget {
    per_hour: u32,
    sent: Mutex<VecDeque<Instant>>,
}

impl Budget {
    fn new(per_hour: u32) -> Budget {
        Budget {
            per_hour: per_hour.max(1),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    fn take(&self) -> Result<()> {
        let now = Instant::now();
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while sent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(3600))
        {
            sent.pop_front();
        }
        if sent.len() >= self.per_hour as usize {
            return Err(Error::BudgetSpent {
                budget: self.per_hour,
            });
        }
        sent.push_back(now);
        Ok(())
    }
}

/// A JSON body for a request.
pub(crate) fn json_body(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Parses a JSON answer into `T`, naming the call when it does not fit.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &'static str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|error| Error::Unexpected {
        what,
        detail: shorten(&error.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_hourly_count() {
        let budget = Budget::new(2);
        budget.take().unwrap();
        budget.take().unwrap();
        assert!(matches!(
            budget.take(),
            Err(Error::BudgetSpent { budget: 2 })
        ));
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
