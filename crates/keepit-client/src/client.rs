//! The client, its builder, and the request pipeline (concurrency cap, rate limit, retries, tracing).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keepit_domain::AccountId;
use rand::Rng as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument as _;
use url::Url;

use crate::auth::Credentials;
use crate::error::{Error, Result};
use crate::redact::{redact_snippet, short_message};
use crate::wire;

/// How failed safe calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further retry, with jitter.
    pub base_delay: Duration,
    /// Upper bound for one backoff delay.
    pub max_delay: Duration,
    /// Upper bound for a `Retry-After` wait; a longer request gives up with `RateLimited`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(300),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exponential.min(self.max_delay);
        // Full jitter between half and all of the delay keeps retries of many
        // workers from arriving together.
        let millis = capped.as_millis() as u64;
        let jittered = if millis > 1 {
            rand::rng().random_range(millis / 2..=millis)
        } else {
            millis
        };
        Duration::from_millis(jittered)
    }
}

/// Builds a [`KeepitClient`].
#[derive(Debug, Default)]
pub struct KeepitClientBuilder {
    region: Option<String>,
    base_url: Option<String>,
    credentials: Option<Credentials>,
    account: Option<AccountId>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_concurrency: Option<usize>,
    rate_limit_per_second: Option<f64>,
    user_agent: Option<String>,
    retry: Option<RetryPolicy>,
    deadline: Option<Duration>,
    max_response_bytes: Option<usize>,
    http: Option<reqwest::Client>,
}

/// The key of [`KeepitClient::requests_by_status`] for requests that got no HTTP answer.
pub const NO_ANSWER: &str = "no_answer";

/// Default number of requests in flight: Keepit's own tooling uses about five.
pub const DEFAULT_MAX_CONCURRENCY: usize = 5;

/// Default time one call may take in total, every attempt and backoff included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(90);

/// Default largest answer body read: the biggest pages the sync asks for (500 audit
/// records, a week of one connector's jobs) are well under a megabyte, so 32 MiB leaves
/// room for large accounts while a runaway answer cannot exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl KeepitClientBuilder {
    /// Keepit data-centre prefix, such as `us-dc` or `dk-co`: the client talks to
    /// `https://{region}.keepit.com`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A full base URL, overriding the region (for tests, proxies or other hosts).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The credentials to sign in with. See [`Credentials::choose`] for picking
    /// between username/password and an API-token pair.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The MSP's parent account GUID. Without it, [`KeepitClient::test_connection`]
    /// starts from the account that owns the credentials.
    pub fn account(mut self, account: AccountId) -> Self {
        self.account = Some(account);
        self
    }

    /// Time allowed for one attempt of one request, body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time allowed to open a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Most requests in flight at once across all clones of the client (default 5).
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = Some(limit);
        self
    }

    /// Spreads requests out to at most this many per second (default: no limit).
    pub fn rate_limit(mut self, requests_per_second: f64) -> Self {
        self.rate_limit_per_second = Some(requests_per_second);
        self
    }

    /// The `User-Agent` header (default `keepit-watch/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// How failed safe calls are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Time one call may take in total, all attempts and the waits between them
    /// included (default [`DEFAULT_DEADLINE`]). Past it the call fails with
    /// [`Error::Timeout`], however many attempts were left.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Largest answer body read (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a longer
    /// answer fails with [`Error::TooLarge`] without being read to the end.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }

    /// Sends through the embedder's own HTTP client (proxies, CA roots, middleware of
    /// its choosing) instead of one the builder makes. Its own timeouts then apply:
    /// [`KeepitClientBuilder::timeout`] and [`KeepitClientBuilder::connect_timeout`] are
    /// not used; [`KeepitClientBuilder::deadline`] still bounds each call.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<KeepitClient> {
        let base_url = resolve_base_url(self.region.as_deref(), self.base_url.as_deref())?;
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "credentials are required: a username and password, or an API token pair".into(),
            )
        })?;
        let max_concurrency = self.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
        if max_concurrency == 0 {
            return Err(Error::Config(
                "the concurrency limit must be at least 1".into(),
            ));
        }
        let rate = match self.rate_limit_per_second {
            Some(per_second) if !(per_second.is_finite() && per_second > 0.0) => {
                return Err(Error::Config(format!(
                    "the rate limit must be a positive number, not {per_second}"
                )));
            }
            Some(per_second) => Some(RateLimiter::new(per_second)),
            None => None,
        };
        let retry = self.retry.unwrap_or_default();
        if retry.max_attempts == 0 {
            return Err(Error::Config("retry attempts must be at least 1".into()));
        }
        let deadline = self.deadline.unwrap_or(DEFAULT_DEADLINE);
        if deadline.is_zero() {
            return Err(Error::Config(
                "the request deadline must be positive".into(),
            ));
        }
        let max_response_bytes = self
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes == 0 {
            return Err(Error::Config(
                "the response size limit must be at least one byte".into(),
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout.unwrap_or(Duration::from_secs(30)))
                .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
                .build()
                .map_err(|err| Error::Config(format!("could not build the HTTP client: {err}")))?,
        };
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| format!("keepit-watch/{}", env!("CARGO_PKG_VERSION")));
        Ok(KeepitClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                authorization: credentials.header_value(),
                credentials,
                account: self.account,
                permits: Semaphore::new(max_concurrency),
                rate,
                retry,
                deadline,
                max_response_bytes,
                user_agent,
                requests: AtomicU64::new(0),
                answers: std::sync::Mutex::new(BTreeMap::new()),
            }),
        })
    }
}

/// The URL a client would talk to: `base_url` when given, else the region's
/// `https://{region}.keepit.com/`. An [`Error::Config`] says what is wrong with either,
/// so callers can check a configuration before storing it, without building a client.
pub fn resolve_base_url(region: Option<&str>, base_url: Option<&str>) -> Result<Url> {
    match (base_url, region) {
        (Some(url), _) => parse_base_url(url),
        (None, Some(region)) => region_url(region),
        (None, None) => Err(Error::Config(
            "either a region or a base URL is required".into(),
        )),
    }
}

fn region_url(region: &str) -> Result<Url> {
    let region = region.trim().to_ascii_lowercase();
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if !valid {
        return Err(Error::Config(format!(
            "region {region:?} is not a Keepit data-centre prefix such as us-dc, dk-co, de-fr, uk-ld, ca-tr, au-sy or ch-zh"
        )));
    }
    parse_base_url(&format!("https://{region}.keepit.com"))
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let mut url = Url::parse(raw.trim())
        .map_err(|err| Error::Config(format!("base URL {raw:?} is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "base URL {raw:?} must use http or https"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "the base URL must not carry credentials; pass them separately".into(),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A Keepit REST API client. Cheap to clone; clones share the connection pool,
/// the concurrency limit, the rate limit and the request counter.
#[derive(Clone)]
pub struct KeepitClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for KeepitClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepitClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("credentials", &self.inner.credentials)
            .field("account", &self.inner.account)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: Url,
    credentials: Credentials,
    authorization: reqwest::header::HeaderValue,
    pub(crate) account: Option<AccountId>,
    permits: Semaphore,
    rate: Option<RateLimiter>,
    retry: RetryPolicy,
    deadline: Duration,
    max_response_bytes: usize,
    user_agent: String,
    requests: AtomicU64,
    answers: std::sync::Mutex<BTreeMap<String, u64>>,
}

/// Spaces requests evenly: each request reserves the next free slot.
struct RateLimiter {
    interval: Duration,
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: f64) -> Self {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// One HTTP request to Keepit, described before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// The endpoint template, for errors and traces: never contains ids.
    pub(crate) endpoint: &'static str,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) accept: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<String>,
    /// Whether the call may be repeated safely (reads, and read-only PUT filters).
    pub(crate) retry_safe: bool,
}

impl Call {
    pub(crate) fn get(endpoint: &'static str, path: String, accept: &'static str) -> Self {
        Call {
            method: Method::GET,
            endpoint,
            path,
            query: Vec::new(),
            accept,
            headers: Vec::new(),
            body: None,
            retry_safe: true,
        }
    }

    /// A read-only query sent as `PUT` with an XML body; safe to retry.
    pub(crate) fn put_filter(
        endpoint: &'static str,
        path: String,
        accept: &'static str,
        body: String,
    ) -> Self {
        Call {
            method: Method::PUT,
            body: Some(body),
            ..Call::get(endpoint, path, accept)
        }
    }

    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

/// What one attempt produced.
enum Attempt {
    Done(Reply),
    Retry {
        error: Error,
        wait: Option<Duration>,
    },
    Fail(Error),
}

/// The Accept header value for a Keepit schema version.
pub(crate) const V1: &str = "application/vnd.keepit.v1+xml";
pub(crate) const V3: &str = "application/vnd.keepit.v3+xml";
pub(crate) const V4: &str = "application/vnd.keepit.v4+xml";
pub(crate) const CSV: &str = "text/csv";

impl KeepitClient {
    /// Starts building a client.
    pub fn builder() -> KeepitClientBuilder {
        KeepitClientBuilder::default()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Requests sent so far by this client and its clones, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The same requests by how Keepit answered: the HTTP status as text (`"200"`,
    /// `"429"`), or [`NO_ANSWER`] when the connection failed or timed out before a
    /// status arrived. Requests still in flight are not counted yet.
    pub fn requests_by_status(&self) -> BTreeMap<String, u64> {
        self.inner
            .answers
            .lock()
            .map(|answers| answers.clone())
            .unwrap_or_default()
    }

    fn count_answer(&self, answer: &str) {
        if let Ok(mut answers) = self.inner.answers.lock() {
            *answers.entry(answer.to_owned()).or_default() += 1;
        }
    }

    fn url_for(&self, call: &Call) -> Result<Url> {
        let relative = call.path.trim_start_matches('/');
        let mut url = self.inner.base_url.join(relative).map_err(|err| {
            Error::Config(format!(
                "could not build the URL for {}: {err}",
                call.endpoint
            ))
        })?;
        if !call.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &call.query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// Sends a call, retrying where that is safe, and returns the successful reply.
    pub(crate) async fn send(&self, call: &Call) -> Result<Reply> {
        let url = self.url_for(call)?;
        let policy = self.inner.retry;
        let attempts = if call.retry_safe {
            policy.max_attempts
        } else {
            1
        };
        let deadline = tokio::time::Instant::now() + self.inner.deadline;
        let mut attempt = 1;
        loop {
            let span = tracing::debug_span!(
                "keepit.request",
                method = %call.method,
                endpoint = call.endpoint,
                attempt,
                status = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            );
            let Ok(outcome) =
                tokio::time::timeout_at(deadline, self.attempt(call, url.clone()).instrument(span))
                    .await
            else {
                tracing::debug!(
                    endpoint = call.endpoint,
                    attempt,
                    "keepit request deadline passed"
                );
                return Err(Error::Timeout {
                    endpoint: call.endpoint,
                });
            };
            match outcome {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { error, wait } => {
                    if attempt >= attempts {
                        return Err(error);
                    }
                    let delay = match wait {
                        Some(retry_after) if retry_after > policy.max_retry_after => {
                            return Err(error);
                        }
                        Some(retry_after) => retry_after.max(policy.backoff(attempt)),
                        None => policy.backoff(attempt),
                    };
                    // A retry that could only start after the deadline is not worth waiting for.
                    if tokio::time::Instant::now() + delay >= deadline {
                        return Err(error);
                    }
                    tracing::debug!(endpoint = call.endpoint, attempt, delay_ms = delay.as_millis() as u64, %error, "retrying keepit request");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, call: &Call, url: Url) -> Attempt {
        // Hold a permit for the whole exchange, body included, but not while backing off.
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return Attempt::Fail(Error::Config(
                "the client's request limiter was closed".into(),
            ));
        };
        if let Some(rate) = &self.inner.rate {
            rate.wait().await;
        }
        let started = Instant::now();
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header(ACCEPT, call.accept)
            .header(USER_AGENT, self.inner.user_agent.as_str());
        for (name, value) in &call.headers {
            request = request.header(*name, value.as_str());
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/xml")
                .body(body.clone());
        }
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let span = tracing::Span::current();
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) => {
                span.record("duration_ms", started.elapsed().as_millis() as u64);
                self.count_answer(NO_ANSWER);
                return self.transport_failure(call, source);
            }
        };
        let status = response.status();
        span.record("status", status.as_u16());
        self.count_answer(status.as_str());
        let headers = response.headers().clone();
        let body = match self.read_body(call, response).await {
            Ok(body) => body,
            Err(BodyError::Transport(source)) => {
                span.record("duration_ms", started.elapsed().as_millis() as u64);
                return self.transport_failure(call, source);
            }
            Err(BodyError::Fatal(error)) => {
                span.record("duration_ms", started.elapsed().as_millis() as u64);
                return Attempt::Fail(error);
            }
        };
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "keepit answered"
        );
        if status.is_success() {
            if let Some(mime) = unexpected_content_type(call.accept, &headers) {
                return Attempt::Fail(Error::Decode {
                    endpoint: call.endpoint,
                    reason: format!("the answer is {mime} where {} was expected", call.accept),
                    snippet: redact_snippet(&body),
                });
            }
            return Attempt::Done(Reply { headers, body });
        }
        let endpoint = call.endpoint;
        match status {
            StatusCode::UNAUTHORIZED => Attempt::Fail(Error::Unauthorized { endpoint }),
            StatusCode::FORBIDDEN => Attempt::Fail(Error::Forbidden { endpoint }),
            StatusCode::NOT_FOUND => Attempt::Fail(Error::NotFound { endpoint }),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = parse_retry_after(&headers);
                Attempt::Retry {
                    error: Error::RateLimited {
                        endpoint,
                        retry_after,
                    },
                    wait: retry_after,
                }
            }
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => Attempt::Retry {
                error: api_error(endpoint, status, &body),
                wait: parse_retry_after(&headers),
            },
            _ => Attempt::Fail(api_error(endpoint, status, &body)),
        }
    }

    /// Reads a body up to the size limit, refusing a longer one as soon as its
    /// `Content-Length` or the bytes read so far show it, and decodes it as UTF-8
    /// (invalid sequences replaced, as `reqwest`'s own `text()` does).
    async fn read_body(
        &self,
        call: &Call,
        mut response: reqwest::Response,
    ) -> std::result::Result<String, BodyError> {
        let limit = self.inner.max_response_bytes;
        let too_large = || {
            BodyError::Fatal(Error::TooLarge {
                endpoint: call.endpoint,
                limit_bytes: limit as u64,
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let mut bytes: Vec<u8> =
            Vec::with_capacity(announced.map_or(0, |length| length as usize).min(limit));
        while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
        })
    }

    fn transport_failure(&self, call: &Call, source: reqwest::Error) -> Attempt {
        let endpoint = call.endpoint;
        let error = if source.is_timeout() {
            Error::Timeout { endpoint }
        } else {
            Error::Transport {
                endpoint,
                source: Box::new(source.without_url()),
            }
        };
        if call.retry_safe {
            Attempt::Retry { error, wait: None }
        } else {
            Attempt::Fail(error)
        }
    }

    /// Sends a call and decodes an XML body whose root element is one of `roots`.
    pub(crate) async fn fetch_xml<T>(&self, call: &Call, roots: &[&str]) -> Result<T>
    where
        T: serde::de::DeserializeOwned,
    {
        let reply = self.send(call).await?;
        decode_xml(call.endpoint, &reply.body, roots)
    }

    /// Like [`KeepitClient::fetch_xml`], but a 404 means "nothing there" and gives `None`.
    pub(crate) async fn fetch_xml_or_none<T>(
        &self,
        call: &Call,
        roots: &[&str],
    ) -> Result<Option<T>>
    where
        T: serde::de::DeserializeOwned,
    {
        match self.fetch_xml(call, roots).await {
            Ok(value) => Ok(Some(value)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Decodes an XML body whose root element is one of `roots` (by local name).
///
/// Inside the document decoding is lenient (unknown elements are ignored), but the
/// document itself must be there: an empty body or another root, such as a proxy's
/// `<html>` page, is an [`Error::Decode`], never a document with every field absent.
pub(crate) fn decode_xml<T>(endpoint: &'static str, body: &str, roots: &[&str]) -> Result<T>
where
    T: serde::de::DeserializeOwned,
{
    let trimmed = body.trim_start_matches('\u{feff}').trim();
    crate::xml::XmlCursor::new(endpoint, trimmed).expect_root(roots)?;
    quick_xml::de::from_str(trimmed).map_err(|err| Error::Decode {
        endpoint,
        reason: err.to_string(),
        snippet: redact_snippet(trimmed),
    })
}

fn api_error(endpoint: &'static str, status: StatusCode, body: &str) -> Error {
    let (code, message) = match wire::ErrorBody::parse(body) {
        Some(parsed) => (parsed.code, parsed.description.unwrap_or_default()),
        None => (None, body.to_owned()),
    };
    let message = short_message(&message);
    let message = if message.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no description")
            .to_lowercase()
    } else {
        message
    };
    Error::Api {
        endpoint,
        status: status.as_u16(),
        code,
        message,
    }
}

/// Why reading a body stopped.
enum BodyError {
    /// The connection failed mid-body: retried like any transport failure.
    Transport(reqwest::Error),
    /// The body broke a rule (its size): not retried.
    Fatal(Error),
}

/// The media type of a successful answer when it cannot be the document asked for:
/// an HTML page (a proxy's, a login or maintenance page) or JSON. Other types, and
/// answers without one, are left to the decoder, since Keepit's own content types are
/// not documented with certainty.
fn unexpected_content_type(accept: &str, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let refused = matches!(
        mime.as_str(),
        "text/html" | "application/xhtml+xml" | "application/json"
    );
    // Asked for CSV, XML is as wrong as HTML.
    let wrong_for_csv = accept == CSV && (mime.ends_with("/xml") || mime.ends_with("+xml"));
    (refused || wrong_for_csv).then_some(mime)
}

fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_become_keepit_hosts() {
        assert_eq!(
            region_url("us-dc").unwrap().as_str(),
            "https://us-dc.keepit.com/"
        );
        assert_eq!(
            region_url(" DK-CO ").unwrap().as_str(),
            "https://dk-co.keepit.com/"
        );
        assert!(matches!(region_url("evil.com/x"), Err(Error::Config(_))));
        assert!(matches!(region_url(""), Err(Error::Config(_))));
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            parse_base_url("https://proxy.example/keepit")
                .unwrap()
                .as_str(),
            "https://proxy.example/keepit/"
        );
        assert!(matches!(parse_base_url("ftp://x"), Err(Error::Config(_))));
        assert!(matches!(
            parse_base_url("https://u:p@host"),
            Err(Error::Config(_))
        ));
        assert!(matches!(parse_base_url("not a url"), Err(Error::Config(_))));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            ..RetryPolicy::default()
        };
        let first = policy.backoff(1);
        assert!(
            first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
            "{first:?}"
        );
        let third = policy.backoff(3);
        assert!(
            third >= Duration::from_millis(125) && third <= Duration::from_millis(250),
            "{third:?}"
        );
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[track_caller]
    fn decode_reason(body: &str) -> String {
        match decode_xml::<wire::Users>("GET /users/{a}/users", body, &["users"]) {
            Err(Error::Decode { reason, .. }) => reason,
            other => panic!("expected a decode error for {body:?}, got {other:?}"),
        }
    }

    #[test]
    fn documents_must_have_the_expected_root() {
        let users: wire::Users =
            decode_xml("GET /users/{a}/users", " <users/>\n", &["users"]).unwrap();
        assert!(users.user.is_empty() && users.id.is_empty());
        assert!(decode_reason("  \n").contains("empty where <users> was expected"));
        assert!(decode_reason("").contains("empty"));
        assert_eq!(
            decode_reason("<html><body><users><id>x</id></users></body></html>"),
            "the document is <html> where <users> was expected"
        );
        assert!(decode_reason("{\"users\": []}").contains("not XML"));
    }

    #[test]
    fn html_and_json_answers_are_refused_by_content_type() {
        let mut headers = HeaderMap::new();
        assert_eq!(unexpected_content_type(V4, &headers), None);
        for (value, refused) in [
            ("application/vnd.keepit.v4+xml", None),
            ("application/xml; charset=utf-8", None),
            ("text/xml", None),
            ("text/plain", None),
            ("text/html; charset=UTF-8", Some("text/html")),
            ("TEXT/HTML", Some("text/html")),
            ("application/xhtml+xml", Some("application/xhtml+xml")),
            ("application/json", Some("application/json")),
        ] {
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(
                unexpected_content_type(V4, &headers).as_deref(),
                refused,
                "{value}"
            );
        }
        headers.insert(CONTENT_TYPE, "application/xml".parse().unwrap());
        assert_eq!(
            unexpected_content_type(CSV, &headers).as_deref(),
            Some("application/xml")
        );
        headers.insert(CONTENT_TYPE, "text/csv".parse().unwrap());
        assert_eq!(unexpected_content_type(CSV, &headers), None);
    }
}
