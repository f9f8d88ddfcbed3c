//! What every PSA client offers, and the settings that build one.

use std::fmt;
use std::future::Future;

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::transport::RetryPolicy;
use crate::{Autotask, ConnectWise, Halo};

/// Which PSA a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PsaKind {
    /// ConnectWise PSA (formerly Manage), REST API 3.0.
    ConnectWise,
    /// Autotask (Datto/Kaseya) REST API v1.0.
    Autotask,
    /// HaloPSA.
    Halo,
}

impl PsaKind {
    /// Every kind, in the order pages list them.
    pub const ALL: [PsaKind; 3] = [PsaKind::ConnectWise, PsaKind::Autotask, PsaKind::Halo];

    /// The stored and API name: `connectwise`, `autotask` or `halopsa`.
    pub fn as_str(self) -> &'static str {
        match self {
            PsaKind::ConnectWise => "connectwise",
            PsaKind::Autotask => "autotask",
            PsaKind::Halo => "halopsa",
        }
    }

    /// Reads a stored or API name.
    pub fn parse(text: &str) -> Option<PsaKind> {
        PsaKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            PsaKind::ConnectWise => "ConnectWise PSA",
            PsaKind::Autotask => "Autotask",
            PsaKind::Halo => "HaloPSA",
        }
    }

    /// What this PSA calls the place tickets land: a board, a queue or a ticket type.
    pub fn board_label(self) -> &'static str {
        match self {
            PsaKind::ConnectWise => "board",
            PsaKind::Autotask => "queue",
            PsaKind::Halo => "ticket type",
        }
    }

    /// Requests per hour a connection allows itself unless configured otherwise. Low
    /// for Autotask, whose 10,000 an hour are shared by every tool of the MSP; Halo
    /// allows 300 per rolling 5 minutes.
    pub fn default_hourly_budget(self) -> u32 {
        match self {
            PsaKind::ConnectWise => 3_000,
            PsaKind::Autotask => 600,
            PsaKind::Halo => 1_200,
        }
    }
}

impl fmt::Display for PsaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a connection signs in. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum PsaCredentials {
    /// An API member's keys and the integration's client id.
    ConnectWise {
        /// The company id people sign in with.
        company_id: String,
        /// The API member's public key.
        public_key: String,
        /// The API member's private key.
        private_key: SecretString,
        /// The client id registered for this integration.
        client_id: SecretString,
    },
    /// An API-only user.
    Autotask {
        /// The API user's user name (an e-mail address).
        username: String,
        /// Its secret.
        secret: SecretString,
        /// The integration's tracking identifier.
        integration_code: SecretString,
    },
    /// An OAuth2 client-credentials application.
    Halo {
        /// The application's client id.
        client_id: String,
        /// Its secret.
        client_secret: SecretString,
        /// The tenant, for Halo-hosted instances.
        tenant: Option<String>,
    },
}

impl PsaCredentials {
    /// The credentials as one JSON document, the form they are sealed and stored in.
    pub fn to_json(&self) -> SecretString {
        use secrecy::ExposeSecret as _;
        let value = match self {
            PsaCredentials::ConnectWise {
                company_id,
                public_key,
                private_key,
                client_id,
            } => serde_json::json!({
                "company_id": company_id,
                "public_key": public_key,
                "private_key": private_key.expose_secret(),
                "client_id": client_id.expose_secret(),
            }),
            PsaCredentials::Autotask {
                username,
                secret,
                integration_code,
            } => serde_json::json!({
                "username": username,
                "secret": secret.expose_secret(),
                "integration_code": integration_code.expose_secret(),
            }),
            PsaCredentials::Halo {
                client_id,
                client_secret,
                tenant,
            } => serde_json::json!({
                "client_id": client_id,
                "client_secret": client_secret.expose_secret(),
                "tenant": tenant,
            }),
        };
        SecretString::from(value.to_string())
    }

    /// Reads credentials stored by [`PsaCredentials::to_json`]. The error names the
    /// missing field, never a value.
    pub fn from_json(kind: PsaKind, json: &str) -> Result<PsaCredentials> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|_| Error::Config("the stored credentials are not readable".into()))?;
        let field = |name: &str| -> Result<String> {
            value
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Error::Config(format!("the credentials lack `{name}`")))
        };
        Ok(match kind {
            PsaKind::ConnectWise => PsaCredentials::ConnectWise {
                company_id: field("company_id")?,
                public_key: field("public_key")?,
                private_key: SecretString::from(field("private_key")?),
                client_id: SecretString::from(field("client_id")?),
            },
            PsaKind::Autotask => PsaCredentials::Autotask {
                username: field("username")?,
                secret: SecretString::from(field("secret")?),
                integration_code: SecretString::from(field("integration_code")?),
            },
            PsaKind::Halo => PsaCredentials::Halo {
                client_id: field("client_id")?,
                client_secret: SecretString::from(field("client_secret")?),
                tenant: field("tenant").ok(),
            },
        })
    }

    /// The kind of PSA these credentials are for.
    pub fn kind(&self) -> PsaKind {
        match self {
            PsaCredentials::ConnectWise { .. } => PsaKind::ConnectWise,
            PsaCredentials::Autotask { .. } => PsaKind::Autotask,
            PsaCredentials::Halo { .. } => PsaKind::Halo,
        }
    }
}

/// Everything needed to build a client.
#[derive(Debug, Clone)]
pub struct PsaConfig {
    /// The API's base URL. ConnectWise: the site with its codebase, such as
    /// `https://api-eu.myconnectwise.net/v4_6_release/apis/3.0/`. Autotask: empty to
    /// discover the zone from the user name, or the zone's URL. Halo: the instance,
    /// such as `https://acme.halopsa.com`.
    pub base_url: String,
    /// How to sign in.
    pub credentials: PsaCredentials,
    /// Requests this connection may send per hour.
    pub hourly_budget: u32,
    /// Requests in flight at once (Autotask allows 3 per endpoint).
    pub max_in_flight: usize,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
}

impl PsaConfig {
    /// A configuration with the kind's default budget and two requests at a time.
    pub fn new(base_url: impl Into<String>, credentials: PsaCredentials) -> PsaConfig {
        let kind = credentials.kind();
        PsaConfig {
            base_url: base_url.into(),
            credentials,
            hourly_budget: kind.default_hourly_budget(),
            max_in_flight: 2,
            retry: RetryPolicy::default(),
        }
    }
}

/// A company (client, account) in the PSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsaCompany {
    /// The PSA's id, as text.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// One choice of a PSA picklist (a board, a status, a priority...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicklistEntry {
    /// The PSA's id, as text.
    pub id: String,
    /// What people see.
    pub name: String,
    /// For statuses: whether it closes a ticket, when the PSA says.
    pub closes: Option<bool>,
}

/// The choices of one setting, as the PSA lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PicklistField {
    /// `board` (board, queue or ticket type, see [`PsaKind::board_label`]), `status`,
    /// `priority` or `outcome` (Halo's note outcomes).
    pub field: &'static str,
    /// The choices.
    pub entries: Vec<PicklistEntry>,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    /// keepit-watch's key for the alert, stored where the PSA has an external
    /// reference (ConnectWise `externalXRef`) and always at the end of the summary, so
    /// the ticket can be found again after a crash.
    pub key: String,
    /// The PSA company.
    pub company: String,
    /// The summary (cut to the PSA's limit, the key kept).
    pub summary: String,
    /// The description, plain text.
    pub body: String,
    /// Board, queue or ticket type.
    pub board: Option<String>,
    /// Status to open with (the PSA's default when `None`).
    pub status: Option<String>,
    /// Priority.
    pub priority: Option<String>,
}

/// A ticket that exists in the PSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRef {
    /// The PSA's id, as text.
    pub id: String,
}

/// Where a ticket stands in the PSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    /// Whether the PSA counts it closed.
    pub closed: bool,
    /// Its status id.
    pub status: Option<String>,
    /// Whether a technician is assigned (then someone is working on it).
    pub assigned: bool,
}

/// A note to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Plain text.
    pub text: String,
    /// Whether it records a resolution.
    pub resolution: bool,
}

/// What keepit-watch asks of a PSA. One implementation per PSA; wire types stay private.
pub trait Psa: Send + Sync {
    /// Which PSA this is.
    fn kind(&self) -> PsaKind;

    /// Signs in and reads one page of companies: proves the URL, the credentials and
    /// the permission to read companies. Answers a line for people.
    fn test(&self) -> impl Future<Output = Result<String>> + Send;

    /// Every active company, all pages.
    fn companies(&self) -> impl Future<Output = Result<Vec<PsaCompany>>> + Send;

    /// The boards (queues, ticket types), statuses and priorities to choose from.
    fn picklists(&self) -> impl Future<Output = Result<Vec<PicklistField>>> + Send;

    /// An open ticket of `company` carrying `key`, if one exists.
    fn find_open_ticket(
        &self,
        key: &str,
        company: &str,
    ) -> impl Future<Output = Result<Option<TicketRef>>> + Send;

    /// Opens a ticket.
    fn create_ticket(&self, ticket: &NewTicket) -> impl Future<Output = Result<TicketRef>> + Send;

    /// Adds a note to a ticket.
    fn add_note(&self, ticket: &str, note: &Note) -> impl Future<Output = Result<()>> + Send;

    /// Moves a ticket to a status (closing or reopening it).
    fn set_status(&self, ticket: &str, status: &str) -> impl Future<Output = Result<()>> + Send;

    /// Where a ticket stands; `None` when it no longer exists.
    fn ticket_state(
        &self,
        ticket: &str,
    ) -> impl Future<Output = Result<Option<TicketState>>> + Send;
}

/// Any of the three clients, chosen by the credentials.
#[derive(Debug)]
pub enum AnyPsa {
    /// ConnectWise PSA.
    ConnectWise(ConnectWise),
    /// Autotask.
    Autotask(Autotask),
    /// HaloPSA.
    Halo(Halo),
}

impl AnyPsa {
    /// The client for `config`.
    pub fn connect(config: PsaConfig) -> Result<AnyPsa> {
        if config.hourly_budget == 0 {
            return Err(Error::Config(
                "the hourly request budget must be at least 1".into(),
            ));
        }
        Ok(match config.credentials.kind() {
            PsaKind::ConnectWise => AnyPsa::ConnectWise(ConnectWise::new(config)?),
            PsaKind::Autotask => AnyPsa::Autotask(Autotask::new(config)?),
            PsaKind::Halo => AnyPsa::Halo(Halo::new(config)?),
        })
    }
}

macro_rules! each {
    ($self:ident, $psa:ident => $call:expr) => {
        match $self {
            AnyPsa::ConnectWise($psa) => $call.await,
            AnyPsa::Autotask($psa) => $call.await,
            AnyPsa::Halo($psa) => $call.await,
        }
    };
}

impl Psa for AnyPsa {
    fn kind(&self) -> PsaKind {
        match self {
            AnyPsa::ConnectWise(psa) => psa.kind(),
            AnyPsa::Autotask(psa) => psa.kind(),
            AnyPsa::Halo(psa) => psa.kind(),
        }
    }

    async fn test(&self) -> Result<String> {
        each!(self, psa => psa.test())
    }

    async fn companies(&self) -> Result<Vec<PsaCompany>> {
        each!(self, psa => psa.companies())
    }

    async fn picklists(&self) -> Result<Vec<PicklistField>> {
        each!(self, psa => psa.picklists())
    }

    async fn find_open_ticket(&self, key: &str, company: &str) -> Result<Option<TicketRef>> {
        each!(self, psa => psa.find_open_ticket(key, company))
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<TicketRef> {
        each!(self, psa => psa.create_ticket(ticket))
    }

    async fn add_note(&self, ticket: &str, note: &Note) -> Result<()> {
        each!(self, psa => psa.add_note(ticket, note))
    }

    async fn set_status(&self, ticket: &str, status: &str) -> Result<()> {
        each!(self, psa => psa.set_status(ticket, status))
    }

    async fn ticket_state(&self, ticket: &str) -> Result<Option<TicketState>> {
        each!(self, psa => psa.ticket_state(ticket))
    }
}

/// A summary cut to `max` characters with `[key]` kept at its end.
pub(crate) fn summary_with_key(summary: &str, key: &str, max: usize) -> String {
    let tag = format!(" [{key}]");
    let room = max.saturating_sub(tag.chars().count());
    let mut text: String = summary.chars().take(room).collect();
    if text.chars().count() < summary.chars().count() && room > 0 {
        text.pop();
        text.push('…');
    }
    text.push_str(&tag);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_summaries_keep_their_key() {
        for kind in PsaKind::ALL {
            assert_eq!(PsaKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PsaKind::parse("HaloPSA"), Some(PsaKind::Halo));
        assert_eq!(PsaKind::parse("jira"), None);
        assert_eq!(
            summary_with_key("Backup failing", "kw-1-2", 100),
            "Backup failing [kw-1-2]"
        );
        let long = "x".repeat(200);
        let cut = summary_with_key(&long, "kw-1-2", 100);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with("… [kw-1-2]"), "{cut}");
    }

    #[test]
    fn credentials_round_trip_through_json_and_name_what_is_missing() {
        use secrecy::ExposeSecret as _;
        let credentials = PsaCredentials::Autotask {
            username: "api@msp.example".into(),
            secret: SecretString::from("at-secret"),
            integration_code: SecretString::from("TRACKING"),
        };
        let json = credentials.to_json();
        let back = PsaCredentials::from_json(PsaKind::Autotask, json.expose_secret()).unwrap();
        assert_eq!(back.to_json().expose_secret(), json.expose_secret());
        let error = PsaCredentials::from_json(PsaKind::ConnectWise, json.expose_secret())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("company_id") && !error.contains("at-secret"),
            "{error}"
        );
    }

    #[test]
    fn credentials_never_show_their_secrets() {
        let credentials = PsaCredentials::Halo {
            client_id: "app".into(),
            client_secret: SecretString::from("s3cret-value"),
            tenant: Some("acme".into()),
        };
        let shown = format!(
            "{:?}",
            PsaConfig::new("https://acme.halopsa.com", credentials)
        );
        assert!(!shown.contains("s3cret-value"), "{shown}");
    }
}
