//! PSA connections, their picklists, company imports and tickets.

use keepit_store::{PsaConnectionRecord, PsaSettings, PsaTicketRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::routes::{Bounded, at_most};

use super::time;

/// A PSA connection. Credentials are never returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PsaConnectionDto {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `connectwise`, `autotask` or `halopsa`.
    #[schema(pattern = "^(connectwise|autotask|halopsa)$")]
    pub kind: String,
    /// The API's base URL (empty for Autotask zone discovery).
    pub base_url: String,
    /// Whether alert notices become tickets.
    pub enabled: bool,
    /// How tickets are filed.
    pub settings: PsaSettingsDto,
    /// When companies were last imported.
    #[schema(format = DateTime)]
    pub last_import_at: Option<String>,
    /// The latest failure talking to the PSA; `null` after a success.
    pub last_error: Option<String>,
    /// Created.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&PsaConnectionRecord> for PsaConnectionDto {
    fn from(record: &PsaConnectionRecord) -> Self {
        PsaConnectionDto {
            id: record.id.0,
            name: record.name.clone(),
            kind: record.kind.clone(),
            base_url: record.base_url.clone(),
            enabled: record.enabled,
            settings: PsaSettingsDto::from(&record.settings),
            last_import_at: record.last_import_at.map(time),
            last_error: record.last_error.clone(),
            created_at: time(record.created_at),
        }
    }
}

/// How tickets are filed. Every id is the PSA's own, as read from
/// `GET /psa-connections/{id}/picklists`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PsaSettingsDto {
    /// Board (ConnectWise), queue (Autotask) or ticket type (Halo).
    pub board: Option<String>,
    /// Status new and reopened tickets get.
    pub new_status: Option<String>,
    /// Status that closes a ticket.
    pub closed_status: Option<String>,
    /// Priority for warning alerts.
    pub priority_warning: Option<String>,
    /// Priority for critical alerts.
    pub priority_critical: Option<String>,
    /// Company for customers without a PSA id.
    pub catch_all_company: Option<String>,
    /// Days within which a closed ticket is reopened when its alert fires again (0: never).
    pub reopen_days: u32,
    /// `close` (close an untouched ticket when its alert resolves) or `note` (only note it).
    #[schema(pattern = "^(close|note)$")]
    pub close_policy: String,
    /// At most one note per ticket for repeats in this many minutes.
    pub note_interval_minutes: u32,
    /// Requests per hour the connection allows itself; `null` takes the PSA's default.
    pub hourly_budget: Option<u32>,
}

impl From<&PsaSettings> for PsaSettingsDto {
    fn from(settings: &PsaSettings) -> Self {
        PsaSettingsDto {
            board: settings.board.clone(),
            new_status: settings.new_status.clone(),
            closed_status: settings.closed_status.clone(),
            priority_warning: settings.priority_warning.clone(),
            priority_critical: settings.priority_critical.clone(),
            catch_all_company: settings.catch_all_company.clone(),
            reopen_days: settings.reopen_days,
            close_policy: if settings.close_on_resolve {
                "close"
            } else {
                "note"
            }
            .to_owned(),
            note_interval_minutes: settings.note_interval_minutes,
            hourly_budget: settings.hourly_budget,
        }
    }
}

/// Body of `POST /psa-connections` and `PATCH /psa-connections/{id}`. Secrets are
/// write-only. On a change, a field left out keeps its value; the credentials are
/// replaced only when one of their fields is given (then all of the kind's are needed).
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PsaConnectionRequest {
    /// Name (unique).
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// `connectwise`, `autotask` or `halopsa` (required to create; cannot change).
    pub kind: Option<String>,
    /// The API's base URL. ConnectWise: the site with its codebase, such as
    /// `https://api-eu.myconnectwise.net/v4_6_release/apis/3.0/`. Autotask: empty to
    /// find the zone from the user name. Halo: the instance, such as `https://acme.halopsa.com`.
    #[schema(max_length = 2048)]
    pub base_url: Option<String>,
    /// ConnectWise: the company id people sign in with.
    #[schema(max_length = 200)]
    pub company_id: Option<String>,
    /// ConnectWise: the API member's public key.
    #[schema(max_length = 200)]
    pub public_key: Option<String>,
    /// ConnectWise: the API member's private key (write-only).
    #[schema(max_length = 1024)]
    pub private_key: Option<String>,
    /// ConnectWise: the integration's client id (write-only). Halo: the application's client id.
    #[schema(max_length = 1024)]
    pub client_id: Option<String>,
    /// Autotask: the API user's user name.
    #[schema(max_length = 320)]
    pub username: Option<String>,
    /// Autotask: the API user's secret (write-only).
    #[schema(max_length = 1024)]
    pub secret: Option<String>,
    /// Autotask: the tracking identifier (write-only).
    #[schema(max_length = 1024)]
    pub integration_code: Option<String>,
    /// Halo: the application's client secret (write-only).
    #[schema(max_length = 1024)]
    pub client_secret: Option<String>,
    /// Halo: the tenant of a Halo-hosted instance.
    #[schema(max_length = 200)]
    pub tenant: Option<String>,
    /// Whether alert notices become tickets (default true).
    pub enabled: Option<bool>,
    /// Board (ConnectWise), queue (Autotask) or ticket type (Halo) id.
    #[schema(max_length = 64)]
    pub board: Option<String>,
    /// Status id for new and reopened tickets.
    #[schema(max_length = 64)]
    pub new_status: Option<String>,
    /// Status id that closes a ticket.
    #[schema(max_length = 64)]
    pub closed_status: Option<String>,
    /// Priority id for warning alerts.
    #[schema(max_length = 64)]
    pub priority_warning: Option<String>,
    /// Priority id for critical alerts.
    #[schema(max_length = 64)]
    pub priority_critical: Option<String>,
    /// Company id for customers without a PSA id.
    #[schema(max_length = 64)]
    pub catch_all_company: Option<String>,
    /// Reopen window in days, 0 to 90 (default 1; 0 never reopens).
    #[schema(minimum = 0, maximum = 90)]
    pub reopen_days: Option<u32>,
    /// `close` (default) or `note`.
    pub close_policy: Option<String>,
    /// 5 to 10080 minutes (default 240).
    #[schema(minimum = 5, maximum = 10080)]
    pub note_interval_minutes: Option<u32>,
    /// 1 to 100000 requests per hour (default: the PSA's).
    #[schema(minimum = 1, maximum = 100000)]
    pub hourly_budget: Option<u32>,
}

impl Bounded for PsaConnectionRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        at_most("name", self.name.as_deref(), 200)?;
        at_most("kind", self.kind.as_deref(), 32)?;
        at_most("base_url", self.base_url.as_deref(), 2048)?;
        for (field, value, max) in [
            ("company_id", &self.company_id, 200),
            ("public_key", &self.public_key, 200),
            ("private_key", &self.private_key, 1024),
            ("client_id", &self.client_id, 1024),
            ("username", &self.username, 320),
            ("secret", &self.secret, 1024),
            ("integration_code", &self.integration_code, 1024),
            ("client_secret", &self.client_secret, 1024),
            ("tenant", &self.tenant, 200),
            ("board", &self.board, 64),
            ("new_status", &self.new_status, 64),
            ("closed_status", &self.closed_status, 64),
            ("priority_warning", &self.priority_warning, 64),
            ("priority_critical", &self.priority_critical, 64),
            ("catch_all_company", &self.catch_all_company, 64),
            ("close_policy", &self.close_policy, 16),
        ] {
            at_most(field, value.as_deref(), max)?;
        }
        if self.reopen_days.is_some_and(|days| days > 90) {
            return Err(AppError::validation("reopen_days", "must be 0 to 90"));
        }
        if self
            .note_interval_minutes
            .is_some_and(|minutes| !(5..=10_080).contains(&minutes))
        {
            return Err(AppError::validation(
                "note_interval_minutes",
                "must be 5 to 10080",
            ));
        }
        if self
            .hourly_budget
            .is_some_and(|budget| !(1..=100_000).contains(&budget))
        {
            return Err(AppError::validation("hourly_budget", "must be 1 to 100000"));
        }
        Ok(())
    }
}

/// The result of testing a PSA connection.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PsaTestDto {
    /// Whether the PSA accepted the credentials and answered.
    pub ok: bool,
    /// What the PSA let us see, when it worked.
    pub message: Option<String>,
    /// What went wrong, when it failed.
    pub error: Option<String>,
}

/// One choice of a PSA picklist.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PicklistEntryDto {
    /// The PSA's id.
    pub id: String,
    /// What people see.
    pub name: String,
    /// For statuses: whether it closes a ticket, when the PSA says.
    pub closes: Option<bool>,
}

/// The choices of one setting.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PicklistDto {
    /// `board`, `status`, `priority` or `outcome`.
    pub field: String,
    /// The choices.
    pub entries: Vec<PicklistEntryDto>,
}

/// What a company import did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompanyImportDto {
    /// Companies the PSA listed.
    pub companies: u64,
    /// Customers created.
    pub inserted: u64,
    /// Customers renamed.
    pub updated: u64,
    /// Customers already up to date.
    pub unchanged: u64,
    /// Keepit accounts linked to a customer by name afterwards.
    pub relinked: u64,
}

/// A ticket keepit-watch opened.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PsaTicketDto {
    /// Row id.
    pub id: i64,
    /// The connection.
    pub connection_id: i64,
    /// The alert it belongs to (its latest episode).
    pub alert_id: Option<i64>,
    /// The PSA's ticket id.
    pub ticket_id: String,
    /// The PSA company.
    pub company_id: String,
    /// keepit-watch's key (rule and connector), also stamped on the ticket.
    pub key: String,
    /// `open`, `closed` (by keepit-watch), `resolved` (alert resolved, ticket left
    /// open with a note) or `left_alone` (closed or deleted by someone in the PSA).
    #[schema(pattern = "^(open|closed|resolved|left_alone)$")]
    pub state: String,
    /// Notes added.
    pub notes: u32,
    /// Opened.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Closed.
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
}

impl From<&PsaTicketRecord> for PsaTicketDto {
    fn from(record: &PsaTicketRecord) -> Self {
        PsaTicketDto {
            id: record.id.0,
            connection_id: record.connection.0,
            alert_id: record.alert.map(|alert| alert.0),
            ticket_id: record.ticket.clone(),
            company_id: record.company.clone(),
            key: record.key.clone(),
            state: record.state.as_str().to_owned(),
            notes: record.notes,
            created_at: time(record.created_at),
            updated_at: time(record.updated_at),
            closed_at: record.closed_at.map(time),
        }
    }
}
