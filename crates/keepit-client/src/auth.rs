//! Credentials and the `Authorization` header built from them.

use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// How the client signs in to Keepit: HTTP Basic authentication on every request.
///
/// `Debug` never shows a password or an API-token login.
#[derive(Clone)]
pub enum Credentials {
    /// A user's login (usually an e-mail address) and password.
    UserPassword {
        /// The login.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// An API token's generated login and password pair.
    ApiToken {
        /// The token's generated login. Treated as secret: it identifies a credential.
        login: SecretString,
        /// The token's password.
        password: SecretString,
    },
}

impl Credentials {
    /// Picks credentials the way Keepit's integrations do: an API-token pair wins
    /// when both halves are given; otherwise username and password are used.
    /// Returns `None` when neither is complete.
    pub fn choose(
        username: Option<String>,
        password: Option<SecretString>,
        token_login: Option<SecretString>,
        token_password: Option<SecretString>,
    ) -> Option<Credentials> {
        let nonblank = |secret: &SecretString| !secret.expose_secret().trim().is_empty();
        match (
            token_login.filter(nonblank),
            token_password.filter(nonblank),
        ) {
            (Some(login), Some(password)) => Some(Credentials::ApiToken { login, password }),
            _ => match (
                username.filter(|name| !name.trim().is_empty()),
                password.filter(nonblank),
            ) {
                (Some(username), Some(password)) => {
                    Some(Credentials::UserPassword { username, password })
                }
                _ => None,
            },
        }
    }

    /// Which kind of credential this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::UserPassword { .. } => "user-password",
            Credentials::ApiToken { .. } => "api-token",
        }
    }

    /// The `Authorization` header value. Keepit wants the raw login and password
    /// bytes joined by `:` and base64-encoded, with no URL-encoding.
    pub(crate) fn header_value(&self) -> reqwest::header::HeaderValue {
        let (login, password) = match self {
            Credentials::UserPassword { username, password } => {
                (username.as_str(), password.expose_secret())
            }
            Credentials::ApiToken { login, password } => {
                (login.expose_secret(), password.expose_secret())
            }
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::UserPassword { username, .. } => f
                .debug_struct("UserPassword")
                .field("username", username)
                .field("password", &"[redacted]")
                .finish(),
            Credentials::ApiToken { .. } => f
                .debug_struct("ApiToken")
                .field("login", &"[redacted]")
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}
