//! The dashboard: server-rendered pages for people in a browser.
//!
//! Pages are askama templates (checked when this crate compiles and compiled into
//! it), styled by one stylesheet and made livelier by a vendored htmx: with
//! JavaScript off every page still reads and every form still posts. A page asked
//! for by htmx (`HX-Request`) answers with only the region it refreshes.
//!
//! Browsers sign in with e-mail and password and hold a session cookie; every form
//! that changes something carries the session's CSRF token. Viewers see every page
//! but the admin pages and change nothing but their own inbox; administrators run
//! keepit-watch from the admin pages (integrations, customer matching, people and
//! alert rules with their dry run).

mod admin;
mod assets;
mod pages;
mod session;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub(crate) use session::{SignInGuard, session_user_for_api};

use crate::AppState;

/// How browser sessions behave.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (set it when the server is reached over
    /// HTTPS; a request that arrives with `X-Forwarded-Proto: https` gets it anyway).
    pub cookie_secure: bool,
    /// A session unused for this long has ended.
    pub session_idle: Duration,
    /// Failed sign-ins are counted per account and per address over this window.
    pub(crate) guard: Arc<SignInGuard>,
    /// The fleet view the overview and the wallboard share between requests.
    pub(crate) snapshots: Arc<pages::SnapshotCache>,
    /// Password checks running at once (each is tens of megabytes of argon2 work).
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
}

impl WebConfig {
    /// Sessions that end after `session_idle` without a request.
    pub fn new(cookie_secure: bool, session_idle: Duration) -> WebConfig {
        WebConfig {
            cookie_secure,
            session_idle,
            guard: Arc::new(SignInGuard::default()),
            snapshots: Arc::new(pages::SnapshotCache::default()),
            hashing: Arc::new(tokio::sync::Semaphore::new(2)),
        }
    }
}

impl Default for WebConfig {
    /// Eight idle hours: a working day with a lunch break.
    fn default() -> Self {
        WebConfig::new(false, Duration::from_secs(8 * 3600))
    }
}

/// The dashboard's routes: the sign-in page and the static files are open, every
/// other page needs a session.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(pages::overview))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/{id}/acknowledge", post(pages::acknowledge))
        .route("/alerts/{id}/silence", post(pages::silence))
        .route("/jobs", get(pages::jobs))
        .route("/jobs/{guid}", get(pages::job))
        .route("/customers/{id}", get(pages::customer))
        .route("/connectors/{guid}", get(pages::connector))
        .route("/inbox", get(pages::inbox))
        .route("/inbox/{id}/read", post(pages::mark_read))
        .route("/wall", get(pages::wall))
        .route("/logout", post(pages::logout))
        .merge(admin::router(state))
        .layer(from_fn_with_state(state.clone(), session::require_session));
    Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/static/{file}", get(assets::serve))
        .merge(signed_in)
}
