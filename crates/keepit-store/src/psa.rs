//! PSA connections and the tickets opened in them.
//!
//! A connection's credentials are one JSON document sealed with the master key (bound
//! to the connection's id, like an integration's); the store never reads inside it.
//! Its ticket settings are a JSON object of PSA ids (board, statuses, priorities,
//! catch-all company) and the lifecycle's knobs. Ids are looked up from the PSA by the
//! pages and the API, never assumed.

use chrono::{DateTime, Utc};
use keepit_domain::{AlertId, AlertRuleId, ConnectorId, CustomerId};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::convert::{connector_id, micros};
use crate::entity::{psa_connection, psa_ticket};
use crate::error::{Error, Result};
use crate::ids::{PsaConnectionId, PsaTicketId};
use crate::secrets::MasterKey;
use crate::store::Store;

/// How tickets are filed in one PSA. Every id is the PSA's, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsaSettings {
    /// Board (ConnectWise), queue (Autotask) or ticket type (Halo) for new tickets.
    pub board: Option<String>,
    /// Status a ticket is opened (and reopened) with; the PSA's default when unset.
    pub new_status: Option<String>,
    /// Status that closes a ticket.
    pub closed_status: Option<String>,
    /// Priority of tickets for warning alerts.
    pub priority_warning: Option<String>,
    /// Priority of tickets for critical alerts.
    pub priority_critical: Option<String>,
    /// Company for customers without a PSA id; without it, such alerts get no ticket
    /// (and their notices say so).
    pub catch_all_company: Option<String>,
    /// An alert that fires again within this many days of its ticket's closing reopens
    /// that ticket; 0 always opens a new one.
    pub reopen_days: u32,
    /// Whether a resolved alert closes its ticket (when nobody has worked on it), or
    /// only adds a note.
    pub close_on_resolve: bool,
    /// At most one note per ticket for repeats and escalations in this many minutes.
    pub note_interval_minutes: u32,
    /// Requests per hour this connection allows itself; the PSA kind's default when unset.
    pub hourly_budget: Option<u32>,
}

impl Default for PsaSettings {
    fn default() -> Self {
        PsaSettings {
            board: None,
            new_status: None,
            closed_status: None,
            priority_warning: None,
            priority_critical: None,
            catch_all_company: None,
            reopen_days: 1,
            close_on_resolve: true,
            note_interval_minutes: 240,
            hourly_budget: None,
        }
    }
}

impl PsaSettings {
    fn to_json(&self) -> String {
        json!({
            "board": self.board,
            "new_status": self.new_status,
            "closed_status": self.closed_status,
            "priority_warning": self.priority_warning,
            "priority_critical": self.priority_critical,
            "catch_all_company": self.catch_all_company,
            "reopen_days": self.reopen_days,
            "close_on_resolve": self.close_on_resolve,
            "note_interval_minutes": self.note_interval_minutes,
            "hourly_budget": self.hourly_budget,
        })
        .to_string()
    }

    /// Reads stored settings; what is missing or unreadable takes its default.
    fn from_json(text: &str) -> PsaSettings {
        let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let id = |key: &str| {
            value
                .get(key)
                .and_then(|v| match v {
                    Value::String(s) => Some(s.trim().to_owned()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
        };
        let number = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let defaults = PsaSettings::default();
        PsaSettings {
            board: id("board"),
            new_status: id("new_status"),
            closed_status: id("closed_status"),
            priority_warning: id("priority_warning"),
            priority_critical: id("priority_critical"),
            catch_all_company: id("catch_all_company"),
            reopen_days: number("reopen_days").unwrap_or(defaults.reopen_days),
            close_on_resolve: value
                .get("close_on_resolve")
                .and_then(Value::as_bool)
                .unwrap_or(defaults.close_on_resolve),
            note_interval_minutes: number("note_interval_minutes")
                .unwrap_or(defaults.note_interval_minutes),
            hourly_budget: number("hourly_budget").filter(|n| *n > 0),
        }
    }
}

/// A PSA connection to create.
#[derive(Debug, Clone)]
pub struct NewPsaConnection {
    /// A name for people; unique.
    pub name: String,
    /// `connectwise`, `autotask` or `halopsa`.
    pub kind: String,
    /// The API's base URL.
    pub base_url: String,
    /// The credentials as one JSON document (its fields depend on the kind).
    pub credentials: SecretString,
    /// How tickets are filed.
    pub settings: PsaSettings,
    /// Whether tickets are filed.
    pub enabled: bool,
}

/// What to change in a PSA connection; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct PsaConnectionChange {
    /// New name.
    pub name: Option<String>,
    /// New base URL.
    pub base_url: Option<String>,
    /// New credentials.
    pub credentials: Option<SecretString>,
    /// New settings (all of them).
    pub settings: Option<PsaSettings>,
    /// Turn ticket filing on or off.
    pub enabled: Option<bool>,
}

/// A stored PSA connection, without its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsaConnectionRecord {
    /// Row id.
    pub id: PsaConnectionId,
    /// Name.
    pub name: String,
    /// `connectwise`, `autotask` or `halopsa`.
    pub kind: String,
    /// The API's base URL.
    pub base_url: String,
    /// How tickets are filed.
    pub settings: PsaSettings,
    /// Whether tickets are filed.
    pub enabled: bool,
    /// When companies were last imported.
    pub last_import_at: Option<DateTime<Utc>>,
    /// The latest failure talking to the PSA, cleared by the next success.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<psa_connection::Model> for PsaConnectionRecord {
    fn from(model: psa_connection::Model) -> Self {
        PsaConnectionRecord {
            id: PsaConnectionId(model.id),
            name: model.name,
            kind: model.kind,
            base_url: model.base_url,
            settings: PsaSettings::from_json(&model.settings),
            enabled: model.enabled,
            last_import_at: model.last_import_at,
            last_error: model.last_error,
            created_at: model.created_at,
            updated_at: model.updated_at,
        }
    }
}

/// Where a ticket keepit-watch opened stands, as far as keepit-watch knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsaTicketState {
    /// Open, and keepit-watch adds notes to it.
    Open,
    /// Closed by keepit-watch when its alert resolved.
    Closed,
    /// Closed or deleted by someone in the PSA: left alone for the rest of the episode.
    LeftAlone,
    /// The alert resolved and the ticket was left open with a note (someone works on it,
    /// or the connection only notes).
    Resolved,
}

impl PsaTicketState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PsaTicketState::Open => "open",
            PsaTicketState::Closed => "closed",
            PsaTicketState::LeftAlone => "left_alone",
            PsaTicketState::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Option<PsaTicketState> {
        Some(match text {
            "open" => PsaTicketState::Open,
            "closed" => PsaTicketState::Closed,
            "left_alone" => PsaTicketState::LeftAlone,
            "resolved" => PsaTicketState::Resolved,
            _ => return None,
        })
    }
}

/// A ticket to record right after the PSA created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPsaTicket {
    /// The connection.
    pub connection: PsaConnectionId,
    /// The alert (the episode) it was opened for.
    pub alert: AlertId,
    /// The alert's rule.
    pub rule: AlertRuleId,
    /// The alert's connector.
    pub connector: ConnectorId,
    /// The customer, if known.
    pub customer: Option<CustomerId>,
    /// keepit-watch's key for rule and connector, also stamped on the ticket.
    pub key: String,
    /// The PSA's ticket id.
    pub ticket: String,
    /// The PSA company it was filed under.
    pub company: String,
    /// The status it was opened with.
    pub opened_status: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A ticket keepit-watch opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsaTicketRecord {
    /// Row id.
    pub id: PsaTicketId,
    /// The connection.
    pub connection: PsaConnectionId,
    /// The alert it currently belongs to (the latest episode; `None` once the alert is gone).
    pub alert: Option<AlertId>,
    /// The rule.
    pub rule: AlertRuleId,
    /// The connector.
    pub connector: ConnectorId,
    /// The customer.
    pub customer: Option<CustomerId>,
    /// keepit-watch's key.
    pub key: String,
    /// The PSA's ticket id.
    pub ticket: String,
    /// The PSA company.
    pub company: String,
    /// Where it stands.
    pub state: PsaTicketState,
    /// The status it was opened with.
    pub opened_status: Option<String>,
    /// Notes added.
    pub notes: u32,
    /// The latest failure of an action on it.
    pub last_error: Option<String>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Latest note.
    pub last_note_at: Option<DateTime<Utc>>,
    /// When it was closed (by keepit-watch or, as far as it knows, by someone else).
    pub closed_at: Option<DateTime<Utc>>,
}

impl TryFrom<psa_ticket::Model> for PsaTicketRecord {
    type Error = Error;

    fn try_from(model: psa_ticket::Model) -> Result<Self> {
        Ok(PsaTicketRecord {
            id: PsaTicketId(model.id),
            connection: PsaConnectionId(model.connection_id),
            alert: model.alert_id.map(AlertId),
            rule: AlertRuleId(model.rule_id),
            connector: connector_id("psa_tickets", "connector_id", &model.connector_id)?,
            customer: model.customer_id.map(CustomerId),
            key: model.ticket_key,
            ticket: model.ticket_id,
            company: model.company_id,
            state: PsaTicketState::parse(&model.state).ok_or_else(|| {
                Error::corrupt("psa_tickets", "state", &model.state, "unknown state")
            })?,
            opened_status: model.opened_status,
            notes: u32::try_from(model.notes).unwrap_or(0),
            last_error: model.last_error,
            created_at: model.created_at,
            updated_at: model.updated_at,
            last_note_at: model.last_note_at,
            closed_at: model.closed_at,
        })
    }
}

/// What changed about a ticket after an action on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsaTicketChange {
    /// New state.
    pub state: Option<PsaTicketState>,
    /// The episode it now belongs to (a reopened ticket moves to the new alert).
    pub alert: Option<AlertId>,
    /// A note was added at this time.
    pub noted_at: Option<DateTime<Utc>>,
    /// It was closed at this time.
    pub closed_at: Option<DateTime<Utc>>,
    /// It was reopened: the closing time is cleared.
    pub reopened: bool,
    /// The latest failure (`Some("")` clears it).
    pub error: Option<String>,
}

fn associated_data(id: PsaConnectionId) -> Vec<u8> {
    format!("psa_connection:{}", id.0).into_bytes()
}

impl Store {
    /// Creates a PSA connection; its credentials are sealed with `key`, bound to its id.
    pub async fn create_psa_connection(
        &self,
        new: &NewPsaConnection,
        key: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<PsaConnectionRecord> {
        let now = micros(now);
        if psa_connection::Entity::find()
            .filter(psa_connection::Column::Name.eq(new.name.as_str()))
            .one(self.db())
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                what: "PSA connection named",
                key: new.name.clone(),
            });
        }
        let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
        let inserted = psa_connection::ActiveModel {
            name: Set(new.name.clone()),
            kind: Set(new.kind.clone()),
            base_url: Set(new.base_url.clone()),
            credentials: Set(String::new()),
            settings: Set(new.settings.to_json()),
            enabled: Set(new.enabled),
            last_import_at: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let id = PsaConnectionId(inserted.id);
        let sealed = key.encrypt(
            new.credentials.expose_secret().as_bytes(),
            &associated_data(id),
        )?;
        let mut active: psa_connection::ActiveModel = inserted.into();
        active.credentials = Set(sealed);
        let model = active.update(&txn).await?;
        txn.commit().await?;
        Ok(model.into())
    }

    /// Every PSA connection, by name.
    pub async fn psa_connections(&self) -> Result<Vec<PsaConnectionRecord>> {
        Ok(psa_connection::Entity::find()
            .order_by_asc(psa_connection::Column::Name)
            .all(self.reader())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One PSA connection.
    pub async fn psa_connection(&self, id: PsaConnectionId) -> Result<PsaConnectionRecord> {
        Ok(psa_connection::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("PSA connection", id))?
            .into())
    }

    /// The credentials of a PSA connection, unsealed with `key`.
    pub async fn psa_credentials(
        &self,
        id: PsaConnectionId,
        key: &MasterKey,
    ) -> Result<SecretString> {
        let model = psa_connection::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("PSA connection", id))?;
        let bytes = key.decrypt(&model.credentials, &associated_data(id))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::corrupt("psa_connections", "credentials", "(sealed)", "not UTF-8")
        })?;
        Ok(SecretString::from(text))
    }

    /// Changes a PSA connection.
    pub async fn update_psa_connection(
        &self,
        id: PsaConnectionId,
        change: &PsaConnectionChange,
        key: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<PsaConnectionRecord> {
        let model = psa_connection::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("PSA connection", id))?;
        if let Some(name) = &change.name
            && name != &model.name
            && psa_connection::Entity::find()
                .filter(psa_connection::Column::Name.eq(name.as_str()))
                .one(self.db())
                .await?
                .is_some()
        {
            return Err(Error::Conflict {
                what: "PSA connection named",
                key: name.clone(),
            });
        }
        let mut active: psa_connection::ActiveModel = model.into();
        if let Some(name) = &change.name {
            active.name = Set(name.clone());
        }
        if let Some(base_url) = &change.base_url {
            active.base_url = Set(base_url.clone());
        }
        if let Some(credentials) = &change.credentials {
            active.credentials =
                Set(key.encrypt(credentials.expose_secret().as_bytes(), &associated_data(id))?);
        }
        if let Some(settings) = &change.settings {
            active.settings = Set(settings.to_json());
        }
        if let Some(enabled) = change.enabled {
            active.enabled = Set(enabled);
        }
        active.updated_at = Set(micros(now));
        Ok(active.update(self.db()).await?.into())
    }

    /// Deletes a PSA connection with its ticket records (the tickets stay in the PSA).
    pub async fn delete_psa_connection(&self, id: PsaConnectionId) -> Result<()> {
        let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
        psa_ticket::Entity::delete_many()
            .filter(psa_ticket::Column::ConnectionId.eq(id.0))
            .exec(&txn)
            .await?;
        let deleted = psa_connection::Entity::delete_by_id(id.0)
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::not_found("PSA connection", id));
        }
        txn.commit().await?;
        Ok(())
    }

    /// Records how the latest exchange with the PSA went: `error` is `None` after a
    /// success. `imported` marks a company import.
    pub async fn record_psa_outcome(
        &self,
        id: PsaConnectionId,
        error: Option<&str>,
        imported: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut update = psa_connection::Entity::update_many()
            .col_expr(
                psa_connection::Column::LastError,
                Expr::value(error.map(str::to_owned)),
            )
            .filter(psa_connection::Column::Id.eq(id.0));
        if imported {
            update = update.col_expr(
                psa_connection::Column::LastImportAt,
                Expr::value(micros(now)),
            );
        }
        update.exec(self.db()).await?;
        Ok(())
    }

    /// Records a ticket the PSA just created.
    pub async fn insert_psa_ticket(&self, new: &NewPsaTicket) -> Result<PsaTicketRecord> {
        let at = micros(new.at);
        psa_ticket::ActiveModel {
            connection_id: Set(new.connection.0),
            alert_id: Set(Some(new.alert.0)),
            rule_id: Set(new.rule.0),
            connector_id: Set(new.connector.to_string()),
            customer_id: Set(new.customer.map(|c| c.0)),
            ticket_key: Set(new.key.clone()),
            ticket_id: Set(new.ticket.clone()),
            company_id: Set(new.company.clone()),
            state: Set(PsaTicketState::Open.as_str().to_owned()),
            opened_status: Set(new.opened_status.clone()),
            notes: Set(0),
            last_error: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            last_note_at: Set(None),
            closed_at: Set(None),
            ..Default::default()
        }
        .insert(self.db())
        .await?
        .try_into()
    }

    /// The ticket of an alert (episode) in a connection, if one was opened or reopened for it.
    pub async fn psa_ticket_of_alert(
        &self,
        connection: PsaConnectionId,
        alert: AlertId,
    ) -> Result<Option<PsaTicketRecord>> {
        psa_ticket::Entity::find()
            .filter(psa_ticket::Column::ConnectionId.eq(connection.0))
            .filter(psa_ticket::Column::AlertId.eq(alert.0))
            .order_by_desc(psa_ticket::Column::Id)
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// The latest ticket opened for a key (rule and connector) in a connection.
    pub async fn latest_psa_ticket(
        &self,
        connection: PsaConnectionId,
        key: &str,
    ) -> Result<Option<PsaTicketRecord>> {
        psa_ticket::Entity::find()
            .filter(psa_ticket::Column::ConnectionId.eq(connection.0))
            .filter(psa_ticket::Column::TicketKey.eq(key))
            .order_by_desc(psa_ticket::Column::CreatedAt)
            .order_by_desc(psa_ticket::Column::Id)
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Applies a change to a ticket record.
    pub async fn update_psa_ticket(
        &self,
        id: PsaTicketId,
        change: &PsaTicketChange,
        now: DateTime<Utc>,
    ) -> Result<PsaTicketRecord> {
        let model = psa_ticket::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("PSA ticket", id))?;
        let notes = model.notes;
        let mut active: psa_ticket::ActiveModel = model.into();
        if let Some(state) = change.state {
            active.state = Set(state.as_str().to_owned());
        }
        if let Some(alert) = change.alert {
            active.alert_id = Set(Some(alert.0));
        }
        if let Some(at) = change.noted_at {
            active.last_note_at = Set(Some(micros(at)));
            active.notes = Set(notes.saturating_add(1));
        }
        if let Some(at) = change.closed_at {
            active.closed_at = Set(Some(micros(at)));
        }
        if change.reopened {
            active.closed_at = Set(None);
        }
        if let Some(error) = &change.error {
            active.last_error = Set(Some(error.clone()).filter(|e| !e.is_empty()));
        }
        active.updated_at = Set(micros(now));
        active.update(self.db()).await?.try_into()
    }

    /// The latest tickets of a connection (of all connections with `None`), newest first.
    pub async fn psa_tickets(
        &self,
        connection: Option<PsaConnectionId>,
        limit: u64,
    ) -> Result<Vec<PsaTicketRecord>> {
        let mut query = psa_ticket::Entity::find();
        if let Some(connection) = connection {
            query = query.filter(psa_ticket::Column::ConnectionId.eq(connection.0));
        }
        query
            .order_by_desc(psa_ticket::Column::UpdatedAt)
            .order_by_desc(psa_ticket::Column::Id)
            .limit(limit.clamp(1, 1_000))
            .all(self.reader())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
