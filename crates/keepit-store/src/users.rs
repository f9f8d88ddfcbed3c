//! Users (who reads alerts and messages) and their hashed API tokens.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{MessagePreference, RecipientCandidate, UserId};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, PaginatorTrait, QueryFilter, QueryOrder,
};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::convert::micros;
use crate::entity::{api_token, user};
use crate::error::{Error, Result};
use crate::ids::ApiTokenId;
use crate::store::Store;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including rules, integrations and users.
    Admin,
    /// Read only (and their own inbox).
    Viewer,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Parses [`Role::as_str`]'s form.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

fn preference_str(preference: MessagePreference) -> &'static str {
    match preference {
        MessagePreference::Default => "default",
        MessagePreference::OptedIn => "opted_in",
        MessagePreference::OptedOut => "opted_out",
    }
}

fn parse_preference(text: &str) -> Result<MessagePreference> {
    Ok(match text {
        "default" => MessagePreference::Default,
        "opted_in" => MessagePreference::OptedIn,
        "opted_out" => MessagePreference::OptedOut,
        other => {
            return Err(Error::corrupt(
                "users",
                "message_preference",
                other,
                "unknown preference",
            ));
        }
    })
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// E-mail address (unique, compared case-insensitively).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether this is the primary administrator (there is at most one).
    pub primary_admin: bool,
    /// Whether they receive messages that are not personal.
    pub message_preference: MessagePreference,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Row id.
    pub id: UserId,
    /// E-mail address, lowercased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Primary administrator.
    pub primary_admin: bool,
    /// Message preference.
    pub message_preference: MessagePreference,
    /// Whether a browser sign-in password is set.
    pub has_password: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<user::Model> for UserRecord {
    type Error = Error;
    fn try_from(model: user::Model) -> Result<Self> {
        Ok(UserRecord {
            id: UserId(model.id),
            role: Role::parse(&model.role)
                .ok_or_else(|| Error::corrupt("users", "role", &model.role, "unknown role"))?,
            message_preference: parse_preference(&model.message_preference)?,
            email: model.email,
            name: model.name,
            primary_admin: model.primary_admin,
            has_password: model.password_hash.is_some(),
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

/// A stored API token (its secret is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Row id.
    pub id: ApiTokenId,
    /// Owner.
    pub user: UserId,
    /// What it is for.
    pub label: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used (refreshed at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_token::Model> for ApiTokenRecord {
    fn from(model: api_token::Model) -> Self {
        ApiTokenRecord {
            id: ApiTokenId(model.id),
            user: UserId(model.user_id),
            label: model.label,
            created_at: model.created_at,
            last_used_at: model.last_used_at,
            revoked_at: model.revoked_at,
        }
    }
}

/// Hex SHA-256 of a bearer token. Tokens are 256 random bits, so a plain hash suffices.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

impl Store {
    /// Creates a user. Making them primary administrator demotes the previous one.
    pub async fn create_user(&self, new: &NewUser, now: DateTime<Utc>) -> Result<UserRecord> {
        let email = new.email.trim().to_lowercase();
        if !email.contains('@') {
            return Err(Error::invalid(
                "email",
                format!("{email:?} is not an e-mail address"),
            ));
        }
        let now = micros(now);
        let txn = self.begin_write().await?;
        if user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&txn)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                what: "user",
                key: email,
            });
        }
        if new.primary_admin {
            user::Entity::update_many()
                .col_expr(user::Column::PrimaryAdmin, Expr::value(false))
                .filter(user::Column::PrimaryAdmin.eq(true))
                .exec(&txn)
                .await?;
        }
        let model = user::ActiveModel {
            email: Set(email),
            name: Set(new.name.trim().to_owned()),
            role: Set(new.role.as_str().to_owned()),
            primary_admin: Set(new.primary_admin),
            message_preference: Set(preference_str(new.message_preference).to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        model.try_into()
    }

    /// One user.
    pub async fn user(&self, id: UserId) -> Result<UserRecord> {
        user::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("user", id))?
            .try_into()
    }

    /// The user with this e-mail address (case-insensitive).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// All users, oldest first.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        user::Entity::find()
            .order_by_asc(user::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Changes whether a user receives non-personal messages.
    pub async fn set_message_preference(
        &self,
        id: UserId,
        preference: MessagePreference,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let result = user::Entity::update_many()
            .col_expr(
                user::Column::MessagePreference,
                Expr::value(preference_str(preference)),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(user::Column::Id.eq(id.0))
            .exec(self.db())
            .await?;
        if result.rows_affected == 0 {
            return Err(Error::not_found("user", id));
        }
        Ok(())
    }

    /// Every user as a candidate for `keepit_domain::route_message`.
    pub async fn recipient_candidates(&self) -> Result<Vec<RecipientCandidate>> {
        Ok(self
            .users()
            .await?
            .into_iter()
            .map(|user| RecipientCandidate {
                user: user.id,
                primary_admin: user.primary_admin,
                preference: user.message_preference,
            })
            .collect())
    }

    /// Creates an API token for a user. The token text is returned once and never
    /// stored: only its SHA-256 is.
    pub async fn create_api_token(
        &self,
        user: UserId,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<(ApiTokenRecord, SecretString)> {
        self.user(user).await?;
        let mut bytes = [0_u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = format!("kw_{}", URL_SAFE_NO_PAD.encode(bytes));
        let model = api_token::ActiveModel {
            user_id: Set(user.0),
            label: Set(label.trim().to_owned()),
            token_hash: Set(token_hash(&token)),
            created_at: Set(micros(now)),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(self.db())
        .await?;
        Ok((model.into(), SecretString::from(token)))
    }

    /// The user a bearer token belongs to, if the token exists and is not revoked.
    /// Records the use (at most once a minute per token).
    pub async fn authenticate_api_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserRecord, ApiTokenRecord)>> {
        // Token and user in one statement: this runs before every API request.
        let mut statement = Query::select();
        for column in api_token::Column::iter() {
            statement.expr_as(
                Expr::col((api_token::Entity, column)),
                Alias::new(format!("token_{}", column.as_str())),
            );
        }
        for column in user::Column::iter() {
            statement.expr_as(
                Expr::col((user::Entity, column)),
                Alias::new(format!("user_{}", column.as_str())),
            );
        }
        statement
            .from(api_token::Entity)
            .inner_join(
                user::Entity,
                Expr::col((user::Entity, user::Column::Id))
                    .equals((api_token::Entity, api_token::Column::UserId)),
            )
            .and_where(
                Expr::col((api_token::Entity, api_token::Column::TokenHash)).eq(token_hash(token)),
            )
            .and_where(Expr::col((api_token::Entity, api_token::Column::RevokedAt)).is_null());
        let Some(row) = self
            .reader()
            .query_one_raw(self.reader().get_database_backend().build(&statement))
            .await?
        else {
            return Ok(None);
        };
        let user = UserRecord::try_from(user::Model::from_query_result(&row, "user_")?)?;
        let now = micros(now);
        let mut record = ApiTokenRecord::from(api_token::Model::from_query_result(&row, "token_")?);
        if record
            .last_used_at
            .is_none_or(|used| used + TimeDelta::minutes(1) <= now)
        {
            // Bookkeeping only: a write that cannot happen now (a sync holding SQLite's
            // write lock past the busy timeout, say) must not refuse a valid token.
            match api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
                .filter(api_token::Column::Id.eq(record.id.0))
                .exec(self.db())
                .await
            {
                Ok(_) => record.last_used_at = Some(now),
                Err(error) => {
                    tracing::warn!(token = record.id.0, %error, "could not record a token's use");
                }
            }
        }
        Ok(Some((user, record)))
    }

    /// Revokes a token. Returns `false` when it did not exist or was already revoked.
    pub async fn revoke_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<bool> {
        let result = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(micros(now)))
            .filter(api_token::Column::Id.eq(id.0))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// A user's tokens, oldest first.
    pub async fn api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenRecord>> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(user.0))
            .order_by_asc(api_token::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every token of every user, oldest first (for administrators).
    pub async fn all_api_tokens(&self) -> Result<Vec<ApiTokenRecord>> {
        Ok(api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One token.
    pub async fn api_token(&self, id: ApiTokenId) -> Result<ApiTokenRecord> {
        api_token::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .map(Into::into)
            .ok_or_else(|| Error::not_found("API token", id.0))
    }

    /// Changes a user's name, role or message setting. The last administrator cannot
    /// be made a viewer.
    pub async fn update_user(
        &self,
        id: UserId,
        change: &UserChange,
        now: DateTime<Utc>,
    ) -> Result<UserRecord> {
        let txn = self.begin_write().await?;
        let model = user::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("user", id.0))?;
        let current = UserRecord::try_from(model.clone())?;
        if change.role == Some(Role::Viewer) && current.role == Role::Admin {
            let admins = user::Entity::find()
                .filter(user::Column::Role.eq(Role::Admin.as_str()))
                .count(&txn)
                .await?;
            if admins <= 1 {
                return Err(Error::Conflict {
                    what: "last administrator",
                    key: current.email,
                });
            }
        }
        let mut active: user::ActiveModel = model.into();
        if let Some(name) = &change.name {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::invalid("name", "must not be empty"));
            }
            active.name = Set(name.to_owned());
        }
        if let Some(role) = change.role {
            active.role = Set(role.as_str().to_owned());
        }
        if let Some(preference) = change.message_preference {
            active.message_preference = Set(preference_str(preference).to_owned());
        }
        active.updated_at = Set(micros(now));
        let updated = active.update(&txn).await?;
        txn.commit().await?;
        updated.try_into()
    }

    /// Deletes a user with their tokens and inbox. The last administrator cannot be
    /// deleted. Returns `false` when there was no such user.
    pub async fn delete_user(&self, id: UserId) -> Result<bool> {
        let txn = self.begin_write().await?;
        let Some(model) = user::Entity::find_by_id(id.0).one(&txn).await? else {
            return Ok(false);
        };
        if model.role == Role::Admin.as_str() {
            let admins = user::Entity::find()
                .filter(user::Column::Role.eq(Role::Admin.as_str()))
                .count(&txn)
                .await?;
            if admins <= 1 {
                return Err(Error::Conflict {
                    what: "last administrator",
                    key: model.email,
                });
            }
        }
        user::Entity::delete_by_id(id.0).exec(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }
}

/// What [`Store::update_user`] changes; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// A new display name.
    pub name: Option<String>,
    /// A new role.
    pub role: Option<Role>,
    /// A new message setting (the seed 000 opt-in).
    pub message_preference: Option<MessagePreference>,
}
