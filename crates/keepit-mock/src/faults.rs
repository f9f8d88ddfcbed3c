//! Fault injection: latency, 5xx bursts, 429 with `Retry-After`, malformed or truncated
//! XML, rejected credentials for chosen accounts and dropped connections.
//!
//! Every random decision comes from one seeded generator that draws the same number of
//! values for every request, so the n-th request that reaches the fault stage always
//! gets the same decision for the same seed. With concurrent clients the order in which
//! requests arrive is up to the client, so which request is the n-th can differ.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use keepit_domain::AccountId;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::bodies;

/// The faults a [`MockKeepit`](crate::MockKeepit) injects. The default injects nothing.
///
/// Faults are checked in this order, and the first that applies answers the request:
/// rejected credentials for a targeted account, a dropped connection, a rate limit,
/// a server error. A request that passes all of them is answered normally, after the
/// latency, and its XML body may then be made malformed or truncated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Latency added to every answer.
    pub latency: Option<Duration>,
    /// Extra latency, uniformly drawn between zero and this, added to `latency`.
    pub latency_jitter: Option<Duration>,
    /// Bursts of server errors.
    pub server_errors: Option<ServerErrors>,
    /// Every n-th request answered 429 with `Retry-After`.
    pub rate_limit: Option<RateLimit>,
    /// Successful XML answers about these accounts are replaced by malformed XML.
    pub malformed_xml_for_accounts: HashSet<AccountId>,
    /// Chance (0.0 to 1.0) that a successful XML answer is cut short.
    pub truncated_xml_probability: f64,
    /// Requests about these accounts are answered 401, as if the credentials lost access.
    pub unauthorized_for_accounts: HashSet<AccountId>,
    /// Chance (0.0 to 1.0) that the connection is closed without an answer.
    pub drop_connection_probability: f64,
    /// Successful XML answers about these accounts are replaced by a 200 HTML page
    /// (`text/html`), as a captive proxy or a maintenance page would answer.
    pub html_for_accounts: HashSet<AccountId>,
    /// Successful XML answers about these accounts are replaced by an empty 200.
    pub empty_for_accounts: HashSet<AccountId>,
    /// Answers about these accounts come this much later (on top of `latency`).
    pub slow_accounts: HashMap<AccountId, Duration>,
}

/// When a burst of server errors starts, how long it lasts and which status it uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerErrors {
    /// What starts a burst.
    pub trigger: BurstTrigger,
    /// How many consecutive requests a burst fails (at least 1).
    pub burst_length: u32,
    /// The status answered (500, 502, 503 or 504 make sense).
    pub status: u16,
}

/// What starts a burst of server errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BurstTrigger {
    /// Every n-th request that reaches the server-error stage starts a burst
    /// (counting from 1, so with n = 3 the third request is the first to fail).
    EveryNth(u64),
    /// Each request outside a burst starts one with this probability.
    Probability(f64),
}

impl ServerErrors {
    /// Bursts of `burst_length` 503 answers starting at every `n`-th request.
    pub fn every_nth(n: u64, burst_length: u32) -> Self {
        ServerErrors {
            trigger: BurstTrigger::EveryNth(n),
            burst_length,
            status: 503,
        }
    }

    /// Bursts of `burst_length` 503 answers, each request starting one with `probability`.
    pub fn random(probability: f64, burst_length: u32) -> Self {
        ServerErrors {
            trigger: BurstTrigger::Probability(probability),
            burst_length,
            status: 503,
        }
    }

    /// The same bursts with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// A rate limit: every n-th request is answered 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Every n-th request that reaches the rate-limit stage is refused (from 1).
    pub every_nth: u64,
    /// The `Retry-After` value, in seconds.
    pub retry_after_secs: u64,
}

/// A fault that was injected into a request, as recorded in the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// 401 because the request touched an account in `unauthorized_for_accounts`.
    Unauthorized,
    /// The connection was closed without an answer.
    DroppedConnection,
    /// 429 with `Retry-After`.
    RateLimited,
    /// A 5xx from a burst.
    ServerError,
    /// The XML body was replaced by malformed XML.
    Malformed,
    /// The XML body was cut short.
    Truncated,
    /// The XML answer was replaced by a 200 HTML page.
    Html,
    /// The XML answer was replaced by an empty 200.
    Empty,
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Faults decided by this seed (the other settings stay as they are).
    pub fn seeded(seed: u64) -> Self {
        Faults {
            seed,
            ..Faults::default()
        }
    }

    /// Adds a fixed latency to every answer.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Adds server-error bursts.
    pub fn with_server_errors(mut self, server_errors: ServerErrors) -> Self {
        self.server_errors = Some(server_errors);
        self
    }

    /// Adds a rate limit.
    pub fn with_rate_limit(mut self, every_nth: u64, retry_after_secs: u64) -> Self {
        self.rate_limit = Some(RateLimit {
            every_nth,
            retry_after_secs,
        });
        self
    }

    /// Makes successful XML answers about `account` malformed.
    pub fn with_malformed_xml_for(mut self, account: AccountId) -> Self {
        self.malformed_xml_for_accounts.insert(account);
        self
    }

    /// Answers requests about `account` with 401.
    pub fn with_unauthorized_for(mut self, account: AccountId) -> Self {
        self.unauthorized_for_accounts.insert(account);
        self
    }

    /// Cuts successful XML answers short with this probability.
    pub fn with_truncated_xml_probability(mut self, probability: f64) -> Self {
        self.truncated_xml_probability = probability;
        self
    }

    /// Drops connections with this probability.
    pub fn with_drop_connection_probability(mut self, probability: f64) -> Self {
        self.drop_connection_probability = probability;
        self
    }

    /// Answers successful XML requests about `account` with a 200 HTML page.
    pub fn with_html_for(mut self, account: AccountId) -> Self {
        self.html_for_accounts.insert(account);
        self
    }

    /// Answers successful XML requests about `account` with an empty 200.
    pub fn with_empty_answers_for(mut self, account: AccountId) -> Self {
        self.empty_for_accounts.insert(account);
        self
    }

    /// Delays every answer about `account` by `delay` more.
    pub fn with_slow_answers_for(mut self, account: AccountId, delay: Duration) -> Self {
        self.slow_accounts.insert(account, delay);
        self
    }
}

/// How a body is spoiled after a normal answer was built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BodyFault {
    Malformed,
    /// Keep this fraction of the body (between 0.2 and 0.8).
    Truncate(f64),
    /// Replace the answer by an HTML page.
    Html,
    /// Replace the answer by an empty body.
    Empty,
}

impl BodyFault {
    /// How the fault is logged.
    pub(crate) fn kind(self) -> FaultKind {
        match self {
            BodyFault::Malformed => FaultKind::Malformed,
            BodyFault::Truncate(_) => FaultKind::Truncated,
            BodyFault::Html => FaultKind::Html,
            BodyFault::Empty => FaultKind::Empty,
        }
    }
}

/// The page a proxy in maintenance answers with: well-formed XHTML, so only its root
/// (and its content type) tell it from a Keepit document.
pub(crate) const MAINTENANCE_PAGE: &str = "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Maintenance</title></head><body><h1>We will be back soon</h1><p>The service is down for maintenance.</p></body></html>";

/// What the fault stage decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Close the connection without an answer.
    Drop,
    /// Answer at once with this, instead of the normal answer.
    Early(EarlyAnswer),
    /// Answer normally after `delay`, possibly spoiling the body.
    Proceed {
        delay: Duration,
        body_fault: Option<BodyFault>,
    },
}

/// A canned answer decided before routing (auth failures and injected faults).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EarlyAnswer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) fault: Option<FaultKind>,
    pub(crate) delay: Duration,
}

/// The seeded state behind the fault decisions.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    faults: Faults,
    rng: StdRng,
    rate_counter: u64,
    burst_counter: u64,
    burst_remaining: u32,
}

impl FaultEngine {
    pub(crate) fn new(faults: Faults) -> Self {
        FaultEngine {
            rng: StdRng::seed_from_u64(faults.seed),
            faults,
            rate_counter: 0,
            burst_counter: 0,
            burst_remaining: 0,
        }
    }

    /// The latency every answer gets (without jitter); used for auth failures too.
    pub(crate) fn base_latency(&self) -> Duration {
        self.faults.latency.unwrap_or(Duration::ZERO)
    }

    /// Decides the fate of one authenticated request about `account`.
    pub(crate) fn decide(&mut self, account: Option<&AccountId>) -> Decision {
        // Always draw the same values, whatever is decided, so decisions stay aligned
        // with the request count for a given seed.
        let draw_drop: f64 = self.rng.random();
        let draw_burst: f64 = self.rng.random();
        let draw_truncate: f64 = self.rng.random();
        let draw_cut: f64 = self.rng.random();
        let draw_jitter: f64 = self.rng.random();

        let jitter = self
            .faults
            .latency_jitter
            .map(|max| max.mul_f64(draw_jitter))
            .unwrap_or(Duration::ZERO);
        let slow = account
            .and_then(|account| self.faults.slow_accounts.get(account))
            .copied()
            .unwrap_or(Duration::ZERO);
        let delay = self.base_latency() + jitter + slow;

        if account.is_some_and(|account| self.faults.unauthorized_for_accounts.contains(account)) {
            return Decision::Early(EarlyAnswer {
                status: 401,
                body: bodies::UNAUTHORIZED.to_owned(),
                content_type: "text/plain",
                headers: Vec::new(),
                fault: Some(FaultKind::Unauthorized),
                delay,
            });
        }
        if draw_drop < self.faults.drop_connection_probability {
            return Decision::Drop;
        }
        if let Some(limit) = self.faults.rate_limit {
            self.rate_counter += 1;
            if limit.every_nth > 0 && self.rate_counter.is_multiple_of(limit.every_nth) {
                return Decision::Early(EarlyAnswer {
                    status: 429,
                    body: format!(
                        "<error>\n  <code>TOO_MANY_REQUESTS</code>\n  <description>rate limit exceeded, retry after {} seconds</description>\n</error>\n",
                        limit.retry_after_secs
                    ),
                    content_type: "application/xml",
                    headers: vec![("retry-after", limit.retry_after_secs.to_string())],
                    fault: Some(FaultKind::RateLimited),
                    delay,
                });
            }
        }
        if let Some(errors) = self.faults.server_errors {
            self.burst_counter += 1;
            let in_burst = if self.burst_remaining > 0 {
                self.burst_remaining -= 1;
                true
            } else {
                let starts = match errors.trigger {
                    BurstTrigger::EveryNth(n) => n > 0 && self.burst_counter.is_multiple_of(n),
                    BurstTrigger::Probability(p) => draw_burst < p,
                };
                if starts {
                    self.burst_remaining = errors.burst_length.saturating_sub(1);
                }
                starts
            };
            if in_burst {
                return Decision::Early(EarlyAnswer {
                    status: errors.status,
                    body: bodies::SERVER_ERROR.to_owned(),
                    content_type: "application/xml",
                    headers: Vec::new(),
                    fault: Some(FaultKind::ServerError),
                    delay,
                });
            }
        }
        let body_fault = if account
            .is_some_and(|account| self.faults.malformed_xml_for_accounts.contains(account))
        {
            Some(BodyFault::Malformed)
        } else if account.is_some_and(|account| self.faults.html_for_accounts.contains(account)) {
            Some(BodyFault::Html)
        } else if account.is_some_and(|account| self.faults.empty_for_accounts.contains(account)) {
            Some(BodyFault::Empty)
        } else if draw_truncate < self.faults.truncated_xml_probability {
            Some(BodyFault::Truncate(0.2 + 0.6 * draw_cut))
        } else {
            None
        };
        Decision::Proceed { delay, body_fault }
    }
}

/// Applies a body fault to an XML body.
pub(crate) fn spoil(body: &str, fault: BodyFault) -> String {
    match fault {
        BodyFault::Malformed => malformed(body),
        BodyFault::Html => MAINTENANCE_PAGE.to_owned(),
        BodyFault::Empty => String::new(),
        BodyFault::Truncate(fraction) => {
            let trimmed = body.trim_end();
            // Truncation must leave an incomplete document: never cut after the last `>`.
            let target = ((trimmed.len() as f64) * fraction) as usize;
            let mut cut = target.clamp(1, trimmed.len().saturating_sub(1).max(1));
            while cut > 0 && !trimmed.is_char_boundary(cut) {
                cut -= 1;
            }
            trimmed[..cut].to_owned()
        }
    }
}

/// Turns a body into XML no parser accepts: the last closing tag gets a wrong name and
/// an unterminated tag follows.
fn malformed(body: &str) -> String {
    let trimmed = body.trim_end();
    match trimmed.rfind("</") {
        Some(index) => format!(
            "{}</keepit-mock-mismatch-{}<unterminated",
            &trimmed[..index],
            &trimmed[index + 2..]
        ),
        None => format!("{trimmed}<unterminated"),
    }
}

#[cfg(test)]
mod tests;
