//! The credentials the mock accepts, and Basic-auth checking as Keepit does it.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// The login/password pairs a [`MockKeepit`](crate::MockKeepit) accepts.
///
/// Like Keepit, the mock takes either the primary login (a user's e-mail and password)
/// or an API token pair (`aname`/`apass`); both are sent with HTTP Basic auth.
/// Passwords are [`SecretString`]s and never appear in `Debug` output.
#[derive(Debug, Clone)]
pub struct MockCredentials {
    username: String,
    password: SecretString,
    api_token: Option<ApiToken>,
}

/// An API token ("secondary token") pair.
#[derive(Debug, Clone)]
pub struct ApiToken {
    login: String,
    password: SecretString,
}

impl ApiToken {
    /// A token pair.
    pub fn new(login: impl Into<String>, password: impl Into<String>) -> Self {
        ApiToken {
            login: login.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// The token's login (`aname`).
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The token's password (`apass`).
    pub fn password(&self) -> &SecretString {
        &self.password
    }
}

impl Default for MockCredentials {
    /// A primary login `monitor@harborit.example` and an API token whose login
    /// contains the punctuation real Keepit token logins have.
    fn default() -> Self {
        MockCredentials::new("monitor@harborit.example", "mock-password-0001").with_api_token(
            ApiToken::new("Qx7$kP2!mZ9(eT4)pW6,hR8=", "aP5%vL3+nB8?cD1#fG6@hJ2"),
        )
    }
}

impl MockCredentials {
    /// Accepts exactly this login and password (and no API token).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        MockCredentials {
            username: username.into(),
            password: SecretString::from(password.into()),
            api_token: None,
        }
    }

    /// Also accepts this API token pair.
    pub fn with_api_token(mut self, token: ApiToken) -> Self {
        self.api_token = Some(token);
        self
    }

    /// The primary login.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The primary password.
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// The API token pair, if one is accepted.
    pub fn api_token(&self) -> Option<&ApiToken> {
        self.api_token.as_ref()
    }

    /// Checks an `Authorization` header value.
    pub(crate) fn check(&self, header: Option<&str>) -> AuthOutcome {
        let Some(header) = header else {
            return AuthOutcome::Anonymous;
        };
        let Some((username, password)) = decode_basic(header) else {
            return AuthOutcome::Rejected { username: None };
        };
        let primary = username == self.username && password == self.password.expose_secret();
        let token = self.api_token.as_ref().is_some_and(|token| {
            username == token.login && password == token.password.expose_secret()
        });
        if primary || token {
            AuthOutcome::Accepted { username }
        } else {
            AuthOutcome::Rejected {
                username: Some(username),
            }
        }
    }
}

/// What the `Authorization` header of a request amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// No header at all.
    Anonymous,
    /// A header that did not carry accepted credentials (the username, when it could be read).
    Rejected { username: Option<String> },
    /// Accepted credentials, by username.
    Accepted { username: String },
}

impl AuthOutcome {
    /// The username the request claimed, accepted or not (never the password).
    pub(crate) fn username(&self) -> Option<&str> {
        match self {
            AuthOutcome::Anonymous => None,
            AuthOutcome::Rejected { username } => username.as_deref(),
            AuthOutcome::Accepted { username } => Some(username),
        }
    }
}

/// Splits `Basic base64(user:pass)` into its halves. The password may contain `:`.
fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

/// Builds an `Authorization: Basic` header value; handy in tests.
pub fn basic_auth_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}
