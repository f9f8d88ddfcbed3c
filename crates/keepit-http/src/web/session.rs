//! Sessions of signed-in browsers: the cookie, the CSRF check and the sign-in guard.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use keepit_store::{Role, UserRecord, WebSession};

use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "kw_session";

/// Largest form body read to find the CSRF token (the dashboard's forms are tiny).
const FORM_LIMIT_BYTES: usize = 16 * 1024;

/// The signed-in browser, put into the request extensions by [`require_session`].
#[derive(Debug, Clone)]
pub(crate) struct SignedIn(pub(crate) WebSession);

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

pub(crate) fn idle(state: &AppState) -> TimeDelta {
    TimeDelta::from_std(state.web.session_idle).unwrap_or(TimeDelta::hours(8))
}

/// `Set-Cookie` for a new session, or (with `None`) one that ends it.
pub(crate) fn session_cookie(
    state: &AppState,
    headers: &HeaderMap,
    value: Option<&str>,
) -> HeaderValue {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let secure = if state.web.cookie_secure || forwarded_https {
        "; Secure"
    } else {
        ""
    };
    let text = match value {
        Some(value) => format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            state.web.session_idle.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    // Only characters of a base64url token and fixed text: always a valid header.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A user signed in through the browser, for `GET` on `/api/v1` (the Job Monitor's
/// CSV link): a session cookie counts like a bearer token for reading.
pub(crate) async fn session_user_for_api(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Option<UserRecord> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return None;
    }
    let value = cookie(headers, SESSION_COOKIE)?;
    match state
        .store
        .web_session(&value, idle(state), state.clock.now())
        .await
    {
        Ok(Some(session)) => Some(session.user),
        _ => None,
    }
}

/// Pages a viewer may change: only their own inbox, and signing out.
fn viewer_may_post(path: &str) -> bool {
    path == "/logout"
        || path
            .strip_prefix("/inbox/")
            .and_then(|rest| rest.strip_suffix("/read"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Requires a live session on every dashboard page; checks the CSRF token of every
/// form post, and keeps viewers to their own inbox.
pub(crate) async fn require_session(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let session = match cookie(request.headers(), SESSION_COOKIE) {
        Some(value) => {
            state
                .store
                .web_session(&value, idle(&state), state.clock.now())
                .await
        }
        None => Ok(None),
    };
    let session = match session {
        Ok(Some(session)) => session,
        Ok(None) => return to_sign_in(&request),
        Err(error) => return super::pages::store_failure(&error),
    };
    let (parts, body) = request.into_parts();
    let mut request = if matches!(parts.method, Method::GET | Method::HEAD) {
        Request::from_parts(parts, body)
    } else {
        if session.user.role != Role::Admin && !viewer_may_post(parts.uri.path()) {
            return super::pages::refusal(
                StatusCode::FORBIDDEN,
                "Viewers may look at everything but change only their own inbox.",
            );
        }
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT_BYTES).await else {
            return super::pages::refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "That form was too large.",
            );
        };
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let form_token = url::form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == "csrf")
            .map(|(_, value)| value.into_owned());
        let given = header_token.or(form_token).unwrap_or_default();
        if !same(given.as_bytes(), session.csrf_token.as_bytes()) {
            return super::pages::refusal(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Reload the page and try again.",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    request.extensions_mut().insert(SignedIn(session));
    next.run(request).await
}

/// Whether a form post comes from this site: an `Origin` header, when the browser
/// sends one, must name the host the request was sent to. (Forms after sign-in carry
/// a CSRF token; the sign-in form itself has no session to hold one.)
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|text| url::Url::parse(text).ok())
        .and_then(|url| {
            url.host_str().map(|host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        });
    matches!((origin_host, host), (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host))
}

/// Constant-time comparison of two tokens.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn to_sign_in(request: &Request) -> Response {
    let wanted = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    let target = if wanted == "/" || request.method() != Method::GET {
        "/login".to_owned()
    } else {
        format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>()
        )
    };
    if request.headers().contains_key("hx-request") {
        // htmx follows this header with a full navigation.
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    Redirect::to(&target).into_response()
}

/// The address a request came from, when the server knows it.
pub(crate) fn client_address(request_extensions: &axum::http::Extensions) -> String {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}

/// Counts failed sign-ins per account and per address, and refuses further tries
/// for a while once either has failed too often.
///
/// Written here rather than with a rate-limiting crate: what is limited is failures
/// (a success clears the account's count), which a request-rate limiter does not
/// model, and the state is a small map.
#[derive(Debug)]
pub(crate) struct SignInGuard {
    failures: Mutex<HashMap<String, Window>>,
    /// Failures allowed per key within [`SignInGuard::WINDOW`].
    pub(crate) per_account: u32,
    pub(crate) per_address: u32,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Default for SignInGuard {
    fn default() -> Self {
        SignInGuard {
            failures: Mutex::new(HashMap::new()),
            per_account: 5,
            per_address: 20,
        }
    }
}

impl SignInGuard {
    /// How long failures count.
    pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Keys kept at most; the oldest windows go first past it.
    const MAX_KEYS: usize = 10_000;

    fn keys(email: &str, address: &str) -> [(String, bool); 2] {
        [
            (format!("account:{}", email.trim().to_lowercase()), true),
            (format!("address:{address}"), false),
        ]
    }

    /// Whether a sign-in for `email` from `address` may be tried now; if so, the try
    /// is counted at once (as a failure until [`SignInGuard::succeeded`] gives it
    /// back), so that tries made in parallel cannot all pass the check.
    pub(crate) fn try_begin(&self, email: &str, address: &str) -> bool {
        let Ok(mut map) = self.failures.lock() else {
            return false;
        };
        let now = Instant::now();
        map.retain(|_, window| now.duration_since(window.started) < Self::WINDOW);
        let keys = Self::keys(email, address);
        let allowed = keys.iter().all(|(key, account)| {
            let limit = if *account {
                self.per_account
            } else {
                self.per_address
            };
            map.get(key).is_none_or(|window| window.failures < limit)
        });
        if !allowed {
            return false;
        }
        if map.len() >= Self::MAX_KEYS {
            // Make room among the windows closest to their end, keeping lockouts.
            let mut oldest: Vec<(String, Instant)> = map
                .iter()
                .filter(|(_, window)| window.failures < self.per_account)
                .map(|(key, window)| (key.clone(), window.started))
                .collect();
            oldest.sort_by_key(|(_, started)| *started);
            for (key, _) in oldest.into_iter().take(Self::MAX_KEYS / 10) {
                map.remove(&key);
            }
        }
        for (key, _) in keys {
            let window = map.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            window.failures += 1;
        }
        true
    }

    /// A good sign-in: the account's count is cleared, and the address gets its
    /// try back.
    pub(crate) fn succeeded(&self, email: &str, address: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&format!("account:{}", email.trim().to_lowercase()));
            if let Some(window) = map.get_mut(&format!("address:{address}")) {
                window.failures = window.failures.saturating_sub(1);
            }
        }
    }
}
