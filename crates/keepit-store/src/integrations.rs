//! Keepit integrations (parent-account connections) and their encrypted credentials.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keepit_domain::AccountId;
use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use secrecy::{ExposeSecret, SecretString};

use crate::convert::{account_id, micros};
use crate::entity::{account, alert, integration};
use crate::error::{Error, Result};
use crate::ids::IntegrationId;
use crate::secrets::{MasterKey, SecretError};
use crate::store::Store;
use crate::sync::SyncOutcome;

/// Credentials of a Keepit integration, in plaintext, as secrets.
///
/// When both API-token halves are set they take priority over username and password
/// (the client decides; the store keeps all four). `Debug` never prints the secrets.
#[derive(Clone, Default)]
pub struct KeepitCredentials {
    /// Keepit login of an administrator.
    pub username: Option<String>,
    /// That administrator's password.
    pub password: Option<SecretString>,
    /// Login half of a Keepit API token.
    pub api_token_login: Option<String>,
    /// Password half of a Keepit API token.
    pub api_token_password: Option<SecretString>,
}

impl fmt::Debug for KeepitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |secret: &Option<SecretString>| secret.as_ref().map(|_| "***");
        f.debug_struct("KeepitCredentials")
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("api_token_login", &self.api_token_login)
            .field("api_token_password", &hidden(&self.api_token_password))
            .finish()
    }
}

impl KeepitCredentials {
    fn to_json(&self) -> SecretString {
        let value = serde_json::json!({
            "username": self.username,
            "password": self.password.as_ref().map(|s| s.expose_secret()),
            "api_token_login": self.api_token_login,
            "api_token_password": self.api_token_password.as_ref().map(|s| s.expose_secret()),
        });
        SecretString::from(value.to_string())
    }

    fn from_json(bytes: &[u8]) -> Result<KeepitCredentials, SecretError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|_| SecretError::Payload("not a json document".to_owned()))?;
        let field = |name: &str| -> Result<Option<String>, SecretError> {
            match value.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(SecretError::Payload(format!("field {name} is not text"))),
            }
        };
        Ok(KeepitCredentials {
            username: field("username")?,
            password: field("password")?.map(SecretString::from),
            api_token_login: field("api_token_login")?,
            api_token_password: field("api_token_password")?.map(SecretString::from),
        })
    }
}

/// How a sync (or a connection test) talks to Keepit for one integration: settings of
/// the integration, so that a slow region or a rate-limited parent can be tuned alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationSettings {
    concurrency: u16,
    request_timeout: Duration,
}

impl IntegrationSettings {
    /// Fewest and most Keepit requests in flight at once.
    pub const CONCURRENCY: RangeInclusive<u16> = 1..=64;
    /// Shortest and longest time one attempt of a request may take, in seconds.
    pub const REQUEST_TIMEOUT_SECS: RangeInclusive<u64> = 5..=600;

    /// Settings within the bounds; an error names the field that is out of them.
    pub fn new(concurrency: u16, request_timeout: Duration) -> Result<IntegrationSettings> {
        if !Self::CONCURRENCY.contains(&concurrency) {
            return Err(Error::invalid(
                "concurrency",
                format!(
                    "must be from {} to {}",
                    Self::CONCURRENCY.start(),
                    Self::CONCURRENCY.end()
                ),
            ));
        }
        let secs = request_timeout.as_secs();
        if !Self::REQUEST_TIMEOUT_SECS.contains(&secs) || request_timeout.subsec_nanos() != 0 {
            return Err(Error::invalid(
                "request_timeout_secs",
                format!(
                    "must be whole seconds from {} to {}",
                    Self::REQUEST_TIMEOUT_SECS.start(),
                    Self::REQUEST_TIMEOUT_SECS.end()
                ),
            ));
        }
        Ok(IntegrationSettings {
            concurrency,
            request_timeout,
        })
    }

    /// Keepit requests kept in flight at once.
    pub fn concurrency(&self) -> u16 {
        self.concurrency
    }

    /// Time one attempt of one request may take (retries get their own).
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
}

impl Default for IntegrationSettings {
    /// Five requests in flight (what Keepit tolerates from one parent in our
    /// measurements) and 30 seconds per attempt.
    fn default() -> Self {
        IntegrationSettings {
            concurrency: 5,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything needed to create an integration.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    /// A name for people ("Keepit EU").
    pub name: String,
    /// Keepit region (`us-dc`, `dk-co`, ...), when no base URL is given.
    pub region: Option<String>,
    /// Full base URL override (tests, proxies).
    pub base_url: Option<String>,
    /// The MSP's parent account.
    pub parent_account: AccountId,
    /// The credentials, encrypted before they are stored.
    pub credentials: KeepitCredentials,
    /// Whether syncs include this integration.
    pub enabled: bool,
    /// How its syncs talk to Keepit.
    pub settings: IntegrationSettings,
}

/// What [`Store::update_integration_details`] changes; `None` keeps the value, and for
/// the region and base URL `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationChange {
    /// A new name.
    pub name: Option<String>,
    /// A new region.
    pub region: Option<Option<String>>,
    /// A new base URL.
    pub base_url: Option<Option<String>>,
    /// A new parent account.
    pub parent_account: Option<AccountId>,
    /// New connection settings.
    pub settings: Option<IntegrationSettings>,
}

/// A stored integration, without its credentials (see [`Store::integration_credentials`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationRecord {
    /// Row id.
    pub id: IntegrationId,
    /// Name for people.
    pub name: String,
    /// Keepit region.
    pub region: Option<String>,
    /// Base URL override.
    pub base_url: Option<String>,
    /// The MSP's parent account.
    pub parent_account: AccountId,
    /// Whether syncs include it.
    pub enabled: bool,
    /// When the last sync of it finished.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// How the last sync of it ended.
    pub last_sync_outcome: Option<SyncOutcome>,
    /// When a "sync now" was asked for that no daemon has started yet.
    pub sync_requested_at: Option<DateTime<Utc>>,
    /// How its syncs talk to Keepit.
    pub settings: IntegrationSettings,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<integration::Model> for IntegrationRecord {
    type Error = Error;
    fn try_from(model: integration::Model) -> Result<Self> {
        Ok(IntegrationRecord {
            id: IntegrationId(model.id),
            parent_account: account_id(
                "keepit_integrations",
                "parent_account_guid",
                &model.parent_account_guid,
            )?,
            name: model.name,
            region: model.region,
            base_url: model.base_url,
            enabled: model.enabled,
            last_sync_at: model.last_sync_at,
            last_sync_outcome: model
                .last_sync_outcome
                .as_deref()
                .map(|text| {
                    SyncOutcome::parse(text).ok_or_else(|| {
                        Error::corrupt(
                            "keepit_integrations",
                            "last_sync_outcome",
                            text,
                            "unknown outcome",
                        )
                    })
                })
                .transpose()?,
            sync_requested_at: model.sync_requested_at,
            settings: stored_settings(model.concurrency, model.request_timeout_secs)?,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

/// The bounds keep it far inside `i32`.
fn timeout_secs(settings: &IntegrationSettings) -> i32 {
    i32::try_from(settings.request_timeout().as_secs()).unwrap_or(i32::MAX)
}

fn stored_settings(concurrency: i32, request_timeout_secs: i32) -> Result<IntegrationSettings> {
    let corrupt = |column: &'static str, value: i32| {
        Error::corrupt(
            "keepit_integrations",
            column,
            &value.to_string(),
            "out of bounds",
        )
    };
    let concurrency =
        u16::try_from(concurrency).map_err(|_| corrupt("concurrency", concurrency))?;
    let secs = u64::try_from(request_timeout_secs)
        .map_err(|_| corrupt("request_timeout_secs", request_timeout_secs))?;
    IntegrationSettings::new(concurrency, Duration::from_secs(secs)).map_err(|error| match error {
        Error::InvalidInput {
            field: "concurrency",
            ..
        } => corrupt("concurrency", i32::from(concurrency)),
        _ => corrupt("request_timeout_secs", request_timeout_secs),
    })
}

fn associated_data(id: IntegrationId) -> Vec<u8> {
    format!("keepit_integrations:{}", id.0).into_bytes()
}

impl Store {
    /// Creates an integration; its credentials are encrypted with `key`, bound to the new id.
    ///
    /// Fails with [`Error::Conflict`] when the parent account already has an integration.
    pub async fn create_integration(
        &self,
        new: &NewIntegration,
        key: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<IntegrationRecord> {
        let now = micros(now);
        if self
            .integration_by_parent(&new.parent_account)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                what: "integration for parent account",
                key: new.parent_account.to_string(),
            });
        }
        let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
        // The id is the associated data, so the row is created first and sealed after.
        let inserted = integration::ActiveModel {
            name: Set(new.name.clone()),
            region: Set(new.region.clone()),
            base_url: Set(new.base_url.clone()),
            parent_account_guid: Set(new.parent_account.to_string()),
            credentials: Set(String::new()),
            enabled: Set(new.enabled),
            concurrency: Set(i32::from(new.settings.concurrency())),
            request_timeout_secs: Set(timeout_secs(&new.settings)),
            last_sync_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let id = IntegrationId(inserted.id);
        let sealed = key.encrypt(
            new.credentials.to_json().expose_secret().as_bytes(),
            &associated_data(id),
        )?;
        let mut active: integration::ActiveModel = inserted.into();
        active.credentials = Set(sealed);
        let model = active.update(&txn).await?;
        txn.commit().await?;
        model.try_into()
    }

    /// One integration.
    pub async fn integration(&self, id: IntegrationId) -> Result<IntegrationRecord> {
        integration::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("integration", id))?
            .try_into()
    }

    /// The integration of a parent account, if there is one.
    pub async fn integration_by_parent(
        &self,
        parent: &AccountId,
    ) -> Result<Option<IntegrationRecord>> {
        integration::Entity::find()
            .filter(integration::Column::ParentAccountGuid.eq(parent.as_str()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Checks that `key` opens the credentials stored in the database (integrations'
    /// and PSA connections'), by the key fingerprint each sealed value carries, before
    /// any is needed. A process pointed at another state directory, or at a key file
    /// it created itself, fails here with [`SecretError::WrongKey`] naming both keys,
    /// instead of failing integration by integration later. Nothing stored, or one
    /// value sealed with `key`, passes.
    pub async fn check_master_key(&self, key: &MasterKey) -> Result<()> {
        let mut sealed: Vec<String> = integration::Entity::find()
            .select_only()
            .column(integration::Column::Credentials)
            .into_tuple()
            .all(self.reader())
            .await?;
        sealed.extend(
            crate::entity::psa_connection::Entity::find()
                .select_only()
                .column(crate::entity::psa_connection::Column::Credentials)
                .into_tuple::<String>()
                .all(self.reader())
                .await?,
        );
        let mut other = None;
        for value in &sealed {
            match value.trim().split(':').nth(1) {
                Some(id) if id == key.key_id() => return Ok(()),
                Some(id) if !id.is_empty() => other = other.or(Some(id)),
                _ => {}
            }
        }
        match other {
            Some(id) => Err(Error::Secret(SecretError::WrongKey {
                sealed_with: id.to_owned(),
                configured: key.key_id().to_owned(),
            })),
            None => Ok(()),
        }
    }

    /// All integrations, oldest first.
    pub async fn integrations(&self) -> Result<Vec<IntegrationRecord>> {
        integration::Entity::find()
            .order_by_asc(integration::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Decrypts the credentials of an integration.
    ///
    /// A different key gives [`SecretError::WrongKey`]; an altered value gives
    /// [`SecretError::Tampered`]; never garbage.
    pub async fn integration_credentials(
        &self,
        id: IntegrationId,
        key: &MasterKey,
    ) -> Result<KeepitCredentials> {
        let model = integration::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("integration", id))?;
        let plaintext =
            secrecy::SecretSlice::from(key.decrypt(&model.credentials, &associated_data(id))?);
        Ok(KeepitCredentials::from_json(plaintext.expose_secret())?)
    }

    /// Replaces the credentials of an integration.
    pub async fn set_integration_credentials(
        &self,
        id: IntegrationId,
        credentials: &KeepitCredentials,
        key: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sealed = key.encrypt(
            credentials.to_json().expose_secret().as_bytes(),
            &associated_data(id),
        )?;
        self.update_integration(id, |active| {
            active.credentials = Set(sealed);
            active.updated_at = Set(micros(now));
        })
        .await
    }

    /// Changes an integration's name, where Keepit is reached, or its parent account.
    /// Fails with [`Error::Conflict`] when another integration has that parent account.
    pub async fn update_integration_details(
        &self,
        id: IntegrationId,
        change: &IntegrationChange,
        now: DateTime<Utc>,
    ) -> Result<IntegrationRecord> {
        let txn = self.begin_write().await?;
        let model = integration::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("integration", id))?;
        if let Some(parent) = &change.parent_account {
            let clash = integration::Entity::find()
                .filter(integration::Column::ParentAccountGuid.eq(parent.as_str()))
                .filter(integration::Column::Id.ne(id.0))
                .one(&txn)
                .await?;
            if clash.is_some() {
                return Err(Error::Conflict {
                    what: "integration for parent account",
                    key: parent.to_string(),
                });
            }
        }
        let mut active: integration::ActiveModel = model.into();
        if let Some(name) = &change.name {
            active.name = Set(name.clone());
        }
        if let Some(region) = &change.region {
            active.region = Set(region.clone());
        }
        if let Some(base_url) = &change.base_url {
            active.base_url = Set(base_url.clone());
        }
        if let Some(parent) = &change.parent_account {
            active.parent_account_guid = Set(parent.to_string());
        }
        if let Some(settings) = &change.settings {
            active.concurrency = Set(i32::from(settings.concurrency()));
            active.request_timeout_secs = Set(timeout_secs(settings));
        }
        active.updated_at = Set(micros(now));
        let updated = active.update(&txn).await?;
        txn.commit().await?;
        updated.try_into()
    }

    /// Deletes an integration and its sealed credentials; the open alerts of its
    /// accounts resolve. The synced data (connectors, jobs, audit events, alert
    /// history) stays, unless `purge`, which deletes it too. Returns `false` when there
    /// was no such integration.
    pub async fn delete_integration(
        &self,
        id: IntegrationId,
        purge: bool,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let txn = self.begin_write().await?;
        if integration::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let accounts: Vec<String> = account::Entity::find()
            .filter(account::Column::IntegrationId.eq(id.0))
            .all(&txn)
            .await?
            .into_iter()
            .map(|model| model.account_guid)
            .collect();
        crate::alerts::resolve_open_alerts(
            &txn,
            sea_orm::Condition::all()
                .add(alert::Column::AccountGuid.is_in(accounts.iter().cloned())),
            "the integration was deleted",
            now,
        )
        .await?;
        if purge {
            // Children first; statuses and alert histories go with their rows.
            for table in [
                "alerts",
                "backup_jobs",
                "backup_audit_events",
                "backup_connectors",
            ] {
                for chunk in accounts.chunks(500) {
                    let delete = Query::delete()
                        .from_table(sea_orm::sea_query::Alias::new(table))
                        .and_where(
                            Expr::col(sea_orm::sea_query::Alias::new("account_guid"))
                                .is_in(chunk.iter().cloned()),
                        )
                        .to_owned();
                    sea_orm::ConnectionTrait::execute(&txn, &delete).await?;
                }
            }
        }
        // Its accounts, cursors and lease go with it (foreign keys cascade).
        integration::Entity::delete_by_id(id.0).exec(&txn).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Enables or disables an integration.
    pub async fn set_integration_enabled(
        &self,
        id: IntegrationId,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        let updated = integration::Entity::update_many()
            .col_expr(integration::Column::Enabled, Expr::value(enabled))
            .col_expr(integration::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(integration::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::not_found("integration", id));
        }
        if !enabled {
            // Its connectors are no longer watched: close what is open about them.
            let accounts = Query::select()
                .column(account::Column::AccountGuid)
                .from(account::Entity)
                .and_where(account::Column::IntegrationId.eq(id.0))
                .to_owned();
            let resolved = crate::alerts::resolve_open_alerts(
                &txn,
                sea_orm::Condition::all().add(alert::Column::AccountGuid.in_subquery(accounts)),
                "the integration was disabled",
                now,
            )
            .await?;
            tracing::info!(integration = %id, resolved, "integration disabled; its open alerts resolved");
        }
        txn.commit().await?;
        Ok(())
    }

    /// Asks for a pass of the integration as soon as a daemon can run it. Requests
    /// collapse: while one waits, another changes nothing. Returns the integration
    /// with the waiting request.
    pub async fn request_sync(
        &self,
        id: IntegrationId,
        at: DateTime<Utc>,
    ) -> Result<IntegrationRecord> {
        let updated = integration::Entity::update_many()
            .col_expr(
                integration::Column::SyncRequestedAt,
                Expr::col(integration::Column::SyncRequestedAt).if_null(micros(at)),
            )
            .filter(integration::Column::Id.eq(id.0))
            .exec(self.db())
            .await?;
        if updated.rows_affected == 0 {
            return Err(Error::not_found("integration", id));
        }
        self.integration(id).await
    }

    /// Takes every waiting "sync now" request: the integrations are returned and their
    /// requests cleared in one transaction, so two daemons never both take one.
    pub async fn take_sync_requests(&self) -> Result<Vec<IntegrationId>> {
        let txn = self.begin_write().await?;
        let ids: Vec<i64> = integration::Entity::find()
            .select_only()
            .column(integration::Column::Id)
            .filter(integration::Column::SyncRequestedAt.is_not_null())
            .order_by_asc(integration::Column::SyncRequestedAt)
            .into_tuple()
            .all(&txn)
            .await?;
        if !ids.is_empty() {
            integration::Entity::update_many()
                .col_expr(
                    integration::Column::SyncRequestedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(integration::Column::Id.is_in(ids.iter().copied()))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(ids.into_iter().map(IntegrationId).collect())
    }

    async fn update_integration(
        &self,
        id: IntegrationId,
        change: impl FnOnce(&mut integration::ActiveModel),
    ) -> Result<()> {
        let mut active = integration::ActiveModel {
            id: Set(id.0),
            ..Default::default()
        };
        change(&mut active);
        let result = integration::Entity::update_many()
            .set(active)
            .filter(integration::Column::Id.eq(id.0))
            .exec(self.db())
            .await?;
        if result.rows_affected == 0 {
            return Err(Error::not_found("integration", id));
        }
        Ok(())
    }
}
