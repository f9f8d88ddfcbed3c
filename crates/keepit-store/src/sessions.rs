//! Browser sign-in: argon2id password hashes and database-backed sessions.
//!
//! A session is known to the database only by the SHA-256 of its cookie, like API
//! tokens; the cookie value exists only in the browser. Each session carries the CSRF
//! token its forms must send back.

use std::sync::OnceLock;

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::UserId;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::convert::micros;
use crate::entity::{user, web_session};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::users::UserRecord;

/// Fewest characters a sign-in password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a sign-in password may have (argon2 hashes any length; this bounds
/// the work a hostile form post can cause).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A signed-in browser. `Debug` leaves the CSRF token out.
#[derive(Clone)]
pub struct WebSession {
    /// Row id.
    pub id: i64,
    /// Who signed in.
    pub user: UserRecord,
    /// The token every state-changing form of this session must carry.
    pub csrf_token: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// The last request seen (to the minute).
    pub last_seen_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("id", &self.id)
            .field("user", &self.user.id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// Longest a session lasts however busy it is (a wallboard refreshing all day signs
/// in again once a week).
pub(crate) const SESSION_LIFETIME: TimeDelta = TimeDelta::days(7);

fn cookie_hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A hash to verify against when the e-mail is unknown, so that an unknown address
/// takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"keepit-watch decoy password", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Checks a new password against the length rules.
pub fn check_password(password: &SecretString) -> Result<()> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

impl Store {
    /// Sets (or replaces) a user's sign-in password, hashed with argon2id. Their
    /// existing browser sessions end: a changed password signs everybody out.
    pub async fn set_user_password(
        &self,
        id: UserId,
        password: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<()> {
        check_password(password)?;
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map_err(|error| Error::invalid("password", format!("cannot be hashed: {error}")))?
            .to_string();
        let txn = self.begin_write().await?;
        let updated = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .col_expr(user::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(user::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::not_found("user", id));
        }
        web_session::Entity::delete_many()
            .filter(web_session::Column::UserId.eq(id.0))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The user with this e-mail and password, if both match. An unknown e-mail, a
    /// user without a password and a wrong password all answer `None`, after the
    /// same amount of hashing work.
    pub async fn verify_user_password(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<Option<UserRecord>> {
        let email = email.trim().to_lowercase();
        let model = user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(self.reader())
            .await?;
        let stored = model.as_ref().and_then(|model| model.password_hash.clone());
        let candidate = SecretString::from(password.expose_secret().to_owned());
        // Hashing takes tens of milliseconds of CPU: off the async workers (the decoy
        // too, the first time it is made).
        let matches = tokio::task::spawn_blocking(move || {
            let stored = stored.unwrap_or_else(|| decoy_hash().to_owned());
            let candidate = candidate.expose_secret();
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(candidate.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        match model {
            Some(model) if matches && model.password_hash.is_some() => {
                Ok(Some(UserRecord::try_from(model)?))
            }
            _ => Ok(None),
        }
    }

    /// Starts a browser session for a user. Returns the session and the cookie value,
    /// which is shown to the browser once and stored only as a hash.
    pub async fn create_web_session(
        &self,
        id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(WebSession, SecretString)> {
        let user = self.user(id).await?;
        let cookie = random_token();
        let now = micros(now);
        let model = web_session::ActiveModel {
            user_id: Set(id.0),
            token_hash: Set(cookie_hash(&cookie)),
            csrf_token: Set(random_token()),
            created_at: Set(now),
            last_seen_at: Set(now),
            ..Default::default()
        }
        .insert(self.db())
        .await?;
        Ok((session(model, user), SecretString::from(cookie)))
    }

    /// The live session a cookie names. A session idle for longer than `idle` has
    /// ended (and is deleted); a live one is marked seen, at most once a minute.
    pub async fn web_session(
        &self,
        cookie: &str,
        idle: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>> {
        let Some(model) = web_session::Entity::find()
            .filter(web_session::Column::TokenHash.eq(cookie_hash(cookie)))
            .one(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let now = micros(now);
        if model.last_seen_at + idle <= now || model.created_at + SESSION_LIFETIME <= now {
            web_session::Entity::delete_by_id(model.id)
                .exec(self.db())
                .await?;
            return Ok(None);
        }
        let user = match self.user(UserId(model.user_id)).await {
            Ok(user) => user,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut model = model;
        if model.last_seen_at + TimeDelta::minutes(1) <= now {
            // Bookkeeping: a write that cannot happen now must not sign anybody out.
            match web_session::Entity::update_many()
                .col_expr(web_session::Column::LastSeenAt, Expr::value(now))
                .filter(web_session::Column::Id.eq(model.id))
                .exec(self.db())
                .await
            {
                Ok(_) => model.last_seen_at = now,
                Err(error) => {
                    tracing::warn!(session = model.id, %error, "could not mark a session seen");
                }
            }
        }
        Ok(Some(session(model, user)))
    }

    /// Ends the session a cookie names (signing out). Unknown cookies are ignored.
    pub async fn end_web_session(&self, cookie: &str) -> Result<()> {
        web_session::Entity::delete_many()
            .filter(web_session::Column::TokenHash.eq(cookie_hash(cookie)))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Deletes sessions idle for longer than `idle`; returns how many.
    pub async fn purge_idle_web_sessions(
        &self,
        idle: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let deleted = web_session::Entity::delete_many()
            .filter(web_session::Column::LastSeenAt.lte(micros(now) - idle))
            .exec(self.db())
            .await?;
        Ok(deleted.rows_affected)
    }
}

fn session(model: web_session::Model, user: UserRecord) -> WebSession {
    WebSession {
        id: model.id,
        user,
        csrf_token: model.csrf_token,
        created_at: model.created_at,
        last_seen_at: model.last_seen_at,
    }
}
