//! [`MockKeepit`]: a wiremock server that speaks Keepit, with intent-named fixture mounts.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wiremock::http::Method;
use wiremock::matchers::body_string_contains;
use wiremock::{Match, Mock, MockGuard, MockServer, Request, Respond, ResponseTemplate, Times};

use crate::auth::MockCredentials;
use crate::faults::Faults;
use crate::fixture::{content_type, fixture_path};
use crate::fleet::{Fleet, FleetServer};
use crate::gate::{
    AdmitGate, CatchAll, EarlyGate, EarlyResponder, Reply, Shared, drop_connection, lock,
};
use crate::log::{RecordedRequest, RequestStats};

/// Priority of the gates: wiremock's highest. Every other mock keeps wiremock's default
/// priority, because wiremock sorts its mocks by priority in place while scoped mocks
/// remember their insertion index: with mixed priorities, dropping a `MockGuard` would
/// switch off the wrong mock. The gates are mounted first, so they never move.
const GATE_PRIORITY: u8 = 1;

/// A fake Keepit API on a local wiremock server.
///
/// Every request passes a gate that checks HTTP Basic auth like Keepit (401 with
/// Keepit's plain-text bodies for missing or wrong credentials), applies the
/// configured [`Faults`] and records the request (see [`MockKeepit::requests`]).
/// Answers come from fixture mounts (`whoami`, `devices`, `job_history`, ...), from a
/// served [`Fleet`], or from a catch-all that answers 404 naming the request nobody
/// expected.
///
/// ```no_run
/// # async fn demo() {
/// use keepit_mock::MockKeepit;
///
/// let mock = MockKeepit::start().await;
/// mock.whoami("ok").expect(1).await;
/// mock.devices("5d67ai-hl7znb-f2ykpu", "mixed").await;
/// // Point a client at mock.uri() with mock.credentials().
/// # }
/// ```
#[derive(Debug)]
pub struct MockKeepit {
    server: MockServer,
    shared: Arc<Shared>,
    /// The served fleet, re-mounted behind every new fixture mount.
    fleet: Mutex<Option<FleetServer>>,
    /// Serialises mounting, so tails are re-mounted in order.
    mounting: tokio::sync::Mutex<()>,
}

/// Configures a [`MockKeepit`] before it starts.
#[derive(Debug, Default)]
#[must_use]
pub struct MockKeepitBuilder {
    credentials: MockCredentials,
    faults: Faults,
    listener: Option<std::net::TcpListener>,
}

impl MockKeepitBuilder {
    /// The credentials the mock accepts (default: [`MockCredentials::default`]).
    pub fn credentials(mut self, credentials: MockCredentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Faults to inject from the first request on (default: none).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Serves on this listener instead of a free local port (`keepit-mock serve
    /// --listen`).
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Starts the server (on a free local port unless a listener was given) and mounts
    /// the gates and the catch-all.
    pub async fn start(self) -> MockKeepit {
        // A fresh server each time (not wiremock's pool), and no wiremock recording:
        // the mock keeps its own, smaller request log.
        let mut builder = MockServer::builder().disable_request_recording();
        if let Some(listener) = self.listener {
            builder = builder.listener(listener);
        }
        let server = builder.start().await;
        let shared = Arc::new(Shared::new(self.credentials, self.faults));
        let mock = MockKeepit {
            server,
            shared,
            fleet: Mutex::new(None),
            mounting: tokio::sync::Mutex::new(()),
        };
        mock.mount_infrastructure().await;
        mock
    }
}

impl MockKeepit {
    /// Starts a mock with the default credentials and no faults.
    pub async fn start() -> MockKeepit {
        MockKeepit::builder().start().await
    }

    /// A builder for credentials and faults.
    pub fn builder() -> MockKeepitBuilder {
        MockKeepitBuilder::default()
    }

    /// Starts a mock with default credentials and serves `fleet` on it.
    pub async fn start_with_fleet(fleet: Fleet) -> (MockKeepit, FleetServer) {
        let mock = MockKeepit::start().await;
        let served = mock.serve_fleet(fleet).await;
        (mock, served)
    }

    async fn mount_infrastructure(&self) {
        Mock::given(AdmitGate(self.shared.clone()))
            .respond_with_err(drop_connection(self.shared.clone()))
            .with_priority(GATE_PRIORITY)
            .named("keepit-mock gate: auth, faults, accounting")
            .mount(&self.server)
            .await;
        Mock::given(EarlyGate(self.shared.clone()))
            .respond_with(EarlyResponder(self.shared.clone()))
            .with_priority(GATE_PRIORITY)
            .named("keepit-mock gate: 401 and injected error answers")
            .mount(&self.server)
            .await;
        self.remount_tails().await;
    }

    /// Mounts a fresh copy of the mocks that must come after every fixture (the served
    /// fleet, then the catch-all) and retires the previous copies.
    ///
    /// wiremock tries mocks of equal priority in mounting order, so the answers of last
    /// resort have to be mounted again after each new fixture. The new copies match only
    /// once the generation is switched, so no request falls between two generations.
    async fn remount_tails(&self) {
        let generation = self.shared.tail_generation() + 1;
        let fleet = lock(&self.fleet).clone();
        if let Some(fleet) = fleet {
            Mock::given(Tail {
                shared: self.shared.clone(),
                generation,
            })
            .and(crate::fleet::server::FleetPaths)
            .respond_with(crate::fleet::server::FleetResponder {
                shared: self.shared.clone(),
                fleet,
            })
            .named("keepit-mock fleet")
            .mount(&self.server)
            .await;
        }
        Mock::given(Tail {
            shared: self.shared.clone(),
            generation,
        })
        .respond_with(CatchAll(self.shared.clone()))
        .named("keepit-mock catch-all")
        .mount(&self.server)
        .await;
        self.shared.set_tail_generation(generation);
    }

    /// Mounts a hand-made wiremock mock before the served fleet and the catch-all.
    ///
    /// Keep wiremock's default priority. The mock's responder is not part of the gate:
    /// its answers get no latency or body faults and are logged without a status.
    pub async fn mount(&self, mock: Mock) {
        let _mounting = self.mounting.lock().await;
        mock.mount(&self.server).await;
        self.remount_tails().await;
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The underlying wiremock server, for inspection.
    ///
    /// Mount hand-made mocks with [`MockKeepit::mount`], not on the server directly
    /// (they would come after the catch-all), and do not reset the server (that removes
    /// the gates).
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The credentials the mock accepts.
    pub fn credentials(&self) -> &MockCredentials {
        &self.shared.credentials
    }

    /// Replaces the injected faults; the fault decisions restart from the new seed.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Stops injecting faults.
    pub fn clear_faults(&self) {
        self.shared.set_faults(Faults::none());
    }

    /// The faults currently injected.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).entries().to_vec()
    }

    /// The requests to one endpoint template, e.g. `"GET /users/{a}/devices"`.
    pub fn requests_to(&self, endpoint: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .entries()
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .cloned()
            .collect()
    }

    /// The requests nobody expected (answered by the catch-all).
    pub fn unmatched_requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .entries()
            .iter()
            .filter(|request| request.unmatched)
            .cloned()
            .collect()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).entries().len()
    }

    /// How many requests one endpoint template received.
    pub fn request_count_for(&self, endpoint: &str) -> usize {
        lock(&self.shared.log)
            .entries()
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .count()
    }

    /// Totals: per endpoint, per status, per fault, and the most requests in flight at once.
    pub fn request_stats(&self) -> RequestStats {
        lock(&self.shared.log).stats()
    }

    /// The distinct `Accept` headers one endpoint template received, in first-seen order.
    pub fn accept_headers(&self, endpoint: &str) -> Vec<String> {
        self.distinct(endpoint, |request| request.accept.clone())
    }

    /// The distinct Basic-auth usernames one endpoint template received, in first-seen order.
    pub fn usernames(&self, endpoint: &str) -> Vec<String> {
        self.distinct(endpoint, |request| request.username.clone())
    }

    fn distinct(
        &self,
        endpoint: &str,
        field: impl Fn(&RecordedRequest) -> Option<String>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for request in lock(&self.shared.log).entries() {
            if request.endpoint != endpoint {
                continue;
            }
            if let Some(value) = field(request)
                && !out.contains(&value)
            {
                out.push(value);
            }
        }
        out
    }

    /// Forgets the requests received so far.
    pub fn reset_request_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Serves a generated fleet: one wiremock mock whose responder looks every answer up
    /// by GUID. Fixtures mounted later take precedence over it; serving another fleet
    /// replaces this one.
    pub async fn serve_fleet(&self, fleet: Fleet) -> FleetServer {
        let served = FleetServer::new(fleet);
        let _mounting = self.mounting.lock().await;
        *lock(&self.fleet) = Some(served.clone());
        self.remount_tails().await;
        served
    }

    // ---- fixture mounts -------------------------------------------------------------

    fn route_mount(
        &self,
        method: Method,
        path: String,
        responder: FixtureResponder,
    ) -> FixtureMount<'_> {
        let name = format!("{method} {path}");
        self.mount_builder(Mock::given(Route::new(method, &path)), name, responder)
    }

    fn mount_builder(
        &self,
        builder: wiremock::MockBuilder,
        name: String,
        responder: FixtureResponder,
    ) -> FixtureMount<'_> {
        FixtureMount {
            mock: self,
            inner: builder.respond_with(responder).named(name),
        }
    }

    fn fixture_reply(&self, status: u16, endpoint: &str, case: &str) -> Reply {
        let path = match fixture_path(endpoint, case) {
            Ok(path) => path,
            Err(error) => panic!("{error}"),
        };
        let body = match std::fs::read_to_string(&path) {
            Ok(body) => body,
            Err(error) => panic!("cannot read fixture {}: {error}", path.display()),
        };
        Reply::with(status, body, content_type(&path))
    }

    fn static_mount(&self, method: Method, path: String, reply: Reply) -> FixtureMount<'_> {
        let responder = FixtureResponder {
            shared: self.shared.clone(),
            kind: Kind::Static(reply),
        };
        self.route_mount(method, path, responder)
    }

    /// `GET /users/` (who am I) answers `fixtures/keepit/whoami/<case>`.
    ///
    /// # Panics
    ///
    /// Every fixture mount panics when the fixture file does not exist.
    pub fn whoami(&self, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "whoami", case);
        self.static_mount(Method::GET, "/users/".to_owned(), reply)
    }

    /// `GET /users/{account}` answers `fixtures/keepit/account/<case>`.
    pub fn account(&self, account: impl AsRef<str>, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "account", case);
        self.static_mount(Method::GET, format!("/users/{}", account.as_ref()), reply)
    }

    /// `GET /users/{parent}/users` answers `fixtures/keepit/child-accounts/<case>`
    /// (`v3-*` cases also carry `X-Total-Count`).
    pub fn child_accounts(&self, parent: impl AsRef<str>, case: &str) -> FixtureMount<'_> {
        let mut reply = self.fixture_reply(200, "child-accounts", case);
        if case.starts_with("v3") {
            let count = reply.body.matches("<user>").count();
            reply = reply.header("x-total-count", count.to_string());
        }
        self.static_mount(
            Method::GET,
            format!("/users/{}/users", parent.as_ref()),
            reply,
        )
    }

    /// `GET /users/{account}/users` answers 404, as Keepit does for an account without children.
    pub fn no_child_accounts(&self, account: impl AsRef<str>) -> FixtureMount<'_> {
        self.static_mount(
            Method::GET,
            format!("/users/{}/users", account.as_ref()),
            Reply::not_found(),
        )
    }

    /// `GET /users/{account}/devices` answers `fixtures/keepit/devices/<case>`.
    pub fn devices(&self, account: impl AsRef<str>, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "devices", case);
        self.static_mount(
            Method::GET,
            format!("/users/{}/devices", account.as_ref()),
            reply,
        )
    }

    /// `GET /users/{account}/devices/{connector}/health` answers `fixtures/keepit/health/<case>`.
    pub fn health(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "health", case);
        let path = device_path(account.as_ref(), connector.as_ref(), "health");
        self.static_mount(Method::GET, path, reply)
    }

    /// `GET /users/{account}/devices/{connector}/status` answers `fixtures/keepit/device-status/<case>`.
    pub fn device_status(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "device-status", case);
        let path = device_path(account.as_ref(), connector.as_ref(), "status");
        self.static_mount(Method::GET, path, reply)
    }

    /// `GET /users/{account}/devices/{connector}/history/latest` answers
    /// `fixtures/keepit/latest-snapshot/<case>`.
    pub fn latest_snapshot(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "latest-snapshot", case);
        let path = device_path(account.as_ref(), connector.as_ref(), "history/latest");
        self.static_mount(Method::GET, path, reply)
    }

    /// `GET /users/{account}/devices/{connector}/history/latest` answers 404 (no snapshot yet).
    pub fn no_latest_snapshot(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
    ) -> FixtureMount<'_> {
        let path = device_path(account.as_ref(), connector.as_ref(), "history/latest");
        self.static_mount(Method::GET, path, Reply::not_found())
    }

    /// `PUT /users/{account}/devices/{connector}/history/range` answers the
    /// `fixtures/keepit/snapshot-range/<case>` files one after the other (the last repeats).
    pub fn snapshot_range(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        cases: &[&str],
    ) -> FixtureMount<'_> {
        let pages = cases
            .iter()
            .map(|case| self.fixture_reply(200, "snapshot-range", case))
            .collect();
        let path = device_path(account.as_ref(), connector.as_ref(), "history/range");
        self.sequence_mount(Method::PUT, path, pages)
    }

    /// `GET /users/{account}/monitoring/backup/summary` answers `fixtures/keepit/backup-summary/<case>`.
    pub fn backup_summary(&self, account: impl AsRef<str>, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "backup-summary", case);
        let path = format!("/users/{}/monitoring/backup/summary", account.as_ref());
        self.static_mount(Method::GET, path, reply)
    }

    /// `PUT /users/{account}/devices/{connector}/jobs` (job history) answers
    /// `fixtures/keepit/jobs-history/<case>`.
    pub fn job_history(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        self.job_history_pages(account, connector, &[case])
    }

    /// Like [`MockKeepit::job_history`], answering the cases one after the other
    /// (the last repeats), for clients that query history in chunks.
    pub fn job_history_pages(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        cases: &[&str],
    ) -> FixtureMount<'_> {
        let pages = cases
            .iter()
            .map(|case| self.fixture_reply(200, "jobs-history", case))
            .collect();
        let path = device_path(account.as_ref(), connector.as_ref(), "jobs");
        self.sequence_mount(Method::PUT, path, pages)
    }

    /// `GET /users/{account}/devices/{connector}/jobs` (active jobs) answers
    /// `fixtures/keepit/jobs-active/<case>`.
    pub fn active_jobs(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "jobs-active", case);
        let path = device_path(account.as_ref(), connector.as_ref(), "jobs");
        self.static_mount(Method::GET, path, reply)
    }

    /// `GET /users/{account}/devices/{connector}/jobs/{job}` answers `fixtures/keepit/job/<case>`.
    pub fn job(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        job: impl AsRef<str>,
        case: &str,
    ) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "job", case);
        let path = device_path(
            account.as_ref(),
            connector.as_ref(),
            &format!("jobs/{}", job.as_ref()),
        );
        self.static_mount(Method::GET, path, reply)
    }

    /// `PUT /users/{account}/devices/{connector}/jobs/{job}` (cancel) answers 200 with no body.
    pub fn cancel_job(
        &self,
        account: impl AsRef<str>,
        connector: impl AsRef<str>,
        job: impl AsRef<str>,
    ) -> FixtureMount<'_> {
        let path = device_path(
            account.as_ref(),
            connector.as_ref(),
            &format!("jobs/{}", job.as_ref()),
        );
        self.static_mount(
            Method::PUT,
            path,
            Reply::with(200, String::new(), "text/plain"),
        )
    }

    /// `PUT /users/{account}/log/filter` (skipped items, CSV) answers
    /// `fixtures/keepit/skipped-items/<case>`.
    pub fn skipped_items(&self, account: impl AsRef<str>, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(200, "skipped-items", case);
        self.static_mount(
            Method::PUT,
            format!("/users/{}/log/filter", account.as_ref()),
            reply,
        )
    }

    /// `PUT /audit/filter/pretty` for a filter naming `account` answers the
    /// `fixtures/keepit/audit/<case>` pages by `offset`: page one at offset 0, page two at
    /// the number of records in page one, and so on. Every page but the last carries a
    /// `next-offset` header; an offset that starts no page gets an empty `<audit/>`.
    pub fn audit_pages(&self, account: impl AsRef<str>, cases: &[&str]) -> FixtureMount<'_> {
        let mut pages = Vec::new();
        let mut offset = 0usize;
        for (index, case) in cases.iter().enumerate() {
            let mut reply = self.fixture_reply(200, "audit", case);
            let records = reply.body.matches("<record>").count();
            if index + 1 < cases.len() {
                reply = reply.header("next-offset", (offset + records).to_string());
            }
            pages.push((offset, reply));
            offset += records;
        }
        let responder = FixtureResponder {
            shared: self.shared.clone(),
            kind: Kind::ByOffset(pages),
        };
        let builder = Mock::given(Route::new(Method::PUT, "/audit/filter/pretty"))
            .and(body_string_contains(account.as_ref()));
        let name = format!("PUT /audit/filter/pretty for {}", account.as_ref());
        self.mount_builder(builder, name, responder)
    }

    /// Any method and path answers `status` with `fixtures/keepit/errors/<case>`
    /// (for example `mock.error("GET", "/users/", 401, "unauthorized")`).
    ///
    /// # Panics
    ///
    /// When `method` is not a valid HTTP method or the fixture does not exist.
    pub fn error(&self, method: &str, path: &str, status: u16, case: &str) -> FixtureMount<'_> {
        let reply = self.fixture_reply(status, "errors", case);
        self.static_mount(parse_method(method), path.to_owned(), reply)
    }

    /// Any method and path answers `status` with this body and content type.
    ///
    /// # Panics
    ///
    /// When `method` is not a valid HTTP method.
    pub fn respond(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &str,
        content_type: &'static str,
    ) -> FixtureMount<'_> {
        let reply = Reply::with(status, body.to_owned(), content_type);
        self.static_mount(parse_method(method), path.to_owned(), reply)
    }

    fn sequence_mount(&self, method: Method, path: String, pages: Vec<Reply>) -> FixtureMount<'_> {
        let responder = FixtureResponder {
            shared: self.shared.clone(),
            kind: Kind::Sequence {
                pages,
                next: AtomicUsize::new(0),
            },
        };
        self.route_mount(method, path, responder)
    }
}

fn device_path(account: &str, connector: &str, rest: &str) -> String {
    format!("/users/{account}/devices/{connector}/{rest}")
}

fn parse_method(method: &str) -> Method {
    match Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
        Ok(method) => method,
        Err(error) => panic!("invalid HTTP method {method:?}: {error}"),
    }
}

/// A fixture mount that has not been mounted yet: add expectations, then `.await` it.
///
/// ```no_run
/// # async fn demo(mock: &keepit_mock::MockKeepit) {
/// mock.devices("5d67ai-hl7znb-f2ykpu", "mixed").expect(1).await;
/// # }
/// ```
#[must_use = "a fixture mount does nothing until it is awaited"]
pub struct FixtureMount<'a> {
    mock: &'a MockKeepit,
    inner: Mock,
}

impl std::fmt::Debug for FixtureMount<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureMount").finish_non_exhaustive()
    }
}

impl<'a> FixtureMount<'a> {
    /// Expects this many matching requests; checked when the mock is dropped.
    pub fn expect(mut self, times: impl Into<Times>) -> Self {
        self.inner = self.inner.expect(times);
        self
    }

    /// Answers at most `n` requests; later ones fall through to other mounts.
    pub fn up_to_n_times(mut self, n: u64) -> Self {
        self.inner = self.inner.up_to_n_times(n);
        self
    }

    /// Names the mount in wiremock's expectation reports.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.inner = self.inner.named(name);
        self
    }

    /// Mounts until the returned guard is dropped; expectations are checked then.
    pub async fn mount_as_scoped(self) -> MockGuard {
        let _mounting = self.mock.mounting.lock().await;
        let guard = self.inner.mount_as_scoped(&self.mock.server).await;
        self.mock.remount_tails().await;
        guard
    }
}

impl<'a> IntoFuture for FixtureMount<'a> {
    type Output = ();
    type IntoFuture = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let _mounting = self.mock.mounting.lock().await;
            self.inner.mount(&self.mock.server).await;
            self.mock.remount_tails().await;
        })
    }
}

/// Matches while its generation of tail mocks is the current one.
struct Tail {
    shared: Arc<Shared>,
    generation: u64,
}

impl Match for Tail {
    fn matches(&self, _request: &Request) -> bool {
        self.shared.tail_generation() == self.generation
    }
}

/// Matches one method and path, ignoring a trailing slash.
struct Route {
    method: Method,
    path: String,
}

impl Route {
    fn new(method: Method, path: &str) -> Self {
        Route {
            method,
            path: normalize_path(path).to_owned(),
        }
    }
}

fn normalize_path(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/" } else { trimmed }
}

impl Match for Route {
    fn matches(&self, request: &Request) -> bool {
        request.method == self.method && normalize_path(request.url.path()) == self.path
    }
}

struct FixtureResponder {
    shared: Arc<Shared>,
    kind: Kind,
}

enum Kind {
    Static(Reply),
    Sequence {
        pages: Vec<Reply>,
        next: AtomicUsize,
    },
    ByOffset(Vec<(usize, Reply)>),
}

impl Respond for FixtureResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.shared.finish(request, |request| match &self.kind {
            Kind::Static(reply) => reply.clone(),
            Kind::Sequence { pages, next } => {
                let index = next.fetch_add(1, Ordering::SeqCst);
                pages
                    .get(index)
                    .or_else(|| pages.last())
                    .cloned()
                    .unwrap_or_else(Reply::not_found)
            }
            Kind::ByOffset(pages) => {
                let offset = request
                    .url
                    .query_pairs()
                    .find(|(key, _)| key == "offset")
                    .and_then(|(_, value)| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                pages
                    .iter()
                    .find(|(start, _)| *start == offset)
                    .map(|(_, reply)| reply.clone())
                    .unwrap_or_else(|| Reply::xml("<audit/>\n".to_owned()))
            }
        })
    }
}

#[cfg(test)]
mod tests;
