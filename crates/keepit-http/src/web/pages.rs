//! The dashboard's pages: each handler gathers what its page shows and renders a
//! template. Lists reuse the API's handlers, so a page and its API route answer the
//! same question the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{AlertId, AlertState, CustomerId, JobStatus, JobType, RuleKind, Severity};
use keepit_store::{
    AlertFilter, ConnectorFilter, JobQuery, StoredConnector, StoredConnectorStatus,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::session::{self, SESSION_COOKIE, SignedIn};
use super::view::{Layout, When, size};
use crate::AppState;
use crate::auth::Caller;
use crate::dto::{JobDto, JobReportDto, TimelineEntryDto};
use crate::error::AppError;
use crate::routes;

// ---------------------------------------------------------------------------------
// Rendering and errors

/// Renders a template as a page, or a friendly error page when it cannot be.
pub(crate) fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page could not be rendered");
            problem_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. It has been logged.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    layout: Layout,
    message: String,
}

fn problem_page(status: StatusCode, message: &str) -> Response {
    let page = ProblemPage {
        layout: Layout::public(status.canonical_reason().unwrap_or("Error")),
        message: message.to_owned(),
    };
    let html = page
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>Error</title><p>{status}</p>"));
    (status, Html(html)).into_response()
}

/// A refusal with a message meant for the reader.
pub(crate) fn refusal(status: StatusCode, message: &str) -> Response {
    problem_page(status, message)
}

/// The database failed: a friendly page, nothing of the cause.
pub(crate) fn store_failure(error: &keepit_store::Error) -> Response {
    if error.is_unavailable() {
        tracing::warn!(%error, "a page could not reach the database");
        problem_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not answering right now. Try again in a minute.",
        )
    } else {
        tracing::error!(%error, "a page failed on the database");
        problem_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. It has been logged.",
        )
    }
}

/// An error from an API handler a page reused: client errors keep their (safe)
/// message, failures on our side say nothing of the cause.
fn app_failure(error: AppError) -> Response {
    let status = error.code().status();
    match error {
        AppError::Client { message, .. } => problem_page(status, &message),
        AppError::DatabaseUnavailable(error) => store_failure(&error),
        other => {
            tracing::error!(error = %other, "a page failed");
            problem_page(
                status,
                "Something went wrong on our side. It has been logged.",
            )
        }
    }
}

impl From<keepit_store::Error> for PageError {
    fn from(error: keepit_store::Error) -> Self {
        PageError::from_response(match error {
            keepit_store::Error::NotFound { .. } => problem_page(
                StatusCode::NOT_FOUND,
                "There is nothing here. It may have been removed.",
            ),
            other => store_failure(&other),
        })
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        PageError::from_response(app_failure(error))
    }
}

/// A page that could not be shown, already rendered as a response.
pub(crate) struct PageError(Box<Response>);

impl PageError {
    pub(crate) fn from_response(response: Response) -> PageError {
        PageError(Box::new(response))
    }
}

impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageError({})", self.0.status())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(crate) type Page = Result<Response, PageError>;

pub(crate) fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

pub(crate) async fn layout(
    state: &AppState,
    signed_in: &SignedIn,
    title: impl Into<String>,
    section: &'static str,
) -> Result<Layout, PageError> {
    let unread = state.store.unread_count(signed_in.0.user.id).await?;
    Ok(Layout::new(title, section, signed_in, unread))
}

pub(crate) fn caller(signed_in: &SignedIn) -> Extension<Caller> {
    Extension(Caller(signed_in.0.user.clone()))
}

// ---------------------------------------------------------------------------------
// Signing in and out

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    email: String,
    error: Option<String>,
}

/// Where to go after signing in: only a path on this site. Anything that a browser
/// could read as another host (`//host`, `/\\host`, or those with a tab or a line
/// break inside, which browsers drop) goes to the overview instead.
fn safe_next(next: Option<&str>) -> String {
    let Some(path) = next else {
        return "/".to_owned();
    };
    let plain = path.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    let base = url::Url::parse("http://keepit-watch.invalid/").ok();
    let same_host = base
        .as_ref()
        .and_then(|base| base.join(path).ok())
        .is_some_and(|joined| joined.host_str() == Some("keepit-watch.invalid"));
    if plain && path.starts_with('/') && !path.starts_with("//") && same_host {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`.
pub(crate) async fn login_form(
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    render(&LoginPage {
        layout: Layout::public("Sign in"),
        next: safe_next(query.next.as_deref()),
        email: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`: the same answer for an unknown e-mail and a wrong password.
pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Response {
    let address = session::client_address(request.extensions());
    let headers = request.headers().clone();
    if !session::same_origin(&headers) {
        // Another site's form posting our sign-in (login CSRF).
        return refusal(
            StatusCode::FORBIDDEN,
            "Sign in from keepit-watch's own sign-in page.",
        );
    }
    let form =
        <Form<LoginForm> as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await;
    let Ok(Form(form)) = form else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read.",
        );
    };
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_owned();
    let again = |status: StatusCode, message: &str| {
        let mut response = render(&LoginPage {
            layout: Layout::public("Sign in"),
            next: next.clone(),
            email: email.clone(),
            error: Some(message.to_owned()),
        });
        *response.status_mut() = status;
        response
    };
    // Counted before the password is checked, so parallel tries cannot all slip
    // under the limit; a good sign-in gives its try back.
    if !state.web.guard.try_begin(&email, &address) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins. Wait a few minutes and try again.",
        );
    }
    if email.is_empty()
        || form.password.is_empty()
        || form.password.chars().count() > keepit_store::MAX_PASSWORD_CHARS
    {
        return again(
            StatusCode::UNAUTHORIZED,
            "That e-mail and password do not match an account.",
        );
    }
    let password = SecretString::from(form.password);
    // A few password checks at a time: each takes tens of megabytes and milliseconds.
    let Ok(_permit) = state.web.hashing.acquire().await else {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing in is not possible right now.",
        );
    };
    let user = match state.store.verify_user_password(&email, &password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!(address = %address, "a sign-in failed");
            return again(
                StatusCode::UNAUTHORIZED,
                "That e-mail and password do not match an account.",
            );
        }
        Err(error) => return store_failure(&error),
    };
    state.web.guard.succeeded(&email, &address);
    // A browser that signs in again leaves its earlier session behind for good.
    if let Some(previous) = session::cookie(&headers, SESSION_COOKIE)
        && let Err(error) = state.store.end_web_session(&previous).await
    {
        return store_failure(&error);
    }
    let (_, cookie) = match state
        .store
        .create_web_session(user.id, state.clock.now())
        .await
    {
        Ok(created) => created,
        Err(error) => return store_failure(&error),
    };
    tracing::info!(user = user.id.0, "signed in");
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::session_cookie(&state, &headers, Some(cookie.expose_secret())),
    );
    response
}

/// `POST /logout`.
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(value) = session::cookie(&headers, SESSION_COOKIE)
        && let Err(error) = state.store.end_web_session(&value).await
    {
        return store_failure(&error);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::session_cookie(&state, &headers, None),
    );
    response
}

// ---------------------------------------------------------------------------------
// Overview and wallboard

/// One number of the strip at the top.
pub(crate) struct Count {
    label: &'static str,
    value: u64,
    /// `bad`, `warn`, `good` or empty.
    tone: &'static str,
    href: &'static str,
}

/// One open alert, as the lists show it.
pub(crate) struct AlertRow {
    id: i64,
    customer_id: Option<i64>,
    customer: String,
    connector_guid: String,
    connector: String,
    kind: String,
    rule: String,
    /// `firing`, `pending`, `acknowledged`, `silenced` or `resolved`.
    state: &'static str,
    severity: &'static str,
    reason_title: Option<String>,
    resolution: Option<String>,
    last_success: Option<When>,
    opened: When,
    resolved: Option<When>,
    acknowledged: Option<String>,
    acknowledged_at: Option<When>,
    silenced_until: Option<When>,
}

/// One connector cell of the customer x connector matrix. Healthy cells are bare
/// squares (a fleet of thousands must fit in a page); a cell with a problem links to
/// its connector and names it on hover.
pub(crate) struct Cell {
    guid: String,
    title: String,
    tone: &'static str,
}

impl Cell {
    fn problem(&self) -> bool {
        matches!(self.tone, "firing" | "pending" | "acknowledged")
    }
}

/// One customer's row of the matrix.
pub(crate) struct MatrixRow {
    customer_id: Option<i64>,
    customer: String,
    cells: Vec<Cell>,
    problems: usize,
}

/// What the overview refreshes every 30 seconds.
pub(crate) struct Live {
    counts: Vec<Count>,
    last_sync: Option<When>,
    last_outcome: Option<String>,
    /// The first open alerts, most severe then oldest first.
    alerts: Vec<AlertRow>,
    /// How many are open in all (the rest are on the alerts page).
    open_total: usize,
    problem_rows: Vec<MatrixRow>,
    healthy_rows: Vec<MatrixRow>,
    can_act: bool,
    csrf: String,
}

/// The part of the fleet view that changes only when a sync or a person changes
/// something: customers, connectors with their statuses and which are watched, the
/// open alerts, alert rules and users (for names).
/// Reading it is most of a page's time on a large fleet (thousands of rows), so it
/// is kept between requests and read again only when [`Store::fleet_version`]
/// changes (or after a minute, whatever happens).
///
/// [`Store::fleet_version`]: keepit_store::Store::fleet_version
pub(crate) struct Snapshot {
    pub(crate) open_alerts: Arc<Vec<keepit_domain::Alert>>,
    pub(crate) rules: HashMap<i64, (String, RuleKind)>,
    users: HashMap<i64, String>,
    pub(crate) customers: BTreeMap<i64, String>,
    pub(crate) connectors: Vec<(StoredConnector, Option<StoredConnectorStatus>)>,
    pub(crate) watched: HashSet<String>,
    /// Connector names and kinds by GUID.
    names: HashMap<String, (String, String)>,
}

impl Snapshot {
    async fn load(store: &keepit_store::Store) -> Result<Snapshot, keepit_store::Error> {
        let customers = store
            .customers()
            .await?
            .into_iter()
            .map(|customer| (customer.id.0, customer.name))
            .collect();
        let connectors = store
            .connectors_with_status(&ConnectorFilter::default())
            .await?;
        // Watched as the store's `watched_only` filter decides it (still in Keepit, of
        // an account still in the tree, of an enabled integration), worked out here
        // from the two small tables rather than by reading every connector twice.
        let enabled: HashSet<i64> = store
            .integrations()
            .await?
            .into_iter()
            .filter(|integration| integration.enabled)
            .map(|integration| integration.id.0)
            .collect();
        let live_accounts: HashSet<String> = store
            .keepit_accounts(None)
            .await?
            .into_iter()
            .filter(|account| {
                account.removed_at.is_none() && enabled.contains(&account.integration.0)
            })
            .map(|account| account.account.to_string())
            .collect();
        let watched = connectors
            .iter()
            .filter(|(connector, _)| {
                connector.removed_at.is_none()
                    && live_accounts.contains(connector.record.account.as_str())
            })
            .map(|(connector, _)| connector.record.connector.to_string())
            .collect();
        let names = connectors
            .iter()
            .map(|(connector, _)| {
                (
                    connector.record.connector.to_string(),
                    (
                        connector.record.name.clone(),
                        connector.record.kind.display_name(),
                    ),
                )
            })
            .collect();
        let rules = store
            .alert_rules()
            .await?
            .into_iter()
            .map(|rule| {
                (
                    rule.rule.id.0,
                    (rule.rule.spec.name.clone(), rule.rule.spec.kind),
                )
            })
            .collect();
        let users = store
            .users()
            .await?
            .into_iter()
            .map(|user| (user.id.0, user.name))
            .collect();
        let open_alerts = Arc::new(store.alerts(&AlertFilter::default()).await?);
        Ok(Snapshot {
            open_alerts,
            rules,
            users,
            customers,
            connectors,
            watched,
            names,
        })
    }
}

/// The last [`Snapshot`], with the fingerprint it was read at.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    slot: tokio::sync::Mutex<
        Option<(
            keepit_store::FleetVersion,
            std::time::Instant,
            Arc<Snapshot>,
        )>,
    >,
}

impl std::fmt::Debug for SnapshotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCache")
    }
}

impl SnapshotCache {
    /// Longest a snapshot is used, even when the fingerprint did not change.
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

    pub(crate) async fn get(
        &self,
        store: &keepit_store::Store,
    ) -> Result<Arc<Snapshot>, keepit_store::Error> {
        // One reader at a time: requests that arrive while it loads wait for it
        // rather than each reading the whole fleet, then find it fresh.
        let mut slot = self.slot.lock().await;
        let version = store.fleet_version().await?;
        if let Some((seen, at, snapshot)) = slot.as_ref()
            && *seen == version
            && at.elapsed() < Self::MAX_AGE
        {
            return Ok(Arc::clone(snapshot));
        }
        let snapshot = Arc::new(Snapshot::load(store).await?);
        *slot = Some((version, std::time::Instant::now(), Arc::clone(&snapshot)));
        Ok(snapshot)
    }
}

/// Everything the overview and the wallboard read.
struct Fleet {
    now: DateTime<Utc>,
    snapshot: Arc<Snapshot>,
    /// The open alerts (from the snapshot).
    alerts: Arc<Vec<keepit_domain::Alert>>,
    last_run: Option<keepit_store::SyncRunRecord>,
}

impl Fleet {
    async fn load(state: &AppState) -> Result<Fleet, keepit_store::Error> {
        let store = &state.store;
        let snapshot = state.web.snapshots.get(store).await?;
        let alerts = Arc::clone(&snapshot.open_alerts);
        let last_run = store.sync_runs(1).await?.into_iter().next();
        Ok(Fleet {
            now: state.clock.now(),
            snapshot,
            alerts,
            last_run,
        })
    }

    fn customer_name(&self, id: Option<CustomerId>) -> String {
        id.and_then(|id| self.snapshot.customers.get(&id.0).cloned())
            .unwrap_or_else(|| "(no customer)".to_owned())
    }

    fn alert_row(
        &self,
        alert: &keepit_domain::Alert,
        names: &HashMap<String, (String, String)>,
    ) -> AlertRow {
        let now = self.now;
        let (connector, kind) = names
            .get(alert.connector.as_str())
            .cloned()
            .unwrap_or_else(|| (alert.connector.to_string(), String::new()));
        let entry = alert.reason.as_ref().and_then(|reason| {
            reason.entry(keepit_domain::FailureReason::scope_of(
                keepit_domain::JobFamily::Backup,
            ))
        });
        let state = if !alert.state.is_open() {
            "resolved"
        } else if alert.silenced(now) {
            "silenced"
        } else if alert.acknowledged_at.is_some() {
            "acknowledged"
        } else {
            alert.state.as_str()
        };
        AlertRow {
            id: alert.id.0,
            customer_id: alert.customer.map(|c| c.0),
            customer: self.customer_name(alert.customer),
            connector_guid: alert.connector.to_string(),
            connector,
            kind,
            rule: self.snapshot.rules.get(&alert.rule.0).map_or_else(
                || format!("rule {}", alert.rule.0),
                |(name, _)| name.clone(),
            ),
            state,
            severity: alert.severity.as_str(),
            reason_title: entry.map(|entry| entry.title.to_owned()).or_else(|| {
                alert
                    .reason
                    .as_ref()
                    .map(|reason| format!("Keepit reported: {}", crate::dto::reason_code(reason)))
            }),
            resolution: entry.map(|entry| entry.resolution.to_owned()),
            last_success: When::maybe(alert.last_success_at, now),
            opened: When::new(alert.opened_at, now),
            resolved: When::maybe(alert.resolved_at, now),
            acknowledged: alert.acknowledged_by.map(|user| {
                self.snapshot
                    .users
                    .get(&user.0)
                    .cloned()
                    .unwrap_or_else(|| format!("user {}", user.0))
            }),
            acknowledged_at: When::maybe(alert.acknowledged_at, now),
            silenced_until: alert
                .silenced_until
                .filter(|until| *until > now)
                .map(|until| When::new(until, now)),
        }
    }

    /// Connector names and kinds by GUID.
    fn names(&self) -> &HashMap<String, (String, String)> {
        &self.snapshot.names
    }

    /// How many alerts are open, and `count` of them from `skip` on: most severe
    /// first, then oldest first.
    fn open_rows(&self, skip: usize, count: usize) -> (usize, Vec<AlertRow>) {
        let names = self.names();
        let mut open: Vec<&keepit_domain::Alert> = self
            .alerts
            .iter()
            .filter(|alert| alert.state.is_open())
            .collect();
        open.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.state.cmp(&a.state))
                .then(a.opened_at.cmp(&b.opened_at))
                .then(a.id.0.cmp(&b.id.0))
        });
        let total = open.len();
        let rows = open
            .into_iter()
            .skip(skip)
            .take(count)
            .map(|alert| self.alert_row(alert, names))
            .collect();
        (total, rows)
    }

    fn counts(&self) -> Vec<Count> {
        let now = self.now;
        let open: Vec<&keepit_domain::Alert> = self
            .alerts
            .iter()
            .filter(|alert| alert.state.is_open())
            .collect();
        let quiet =
            |alert: &&keepit_domain::Alert| alert.acknowledged_at.is_some() || alert.silenced(now);
        let firing = open
            .iter()
            .filter(|a| a.state == AlertState::Firing && !quiet(a))
            .count();
        let pending = open
            .iter()
            .filter(|a| a.state == AlertState::Pending && !quiet(a))
            .count();
        let acknowledged = open.iter().filter(|a| quiet(a)).count();
        let of_kind = |kind: RuleKind| {
            open.iter()
                .filter(|a| {
                    self.snapshot
                        .rules
                        .get(&a.rule.0)
                        .is_some_and(|(_, k)| *k == kind)
                })
                .map(|a| a.connector.as_str())
                .collect::<HashSet<_>>()
                .len()
        };
        let (stale, failed) = (
            of_kind(RuleKind::BackupStale),
            of_kind(RuleKind::BackupFailed),
        );
        let present = self
            .snapshot
            .connectors
            .iter()
            .filter(|(connector, _)| connector.removed_at.is_none())
            .count();
        let unwatched = self
            .snapshot
            .connectors
            .iter()
            .filter(|(connector, _)| {
                connector.removed_at.is_none()
                    && !self
                        .snapshot
                        .watched
                        .contains(connector.record.connector.as_str())
            })
            .count();
        let tone = |value: usize, bad: &'static str| if value == 0 { "good" } else { bad };
        vec![
            Count {
                label: "customers",
                value: self.snapshot.customers.len() as u64,
                tone: "",
                href: "#matrix",
            },
            Count {
                label: "connectors",
                value: present as u64,
                tone: "",
                href: "#matrix",
            },
            Count {
                label: "firing",
                value: firing as u64,
                tone: tone(firing, "bad"),
                href: "/alerts",
            },
            Count {
                label: "pending",
                value: pending as u64,
                tone: tone(pending, "warn"),
                href: "/alerts",
            },
            Count {
                label: "acknowledged",
                value: acknowledged as u64,
                tone: "",
                href: "/alerts",
            },
            Count {
                label: "stale",
                value: stale as u64,
                tone: tone(stale, "bad"),
                href: "/alerts",
            },
            Count {
                label: "failed",
                value: failed as u64,
                tone: tone(failed, "bad"),
                href: "/alerts",
            },
            Count {
                label: "not watched",
                value: unwatched as u64,
                tone: if unwatched == 0 { "" } else { "warn" },
                href: "#matrix",
            },
        ]
    }

    fn matrix(&self) -> (Vec<MatrixRow>, Vec<MatrixRow>) {
        // The worst open alert of each connector decides its cell.
        let mut worst: HashMap<&str, (AlertState, bool, Severity)> = HashMap::new();
        for alert in self.alerts.iter().filter(|a| a.state.is_open()) {
            let quiet = alert.acknowledged_at.is_some() || alert.silenced(self.now);
            let entry = worst.entry(alert.connector.as_str()).or_insert((
                alert.state,
                quiet,
                alert.severity,
            ));
            if (alert.state, !quiet) > (entry.0, !entry.1) {
                *entry = (alert.state, quiet, alert.severity);
            }
        }
        let mut rows: BTreeMap<(String, Option<i64>), Vec<Cell>> = BTreeMap::new();
        for (connector, _) in self
            .snapshot
            .connectors
            .iter()
            .filter(|(c, _)| c.removed_at.is_none())
        {
            let guid = connector.record.connector.as_str();
            let (tone, word) = match worst.get(guid) {
                Some((_, true, _)) => ("acknowledged", "acknowledged"),
                Some((AlertState::Firing, _, _)) => ("firing", "firing"),
                Some(_) => ("pending", "pending"),
                None if !self.snapshot.watched.contains(guid) => ("unwatched", "not watched"),
                None => ("ok", "healthy"),
            };
            rows.entry((
                self.customer_name(connector.customer).to_lowercase(),
                connector.customer.map(|c| c.0),
            ))
            .or_default()
            .push(Cell {
                guid: guid.to_owned(),
                title: format!(
                    "{} ({}): {word}",
                    connector.record.name,
                    connector.record.kind.display_name()
                ),
                tone,
            });
        }
        let (mut problems, mut healthy) = (Vec::new(), Vec::new());
        for ((_, customer_id), cells) in rows {
            let count = cells
                .iter()
                .filter(|cell| matches!(cell.tone, "firing" | "pending" | "acknowledged"))
                .count();
            let row = MatrixRow {
                customer_id,
                customer: self.customer_name(customer_id.map(CustomerId)),
                cells,
                problems: count,
            };
            if count == 0 {
                healthy.push(row);
            } else {
                problems.push(row);
            }
        }
        problems.sort_by(|a, b| {
            b.problems
                .cmp(&a.problems)
                .then(a.customer.cmp(&b.customer))
        });
        (problems, healthy)
    }

    fn live(&self, layout: &Layout, shown: usize) -> Live {
        let (problem_rows, healthy_rows) = self.matrix();
        let (open_total, alerts) = self.open_rows(0, shown);
        Live {
            counts: self.counts(),
            last_sync: self
                .last_run
                .as_ref()
                .map(|run| When::new(run.finished_at.unwrap_or(run.started_at), self.now)),
            last_outcome: self
                .last_run
                .as_ref()
                .map(|run| run.summary.outcome.as_str().to_owned()),
            open_total,
            alerts,
            problem_rows,
            healthy_rows,
            can_act: layout.can_act(),
            csrf: layout.csrf.clone(),
        }
    }
}

/// Open alerts the overview lists; the alerts page pages through the rest.
const OVERVIEW_ALERTS: usize = 50;
/// Firing alerts the wallboard shows (a screen across the room holds no more).
const WALL_ALERTS: usize = 30;
/// Open alerts per page of the alerts page.
const ALERTS_PAGE: usize = 50;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    live: Live,
}

#[derive(Template)]
#[template(path = "overview_live.html")]
struct OverviewLive {
    live: Live,
}

/// `GET /`: problems first.
pub(crate) async fn overview(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    headers: HeaderMap,
) -> Page {
    let layout = layout(&state, &signed_in, "Overview", "overview").await?;
    let fleet = Fleet::load(&state).await?;
    let live = fleet.live(&layout, OVERVIEW_ALERTS);
    Ok(if is_htmx(&headers) {
        render(&OverviewLive { live })
    } else {
        render(&OverviewPage { layout, live })
    })
}

#[derive(Template)]
#[template(path = "wall.html")]
struct WallPage {
    layout: Layout,
    live: Live,
}

#[derive(Template)]
#[template(path = "wall_live.html")]
struct WallLive {
    live: Live,
}

/// `GET /wall`: the NOC screen.
pub(crate) async fn wall(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    headers: HeaderMap,
) -> Page {
    let mut layout = layout(&state, &signed_in, "Wallboard", "wall").await?;
    let fleet = Fleet::load(&state).await?;
    let mut live = fleet.live(&layout, usize::MAX);
    // The wall shows what pages people, nothing else.
    live.alerts.retain(|alert| alert.state == "firing");
    live.alerts.truncate(WALL_ALERTS);
    live.can_act = false;
    layout.csrf.clear();
    Ok(if is_htmx(&headers) {
        render(&WallLive { live })
    } else {
        render(&WallPage { layout, live })
    })
}

// ---------------------------------------------------------------------------------
// Alerts

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    open: Vec<AlertRow>,
    open_total: usize,
    first: usize,
    previous: Option<String>,
    next: Option<String>,
    resolved: Vec<AlertRow>,
    notice: Option<String>,
}

pub(crate) struct AlertsQuery {
    done: Option<String>,
    page: Option<String>,
}

/// `GET /alerts`: open ones, and those resolved in the last seven days.
pub(crate) async fn alerts(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    // Read leniently: an unknown parameter or a bad page number shows the first page.
    let query: AlertsQuery = alerts_query(raw.as_deref());
    let page = query
        .page
        .as_deref()
        .and_then(|text| text.parse::<usize>().ok())
        .filter(|page| (1..=10_000).contains(page))
        .unwrap_or(1);
    let layout = layout(&state, &signed_in, "Alerts", "alerts").await?;
    let fleet = Fleet::load(&state).await?;
    let names = fleet.names();
    let week_ago = fleet.now - TimeDelta::days(7);
    let recent = state
        .store
        .alerts(&AlertFilter {
            include_resolved: true,
            resolved_since: Some(week_ago),
            ..AlertFilter::default()
        })
        .await?;
    let mut resolved: Vec<&keepit_domain::Alert> = recent
        .iter()
        .filter(|alert| alert.resolved_at.is_some_and(|at| at >= week_ago))
        .collect();
    resolved.sort_by_key(|alert| std::cmp::Reverse(alert.resolved_at));
    resolved.truncate(50);
    let notice = match query.done.as_deref() {
        Some("acknowledged") => Some("The alert is acknowledged.".to_owned()),
        Some("silenced") => Some("The alert is silenced.".to_owned()),
        Some("unsilenced") => Some("The silence is lifted.".to_owned()),
        _ => None,
    };
    let skip = (page - 1) * ALERTS_PAGE;
    let (open_total, open) = fleet.open_rows(skip, ALERTS_PAGE);
    Ok(render(&AlertsPage {
        open,
        open_total,
        first: skip + 1,
        previous: (page > 1).then(|| format!("/alerts?page={}", page - 1)),
        next: (skip + ALERTS_PAGE < open_total).then(|| format!("/alerts?page={}", page + 1)),
        resolved: resolved
            .into_iter()
            .map(|alert| fleet.alert_row(alert, names))
            .collect(),
        layout,
        notice,
    }))
}

#[derive(Deserialize)]
pub(crate) struct AcknowledgeForm {
    /// Optional: hours of quiet after the acknowledgement (no reminders).
    #[serde(default)]
    quiet_hours: String,
}

/// The alerts page's parameters; anything unreadable is left out.
fn alerts_query(raw: Option<&str>) -> AlertsQuery {
    let pairs = crate::query::pairs(raw);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    AlertsQuery {
        done: get("done"),
        page: get("page"),
    }
}

fn alert_id(text: &str) -> Result<AlertId, PageError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(AlertId)
        .ok_or_else(|| {
            PageError::from_response(refusal(StatusCode::NOT_FOUND, "There is no such alert."))
        })
}

fn hours(text: &str, field: &str) -> Result<Option<i64>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(hours) if (1..=24 * 90).contains(&hours) => Ok(Some(hours)),
        _ => Err(PageError::from_response(refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{field} must be a whole number of hours from 1 to 2160."),
        ))),
    }
}

/// `POST /alerts/{id}/acknowledge`, with an optional quiet period.
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<AcknowledgeForm>,
) -> Page {
    let id = alert_id(&id)?;
    let quiet = hours(&form.quiet_hours, "The quiet period")?;
    let now = state.clock.now();
    let user = signed_in.0.user.id;
    state.store.acknowledge_alert(id, user, now).await?;
    if let Some(hours) = quiet {
        state
            .store
            .silence_alert(id, Some(now + TimeDelta::hours(hours)), Some(user), now)
            .await?;
    }
    Ok(Redirect::to("/alerts?done=acknowledged").into_response())
}

#[derive(Deserialize)]
pub(crate) struct SilenceForm {
    /// Hours of silence; empty lifts the silence.
    #[serde(default)]
    hours: String,
}

/// `POST /alerts/{id}/silence`: silence for some hours, or lift a silence.
pub(crate) async fn silence(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<SilenceForm>,
) -> Page {
    let id = alert_id(&id)?;
    let now = state.clock.now();
    let until = hours(&form.hours, "The silence")?.map(|hours| now + TimeDelta::hours(hours));
    state
        .store
        .silence_alert(id, until, Some(signed_in.0.user.id), now)
        .await?;
    let done = if until.is_some() {
        "silenced"
    } else {
        "unsilenced"
    };
    Ok(Redirect::to(&format!("/alerts?done={done}")).into_response())
}

// ---------------------------------------------------------------------------------
// Job Monitor and job report

/// A job row of the Job Monitor.
pub(crate) struct JobRow {
    job: JobDto,
    when: Option<When>,
}

/// One choice of a select or checkbox group.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    layout: Layout,
    customers: Vec<Choice>,
    connectors: Vec<Choice>,
    statuses: Vec<Choice>,
    types: Vec<Choice>,
    spans: Vec<Choice>,
    from: String,
    to: String,
    text: String,
    rows: Vec<JobRow>,
    next: Option<String>,
    csv: String,
    error: Option<String>,
}

/// The form's query string made into the API's: empty fields dropped, and the
/// browser's `datetime-local` values read as UTC.
fn api_query(raw: Option<&str>) -> Vec<(String, String)> {
    crate::query::pairs(raw)
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| {
            let value = if (key == "from" || key == "to")
                && value.len() == 16
                && value.as_bytes()[10] == b'T'
            {
                format!("{value}:00Z")
            } else {
                value
            };
            (key, value)
        })
        .collect()
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// `GET /jobs`: the Job Monitor; its query string is the API's.
pub(crate) async fn jobs(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    let layout = layout(&state, &signed_in, "Job Monitor", "jobs").await?;
    let now = state.clock.now();
    let pairs = api_query(raw.as_deref());
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let chosen: HashSet<(String, String)> = pairs.iter().cloned().collect();
    let is = |name: &str, value: &str| chosen.contains(&(name.to_owned(), value.to_owned()));
    let answer =
        routes::jobs::list_jobs(State(state.clone()), RawQuery(Some(encode(&pairs)))).await;
    let (rows, next, error) = match answer {
        Ok(Json(page)) => {
            let next = page.next_cursor.map(|cursor| {
                let mut next: Vec<(String, String)> = pairs
                    .iter()
                    .filter(|(key, _)| key != "cursor")
                    .cloned()
                    .collect();
                next.push(("cursor".to_owned(), cursor));
                format!("/jobs?{}", encode(&next))
            });
            let rows = page
                .jobs
                .into_iter()
                .map(|job| JobRow {
                    when: When::parse(Some(&job.sort_time), now),
                    job,
                })
                .collect();
            (rows, next, None)
        }
        Err(AppError::Client { message, .. }) => (Vec::new(), None, Some(message)),
        Err(other) => return Err(other.into()),
    };
    // The choices come from the fleet snapshot the overview keeps: no read of every
    // connector per search.
    let snapshot = state.web.snapshots.get(&state.store).await?;
    let mut customers: Vec<Choice> = snapshot
        .customers
        .iter()
        .map(|(id, name)| Choice {
            selected: is("customer", &id.to_string()),
            value: id.to_string(),
            label: name.clone(),
        })
        .collect();
    customers.sort_by_key(|choice| choice.label.to_lowercase());
    let mut connectors: Vec<Choice> = snapshot
        .names
        .iter()
        .map(|(guid, (name, kind))| Choice {
            selected: is("connector", guid),
            value: guid.clone(),
            label: format!("{name} ({kind})"),
        })
        .collect();
    connectors.sort_by_key(|choice| choice.label.to_lowercase());
    let statuses = JobStatus::ALL
        .iter()
        .map(|status| Choice {
            value: status.as_str().to_owned(),
            label: status.as_str().replace('_', " "),
            selected: is("status", status.as_str()),
        })
        .collect();
    let types = JobType::known()
        .map(|job_type| Choice {
            value: job_type.as_str().to_owned(),
            label: job_type.display_name().to_owned(),
            selected: is("type", job_type.as_str()),
        })
        .collect();
    let spans = [
        ("", "any time"),
        ("24h", "last 24 hours"),
        ("7d", "last 7 days"),
        ("14d", "last 14 days"),
        ("30d", "last 30 days"),
    ]
    .iter()
    .map(|(code, label)| Choice {
        value: (*code).to_owned(),
        label: (*label).to_owned(),
        selected: value("span") == *code,
    })
    .collect();
    let csv_pairs: Vec<(String, String)> = pairs
        .iter()
        .filter(|(key, _)| key != "cursor")
        .cloned()
        .collect();
    Ok(render(&JobsPage {
        layout,
        customers,
        connectors,
        statuses,
        types,
        spans,
        from: value("from").trim_end_matches(":00Z").to_owned(),
        to: value("to").trim_end_matches(":00Z").to_owned(),
        text: value("q"),
        rows,
        next,
        csv: format!("/api/v1/jobs.csv?{}", encode(&csv_pairs)),
        error,
    }))
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    report: JobReportDto,
    started: Option<When>,
    ended: Option<When>,
    statistics: Vec<(String, String, String)>,
    skipped_note: String,
}

/// `GET /jobs/{guid}`: the job report.
pub(crate) async fn job(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(guid): Path<String>,
) -> Page {
    let Json(report) = routes::jobs::job_report(State(state.clone()), Path(guid)).await?;
    let now = state.clock.now();
    let layout = layout(
        &state,
        &signed_in,
        format!(
            "Job {}",
            report
                .job
                .connector_name
                .clone()
                .unwrap_or_else(|| report.job.job_guid.clone())
        ),
        "jobs",
    )
    .await?;
    let mut statistics = Vec::new();
    if let Some(stats) = &report.job.statistics {
        for (label, volume) in [
            ("Added", stats.added.as_ref()),
            ("Removed", stats.removed.as_ref()),
            ("Restored", stats.restored.as_ref()),
            ("Overwritten", stats.overwritten.as_ref()),
            ("Skipped", Some(&stats.skipped)),
        ] {
            if let Some(volume) = volume {
                statistics.push((
                    label.to_owned(),
                    volume.count.to_string(),
                    size(volume.bytes),
                ));
            }
        }
    }
    let skipped_note = if report.skipped_items_available {
        String::new()
    } else if report.job.active {
        "The list of skipped items can be fetched once the job has ended.".to_owned()
    } else {
        "Keepit keeps the list of skipped items for one month after a job ends; this job is older."
            .to_owned()
    };
    Ok(render(&JobPage {
        started: When::parse(
            report
                .job
                .started_at
                .as_deref()
                .or(report.job.scheduled_at.as_deref()),
            now,
        ),
        ended: When::parse(report.job.ended_at.as_deref(), now),
        layout,
        statistics,
        skipped_note,
        report,
    }))
}

// ---------------------------------------------------------------------------------
// Customer and connector

/// A connector row of the customer page, with its 30-day strip.
pub(crate) struct ConnectorRow {
    guid: String,
    name: String,
    kind: String,
    health: String,
    last_success: Option<When>,
    last_status: Option<String>,
    /// Oldest day first: `ok`, `failed`, `mixed` or empty (no backup that day).
    days: Vec<(&'static str, String)>,
}

/// A timeline entry as the pages show it.
pub(crate) struct TimelineRow {
    when: Option<When>,
    entry: TimelineEntryDto,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    layout: Layout,
    external_id: Option<String>,
    connectors: Vec<ConnectorRow>,
    alerts: Vec<AlertRow>,
    timeline: Vec<TimelineRow>,
    can_act: bool,
    csrf: String,
}

/// `GET /customers/{id}`.
pub(crate) async fn customer(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0).map(CustomerId) else {
        return Err(PageError::from_response(refusal(
            StatusCode::NOT_FOUND,
            "There is no such customer.",
        )));
    };
    let customer = state.store.customer(id).await?;
    let layout = layout(&state, &signed_in, customer.name.clone(), "overview").await?;
    let now = state.clock.now();
    let connectors = state
        .store
        .connectors_with_status(&ConnectorFilter {
            customer: Some(id),
            ..ConnectorFilter::default()
        })
        .await?;
    // 30 days of backup outcomes, one page of the store's largest.
    let since = now - TimeDelta::days(30);
    let jobs = state
        .store
        .jobs(&JobQuery {
            customer: Some(id),
            types: vec![JobType::Backup],
            from: Some(since),
            limit: Some(JobQuery::MAX_LIMIT),
            ..JobQuery::default()
        })
        .await?;
    let mut outcomes: HashMap<(String, i64), (bool, bool)> = HashMap::new();
    for job in &jobs.jobs {
        let day = (job.sort_time - since).num_days();
        let entry = outcomes
            .entry((job.record.connector.to_string(), day))
            .or_insert((false, false));
        match job.record.status {
            JobStatus::Successful => entry.0 = true,
            JobStatus::Unsuccessful | JobStatus::Incomplete | JobStatus::Cancelled => {
                entry.1 = true;
            }
            _ => {}
        }
    }
    let rows = connectors
        .iter()
        .filter(|(connector, _)| connector.removed_at.is_none())
        .map(|(connector, status)| {
            let guid = connector.record.connector.to_string();
            let days = (0..30)
                .map(|day| {
                    let date = (since + TimeDelta::days(day))
                        .format("%Y-%m-%d")
                        .to_string();
                    match outcomes.get(&(guid.clone(), day)) {
                        Some((true, false)) => ("ok", format!("{date}: backed up")),
                        Some((false, true)) => ("failed", format!("{date}: failed")),
                        Some((true, true)) => ("mixed", format!("{date}: some failed")),
                        _ => ("", format!("{date}: no backup")),
                    }
                })
                .collect();
            ConnectorRow {
                name: connector.record.name.clone(),
                kind: connector.record.kind.display_name(),
                health: status.as_ref().map_or_else(
                    || "unknown".to_owned(),
                    |s| s.status.health.as_str().to_owned(),
                ),
                last_success: status
                    .as_ref()
                    .and_then(|s| When::maybe(s.status.last_successful_backup_at, now)),
                last_status: status
                    .as_ref()
                    .and_then(|s| s.status.last_job_status.map(|j| j.as_str().to_owned())),
                days,
                guid,
            }
        })
        .collect();
    let fleet = Fleet::load(&state).await?;
    let names = fleet.names();
    let alerts = fleet
        .alerts
        .iter()
        .filter(|alert| alert.customer == Some(id))
        .map(|alert| fleet.alert_row(alert, names))
        .collect();
    let Json(timeline) = routes::customers::customer_timeline(
        State(state.clone()),
        Path(id.0.to_string()),
        RawQuery(Some("limit=50".to_owned())),
    )
    .await?;
    Ok(render(&CustomerPage {
        can_act: layout.can_act(),
        csrf: layout.csrf.clone(),
        layout,
        external_id: customer.external_id,
        connectors: rows,
        alerts,
        timeline: timeline
            .entries
            .into_iter()
            .map(|entry| TimelineRow {
                when: When::parse(Some(&entry.time), now),
                entry,
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "connector.html")]
struct ConnectorPage {
    layout: Layout,
    customer_id: Option<i64>,
    customer: String,
    kind: String,
    removed: bool,
    watched: bool,
    status: Option<crate::dto::ConnectorStatusDto>,
    last_success: Option<When>,
    snapshot: Option<When>,
    error_code: Option<String>,
    reason_title: Option<String>,
    reason_resolution: Option<String>,
    history: Vec<AlertRow>,
    jobs: Vec<JobRow>,
    more_jobs: String,
}

/// `GET /connectors/{guid}`.
pub(crate) async fn connector(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(guid): Path<String>,
) -> Page {
    let Ok(id) = keepit_domain::ConnectorId::new(&guid) else {
        return Err(PageError::from_response(refusal(
            StatusCode::NOT_FOUND,
            "There is no such connector.",
        )));
    };
    let Some(stored) = state.store.connector(&id).await? else {
        return Err(PageError::from_response(refusal(
            StatusCode::NOT_FOUND,
            "There is no such connector.",
        )));
    };
    let now = state.clock.now();
    let status = state.store.connector_status(&id).await?;
    let dto = crate::dto::ConnectorDto::new(&stored, status.as_ref());
    let layout = layout(&state, &signed_in, stored.record.name.clone(), "overview").await?;
    let fleet = Fleet::load(&state).await?;
    let names = fleet.names();
    let every = state
        .store
        .alerts(&AlertFilter {
            connector: Some(id.clone()),
            include_resolved: true,
            ..AlertFilter::default()
        })
        .await?;
    let mut history: Vec<&keepit_domain::Alert> = every.iter().collect();
    history.sort_by_key(|alert| std::cmp::Reverse(alert.opened_at));
    history.truncate(50);
    let reason = status
        .as_ref()
        .and_then(|s| s.status.failure_reason.clone());
    let entry = reason.as_ref().and_then(|reason| {
        reason.entry(keepit_domain::FailureReason::scope_of(
            keepit_domain::JobFamily::Backup,
        ))
    });
    let Json(page) = routes::jobs::list_jobs(
        State(state.clone()),
        RawQuery(Some(format!("connector={}&limit=25", id.as_str()))),
    )
    .await?;
    Ok(render(&ConnectorPage {
        customer_id: stored.customer.map(|c| c.0),
        customer: fleet.customer_name(stored.customer),
        kind: dto.kind_name.clone(),
        removed: stored.removed_at.is_some(),
        watched: fleet.snapshot.watched.contains(id.as_str()),
        last_success: status
            .as_ref()
            .and_then(|s| When::maybe(s.status.last_successful_backup_at, now)),
        snapshot: status
            .as_ref()
            .and_then(|s| When::maybe(s.status.latest_snapshot_at, now)),
        error_code: status.as_ref().and_then(|s| {
            s.status
                .error_code
                .as_ref()
                .map(|code| code.as_str().to_owned())
        }),
        reason_title: entry.map(|e| e.title.to_owned()).or_else(|| {
            reason
                .as_ref()
                .map(|r| format!("Keepit reported: {}", crate::dto::reason_code(r)))
        }),
        reason_resolution: entry.map(|e| e.resolution.to_owned()),
        status: dto.status,
        history: history
            .into_iter()
            .map(|alert| fleet.alert_row(alert, names))
            .collect(),
        jobs: page
            .jobs
            .into_iter()
            .map(|job| JobRow {
                when: When::parse(Some(&job.sort_time), now),
                job,
            })
            .collect(),
        more_jobs: format!("/jobs?connector={}", id.as_str()),
        layout,
    }))
}

// ---------------------------------------------------------------------------------
// Inbox

/// A message of the inbox.
pub(crate) struct MessageRow {
    id: i64,
    kind: String,
    subject: String,
    body: String,
    when: Option<When>,
    read: bool,
    customer_id: Option<i64>,
    connector_guid: Option<String>,
    job_guid: Option<String>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    messages: Vec<MessageRow>,
}

/// `GET /inbox`: the user's messages, unread first.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
) -> Page {
    let Json(inbox) = routes::messages::list_messages(
        State(state.clone()),
        caller(&signed_in),
        RawQuery(Some("limit=200".to_owned())),
    )
    .await?;
    let now = state.clock.now();
    let layout = layout(&state, &signed_in, "Inbox", "inbox").await?;
    let mut messages: Vec<MessageRow> = inbox
        .messages
        .into_iter()
        .map(|message| MessageRow {
            when: When::parse(Some(&message.created_at), now),
            read: message.read_at.is_some(),
            id: message.id,
            kind: message.kind.replace('_', " "),
            subject: message.subject,
            body: message.body,
            customer_id: message.customer_id,
            connector_guid: message.connector_guid,
            job_guid: message.job_guid,
        })
        .collect();
    // Unread first; newest first within each (the list arrives newest first).
    messages.sort_by_key(|message| message.read);
    Ok(render(&InboxPage { layout, messages }))
}

/// `POST /inbox/{id}/read`.
pub(crate) async fn mark_read(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    routes::messages::mark_read(State(state.clone()), caller(&signed_in), Path(id)).await?;
    Ok(Redirect::to("/inbox").into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_sign_in_only_paths_of_this_site() {
        for kept in ["/", "/jobs?status=unsuccessful&span=7d", "/customers/3"] {
            assert_eq!(safe_next(Some(kept)), kept);
        }
        for refused in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil.example",
            "/ /x",
            "",
        ] {
            assert_eq!(safe_next(Some(refused)), "/", "{refused:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
