//! HaloPSA REST API.
//!
//! Signs in with OAuth2 client credentials at `{instance}/auth/token`, keeps the
//! bearer token until a minute before it expires, and calls `{instance}/api/...`.
//! A `401` from an API call means the token expired early (or was revoked): it is
//! dropped, a new one fetched, and the call sent once more.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use url::Url;

use crate::error::{Error, Result};
use crate::model::{
    NewTicket, Note, PicklistEntry, PicklistField, Psa, PsaCompany, PsaConfig, PsaCredentials,
    PsaKind, TicketRef, TicketState, summary_with_key,
};
use crate::transport::{Answer, Safety, Transport, json_body, parse};
use crate::wire;

/// Clients read per page.
const PAGE_SIZE: usize = 100;
/// A bound on paging, in case the PSA keeps answering.
const MAX_PAGES: u32 = 500;
/// Halo's limit for a ticket's summary.
const SUMMARY_MAX: usize = 100;
/// How long before its expiry a token is replaced.
const RENEW_EARLY: Duration = Duration::from_secs(60);
/// The token lifetime assumed when the answer states none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The outcome of an internal note: 7 is the built-in "Internal Note" in the
/// instances CIPP works with [code: CIPP]; instances can differ, and Halo refuses
/// actions without an outcome.
const PRIVATE_NOTE_OUTCOME: u64 = 7;

/// A HaloPSA connection. `Debug` shows no secret: the client secret and the token are
/// [`SecretString`]s.
///
/// [`PsaConfig::base_url`] is the instance, such as `https://acme.halopsa.com`
/// (a trailing `/api` is accepted and dropped).
#[derive(Debug)]
pub struct Halo {
    base: Url,
    api: Url,
    client_id: String,
    client_secret: SecretString,
    tenant: Option<String>,
    token: Mutex<Option<Token>>,
    transport: Transport,
}

/// A bearer token and when to replace it.
#[derive(Debug)]
struct Token {
    value: SecretString,
    renew_at: Instant,
}

impl Halo {
    pub(crate) fn new(config: PsaConfig) -> Result<Halo> {
        let PsaCredentials::Halo {
            client_id,
            client_secret,
            tenant,
        } = config.credentials
        else {
            return Err(Error::Config(
                "these credentials are not for HaloPSA".into(),
            ));
        };
        let client_id = client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::Config("the HaloPSA client id is missing".into()));
        }
        if client_secret.expose_secret().trim().is_empty() {
            return Err(Error::Config("the HaloPSA client secret is missing".into()));
        }
        let tenant = tenant
            .map(|tenant| tenant.trim().to_owned())
            .filter(|tenant| !tenant.is_empty());
        let mut base = wire::base_url(&config.base_url, "HaloPSA")?;
        if base.path().to_ascii_lowercase().ends_with("/api/") {
            let path = base.path();
            let path = path[..path.len() - "api/".len()].to_owned();
            base.set_path(&path);
        }
        let api = wire::endpoint(&base, "api/", &[])?;
        let transport = Transport::new(
            config.hourly_budget,
            config.max_in_flight,
            config.retry,
            read_error,
        )?;
        Ok(Halo {
            base,
            api,
            client_id,
            client_secret,
            tenant,
            token: Mutex::new(None),
            transport,
        })
    }

    /// The current token, signing in when there is none or it is about to expire. The
    /// lock is held while signing in, so concurrent calls wait for one new token.
    async fn token(&self) -> Result<SecretString> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let token = self.sign_in().await?;
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Forgets `used` if it is still the current token.
    async fn drop_token(&self, used: &SecretString) {
        let mut slot = self.token.lock().await;
        if slot
            .as_ref()
            .is_some_and(|token| token.value.expose_secret() == used.expose_secret())
        {
            *slot = None;
        }
    }

    async fn sign_in(&self) -> Result<Token> {
        let mut url = wire::endpoint(&self.base, "auth/token", &[])?;
        if let Some(tenant) = &self.tenant {
            url.set_query(Some(&format!("tenant={}", wire::encode(tenant))));
        }
        let form = SecretString::from(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &self.client_id)
                .append_pair("client_secret", self.client_secret.expose_secret())
                .append_pair("scope", "all")
                .finish(),
        );
        let answer = self
            .transport
            .send("signing in", Safety::Repeatable, |http| {
                http.post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.expose_secret().to_owned())
            })
            .await
            .map_err(|error| match error {
                // OAuth servers answer bad client credentials with 400 `invalid_client`.
                Error::Refused { status, message } if (400..500).contains(&status) => {
                    Error::Unauthorized { message }
                }
                Error::NotFound { .. } => Error::Config(
                    "HaloPSA has no sign-in at this address; check the instance URL".into(),
                ),
                other => other,
            })?;
        // Parsed by hand, so that no parse error can quote the token.
        let Ok(granted) = serde_json::from_str::<Granted>(&answer.body) else {
            return Err(Error::Unexpected {
                what: "signing in",
                detail: "the answer is not a token".into(),
            });
        };
        let Some(value) = granted
            .access_token
            .filter(|token| !token.trim().is_empty())
            .map(SecretString::from)
        else {
            return Err(Error::Unexpected {
                what: "signing in",
                detail: "the answer carries no access token".into(),
            });
        };
        if bearer(&value).is_none() {
            return Err(Error::Unexpected {
                what: "signing in",
                detail: "the access token cannot travel in an HTTP header".into(),
            });
        }
        let lifetime = granted
            .expires_in
            .as_ref()
            .and_then(wire::id_of)
            .and_then(|seconds| seconds.parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .map_or(DEFAULT_LIFETIME, |seconds| {
                Duration::from_secs(seconds.min(365.0 * 86_400.0) as u64)
            });
        Ok(Token {
            value,
            renew_at: Instant::now() + lifetime.saturating_sub(RENEW_EARLY),
        })
    }

    /// Sends an API call with the current token; after a `401` once more with a new one.
    async fn call(
        &self,
        what: &'static str,
        safety: Safety,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let body = body.map(json_body);
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let result = self
                .transport
                .send(what, safety, |http| {
                    let mut builder = http.request(method.clone(), url.clone());
                    if let Some(value) = bearer(&token) {
                        builder = builder.header(AUTHORIZATION, value);
                    }
                    match &body {
                        Some(body) => builder
                            .header(CONTENT_TYPE, "application/json")
                            .body(body.clone()),
                        None => builder,
                    }
                })
                .await;
            match result {
                // A refused token means the call was not carried out, so even a
                // creation may be sent again.
                Err(Error::Unauthorized { .. }) if !renewed => {
                    tracing::debug!(what, "HaloPSA refused the token; signing in again");
                    self.drop_token(&token).await;
                    renewed = true;
                }
                other => return other,
            }
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url> {
        wire::endpoint(&self.api, path, query)
    }

    async fn get(&self, what: &'static str, path: &str, query: &[(&str, &str)]) -> Result<Answer> {
        let url = self.url(path, query)?;
        self.call(what, Safety::Repeatable, Method::GET, url, None)
            .await
    }

    /// The rows of a list, typed; rows that do not fit are skipped.
    async fn list<T: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        let answer = self.get(what, path, query).await?;
        let value: Value = parse(what, &answer.body)?;
        Ok(typed_rows(what, value))
    }
}

fn typed_rows<T: DeserializeOwned>(what: &'static str, value: Value) -> Vec<T> {
    wire::rows(value)
        .into_iter()
        .filter_map(|row| match serde_json::from_value(row) {
            Ok(row) => Some(row),
            Err(error) => {
                tracing::debug!(what, %error, "skipped a HaloPSA row that does not fit");
                None
            }
        })
        .collect()
}

fn bearer(token: &SecretString) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[derive(Deserialize)]
struct Granted {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
}

/// A client, ticket type, status or outcome: ids come as numbers, names under
/// several keys.
#[derive(Deserialize)]
struct Row {
    #[serde(default, deserialize_with = "wire::opt_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_id")]
    priorityid: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    buttonname: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_flag")]
    inactive: Option<bool>,
}

#[derive(Deserialize)]
struct ClientPage {
    #[serde(default)]
    record_count: Option<u64>,
    #[serde(default)]
    clients: Vec<Value>,
}

#[derive(Deserialize)]
struct Ticket {
    #[serde(default, deserialize_with = "wire::opt_id")]
    id: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_flag")]
    hasbeenclosed: Option<bool>,
    #[serde(default, deserialize_with = "wire::opt_id")]
    status_id: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_id")]
    agent_id: Option<String>,
}

/// Halo's error bodies vary: `{resultCode, errorMessage}`, `{ClassName, Message}`,
/// `{Message}`, `{error, error_description}`; read whichever is there. Nothing is
/// permanent: Halo reports refusals as 4xx.
fn read_error(status: u16, body: &str) -> (String, bool) {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(body) else {
        return (wire::fallback_message(status, body), false);
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| wire::message_of(value).or_else(|| wire::id_of(value)))
    };
    let message = field("errorMessage")
        .or_else(|| field("Message"))
        .or_else(|| field("error_description"))
        .or_else(|| field("error"))
        .or_else(|| field("ClassName"))
        .or_else(|| field("resultCode"))
        .unwrap_or_else(|| wire::fallback_message(status, body));
    (message, false)
}

fn entries(rows: Vec<Row>, name_of: fn(&Row) -> Option<String>) -> Vec<PicklistEntry> {
    let mut entries: Vec<PicklistEntry> = Vec::new();
    for row in rows.into_iter().filter(|row| row.inactive != Some(true)) {
        let Some(id) = row.priorityid.clone().or_else(|| row.id.clone()) else {
            continue;
        };
        // Priorities repeat once per SLA with the same `priorityid`.
        if entries.iter().any(|entry| entry.id == id) {
            continue;
        }
        let name = name_of(&row).unwrap_or_else(|| id.clone());
        entries.push(PicklistEntry {
            id,
            name,
            closes: None,
        });
    }
    entries
}

fn first_object(value: Value) -> Value {
    match value {
        Value::Array(rows) => rows.into_iter().next().unwrap_or(Value::Null),
        other => other,
    }
}

impl Psa for Halo {
    fn kind(&self) -> PsaKind {
        PsaKind::Halo
    }

    async fn test(&self) -> Result<String> {
        let answer = self
            .get(
                "the sign-in test",
                "Client",
                &[("pageinate", "true"), ("page_size", "1"), ("page_no", "1")],
            )
            .await?;
        let page: ClientPage = parse("the sign-in test", &answer.body)?;
        let count = page
            .record_count
            .map_or(String::new(), |count| format!(" ({count} clients)"));
        Ok(format!(
            "signed in to HaloPSA as application {} and read its clients{count}",
            self.client_id
        ))
    }

    async fn companies(&self) -> Result<Vec<PsaCompany>> {
        let size = PAGE_SIZE.to_string();
        let mut companies = Vec::new();
        let mut read = 0_u64;
        for page in 1..=MAX_PAGES {
            let number = page.to_string();
            let answer = self
                .get(
                    "companies",
                    "Client",
                    &[
                        ("pageinate", "true"),
                        ("page_size", &size),
                        ("page_no", &number),
                        ("includeinactive", "false"),
                    ],
                )
                .await?;
            let page: ClientPage = parse("companies", &answer.body)?;
            let count = page.clients.len();
            read += count as u64;
            let rows: Vec<Row> = typed_rows("companies", Value::Array(page.clients));
            companies.extend(
                rows.into_iter()
                    .filter(|row| row.inactive != Some(true))
                    .filter_map(|row| {
                        let id = row.id?;
                        Some(PsaCompany {
                            name: row.name.unwrap_or_else(|| id.clone()),
                            id,
                        })
                    }),
            );
            let done = match page.record_count {
                Some(total) => read >= total,
                None => count < PAGE_SIZE,
            };
            if count == 0 || done {
                return Ok(companies);
            }
        }
        tracing::warn!("HaloPSA kept offering clients; stopped reading");
        Ok(companies)
    }

    async fn picklists(&self) -> Result<Vec<PicklistField>> {
        let types: Vec<Row> = self.list("ticket types", "TicketType", &[]).await?;
        let statuses: Vec<Row> = self.list("statuses", "Status", &[]).await?;
        let priorities: Vec<Row> = self.list("priorities", "Priority", &[]).await?;
        let outcomes: Vec<Row> = self.list("outcomes", "Outcome", &[]).await?;
        let mut statuses = entries(statuses, |row| row.name.clone());
        for status in &mut statuses {
            // Halo does not flag closing statuses in a documented way; the name is the
            // best hint ("Closed" is the built-in one). Unknown otherwise.
            if status.name.to_lowercase().contains("closed") {
                status.closes = Some(true);
            }
        }
        Ok(vec![
            PicklistField {
                field: "board",
                entries: entries(types, |row| row.name.clone()),
            },
            PicklistField {
                field: "status",
                entries: statuses,
            },
            PicklistField {
                field: "priority",
                entries: entries(priorities, |row| row.name.clone()),
            },
            PicklistField {
                field: "outcome",
                entries: entries(outcomes, |row| {
                    row.outcome
                        .clone()
                        .or_else(|| row.name.clone())
                        .or_else(|| row.buttonname.clone())
                }),
            },
        ])
    }

    async fn find_open_ticket(&self, key: &str, company: &str) -> Result<Option<TicketRef>> {
        let tag = format!("[{key}]");
        let tickets: Vec<Ticket> = self
            .list(
                "open tickets",
                "Tickets",
                &[
                    ("client_id", company.trim()),
                    ("open_only", "true"),
                    ("search", key),
                    ("pageinate", "true"),
                    ("page_size", "50"),
                    ("page_no", "1"),
                ],
            )
            .await?;
        // Halo's search matches loosely; only a summary carrying the tag counts.
        Ok(tickets
            .into_iter()
            .filter(|ticket| {
                ticket
                    .summary
                    .as_deref()
                    .is_some_and(|summary| summary.contains(&tag))
            })
            .find_map(|ticket| ticket.id)
            .map(|id| TicketRef { id }))
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<TicketRef> {
        let mut body = Map::new();
        body.insert("client_id".into(), wire::json_id(&ticket.company));
        body.insert(
            "summary".into(),
            summary_with_key(&ticket.summary, &ticket.key, SUMMARY_MAX).into(),
        );
        body.insert("details".into(), ticket.body.clone().into());
        for (field, value) in [
            ("tickettype_id", &ticket.board),
            ("status_id", &ticket.status),
            ("priority_id", &ticket.priority),
        ] {
            if let Some(value) = value {
                body.insert(field.into(), wire::json_id(value));
            }
        }
        body.insert("donotapplytemplateintheapi".into(), true.into());
        let url = self.url("Tickets", &[])?;
        let answer = self
            .call(
                "creating a ticket",
                Safety::Once,
                Method::POST,
                url,
                Some(&Value::Array(vec![Value::Object(body)])),
            )
            .await?;
        // The created ticket comes back as an object, or an array of one.
        let value: Value = parse("creating a ticket", &answer.body)?;
        let id = first_object(value)
            .get("id")
            .and_then(wire::id_of)
            .filter(|id| id != "0")
            .ok_or(Error::Unexpected {
                what: "creating a ticket",
                detail: "the answer carries no ticket id".into(),
            })?;
        Ok(TicketRef { id })
    }

    async fn add_note(&self, ticket: &str, note: &Note) -> Result<()> {
        // Plain text goes in `note`; CIPP sends `note_html`, which would need escaping.
        let body = json!([{
            "ticket_id": wire::number("ticket id", ticket)?,
            "note": note.text,
            "outcome_id": PRIVATE_NOTE_OUTCOME,
            "hiddenfromuser": true,
        }]);
        let url = self.url("Actions", &[])?;
        self.call(
            "adding a note",
            Safety::Once,
            Method::POST,
            url,
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn set_status(&self, ticket: &str, status: &str) -> Result<()> {
        // An update is a POST of the ticket's id with the changed fields [inferred].
        let body = json!([{
            "id": wire::number("ticket id", ticket)?,
            "status_id": wire::json_id(status),
        }]);
        let url = self.url("Tickets", &[])?;
        self.call(
            "changing a ticket's status",
            Safety::Repeatable,
            Method::POST,
            url,
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn ticket_state(&self, ticket: &str) -> Result<Option<TicketState>> {
        let path = format!("Tickets/{}", wire::number("ticket id", ticket)?);
        let answer = match self.get("a ticket", &path, &[]).await {
            Ok(answer) => answer,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let ticket: Ticket = parse("a ticket", &answer.body)?;
        if ticket.id.is_none() {
            return Ok(None);
        }
        let assigned = ticket
            .agent_id
            .as_deref()
            .and_then(|agent| agent.parse::<f64>().ok())
            .is_some_and(|agent| agent > 0.0);
        Ok(Some(TicketState {
            closed: ticket.hasbeenclosed.unwrap_or(false),
            status: ticket.status_id,
            assigned,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_from_any_of_halos_shapes() {
        assert_eq!(
            read_error(400, r#"{"resultCode":1,"errorMessage":"bad client"}"#).0,
            "bad client"
        );
        assert_eq!(
            read_error(400, r#"{"ClassName":"X","Message":"nope"}"#).0,
            "nope"
        );
        assert_eq!(read_error(400, r#"{"message":"lower"}"#).0, "lower");
        assert_eq!(
            read_error(
                400,
                r#"{"error":"invalid_client","error_description":"Bad secret"}"#
            )
            .0,
            "Bad secret"
        );
        assert_eq!(
            read_error(400, r#"{"error":"invalid_client"}"#).0,
            "invalid_client"
        );
        assert!(!read_error(500, "{}").1);
    }

    #[test]
    fn lists_are_read_bare_or_wrapped() {
        let rows: Vec<Row> = typed_rows(
            "x",
            json!({"record_count": 1, "statuses": [{"id": 9, "name": "Closed"}]}),
        );
        assert_eq!(rows.len(), 1);
        let rows: Vec<Row> = typed_rows("x", json!([{"id": "1"}, {"id": {"bad": 1}}, 3]));
        assert_eq!(rows.len(), 2);
    }
}
