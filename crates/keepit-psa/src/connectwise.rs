//! ConnectWise PSA (Manage) REST API 3.0.
//!
//! Basic authentication with `companyId+publicKey:privateKey`, the integration's
//! `clientId` header, and the model pinned with the versioned `Accept` header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::error::{Error, Result};
use crate::model::{
    NewTicket, Note, PicklistEntry, PicklistField, Psa, PsaCompany, PsaConfig, PsaCredentials,
    PsaKind, TicketRef, TicketState, summary_with_key,
};
use crate::transport::{Answer, Safety, Transport, json_body, parse};
use crate::wire;

/// The API model version this client is written against.
const ACCEPT_VERSION: &str = "application/vnd.connectwise.com+json; version=2019.1";
/// ConnectWise's largest page.
const PAGE_SIZE: usize = 1000;
/// A bound on paging, in case the PSA keeps answering full pages.
const MAX_PAGES: u32 = 500;
/// Statuses belong to a board; they are read for this many boards at most, to keep
/// within the request budget on instances with very many boards.
const MAX_STATUS_BOARDS: usize = 30;
/// ConnectWise's limit for `summary` and `externalXRef`.
const FIELD_MAX: usize = 100;

/// A ConnectWise PSA (Manage) connection. `Debug` shows no secret: the
/// `Authorization` value and the client id are kept as [`SecretString`]s.
#[derive(Debug)]
pub struct ConnectWise {
    base: Url,
    company_id: String,
    authorization: SecretString,
    client_id: SecretString,
    transport: Transport,
}

impl ConnectWise {
    pub(crate) fn new(config: PsaConfig) -> Result<ConnectWise> {
        let PsaCredentials::ConnectWise {
            company_id,
            public_key,
            private_key,
            client_id,
        } = config.credentials
        else {
            return Err(Error::Config(
                "these credentials are not for ConnectWise PSA".into(),
            ));
        };
        let company_id = company_id.trim().to_owned();
        let public_key = public_key.trim().to_owned();
        if company_id.is_empty() {
            return Err(Error::Config(
                "the ConnectWise company id is missing".into(),
            ));
        }
        if public_key.is_empty() {
            return Err(Error::Config(
                "the ConnectWise public key is missing".into(),
            ));
        }
        if private_key.expose_secret().trim().is_empty() {
            return Err(Error::Config(
                "the ConnectWise private key is missing".into(),
            ));
        }
        let base = wire::base_url(&config.base_url, "ConnectWise PSA")?;
        let token = BASE64.encode(format!(
            "{company_id}+{public_key}:{}",
            private_key.expose_secret().trim()
        ));
        let authorization = SecretString::from(format!("Basic {token}"));
        wire::check_header(&authorization, "ConnectWise API key")?;
        wire::check_header(&client_id, "ConnectWise client id")?;
        let transport = Transport::new(
            config.hourly_budget,
            config.max_in_flight,
            config.retry,
            read_error,
        )?;
        Ok(ConnectWise {
            base,
            company_id,
            authorization,
            client_id,
            transport,
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url> {
        wire::endpoint(&self.base, path, query)
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: Method,
        url: &Url,
    ) -> reqwest::RequestBuilder {
        let mut builder = http
            .request(method, url.clone())
            .header(ACCEPT, ACCEPT_VERSION);
        if let Some(value) = wire::secret_header(&self.authorization) {
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(value) = wire::secret_header(&self.client_id) {
            builder = builder.header("clientId", value);
        }
        builder
    }

    async fn get(&self, what: &'static str, url: Url) -> Result<Answer> {
        self.transport
            .send(what, Safety::Repeatable, |http| {
                self.request(http, Method::GET, &url)
            })
            .await
    }

    async fn send_json(
        &self,
        what: &'static str,
        safety: Safety,
        method: Method,
        url: Url,
        body: &Value,
    ) -> Result<Answer> {
        let body = json_body(body);
        self.transport
            .send(what, safety, |http| {
                self.request(http, method.clone(), &url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await
    }

    /// Every row of a paged list: pages of 1,000 until a short page, or until the
    /// `Link` header stops offering `rel="next"`.
    async fn all_pages(
        &self,
        what: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Named>> {
        let mut rows = Vec::new();
        let size = PAGE_SIZE.to_string();
        for page in 1..=MAX_PAGES {
            let number = page.to_string();
            let mut query = query.to_vec();
            query.push(("pageSize", &size));
            query.push(("page", &number));
            let answer = self.get(what, self.url(path, &query)?).await?;
            let batch: Vec<Named> = parse(what, &answer.body)?;
            let count = batch.len();
            rows.extend(batch);
            if count < PAGE_SIZE || !offers_next_page(&answer.headers) {
                return Ok(rows);
            }
        }
        tracing::warn!(what, "ConnectWise PSA kept offering pages; stopped reading");
        Ok(rows)
    }
}

/// Whether a full page may have a successor. The `Link` header decides when present;
/// when it is absent (a proxy may drop it), a full page is followed anyway and the
/// next, short page ends the loop.
fn offers_next_page(headers: &HeaderMap) -> bool {
    let mut links = headers.get_all(LINK).iter().peekable();
    if links.peek().is_none() {
        return true;
    }
    links.any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').any(|link| {
                link.split(';').skip(1).any(|param| {
                    let param = param.trim().to_ascii_lowercase();
                    param == "rel=\"next\"" || param == "rel=next"
                })
            })
        })
    })
}

/// A record with an id and a name (companies, boards, priorities, tickets).
#[derive(Deserialize)]
struct Named {
    #[serde(default, deserialize_with = "wire::opt_id")]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// A board status.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoardStatus {
    #[serde(default, deserialize_with = "wire::opt_id")]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_flag")]
    closed_status: Option<bool>,
    #[serde(default, deserialize_with = "wire::opt_flag")]
    inactive: Option<bool>,
}

/// A reference to another record, such as `{"id": 5, "name": "New"}`.
#[derive(Deserialize)]
struct Reference {
    #[serde(default, deserialize_with = "wire::opt_id")]
    id: Option<String>,
}

/// The parts of a ticket this client reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ticket {
    #[serde(default, deserialize_with = "wire::opt_flag")]
    closed_flag: Option<bool>,
    #[serde(default)]
    status: Option<Reference>,
    #[serde(default)]
    owner: Option<Value>,
    #[serde(default)]
    resources: Option<Value>,
}

/// `{code, message, errors: [{message}]}`; the shape of `errors` entries is not
/// documented, so strings and objects with a `message` are both read.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    errors: Option<Vec<Value>>,
}

/// Reads a ConnectWise error answer. Nothing is permanent here: ConnectWise reports
/// refusals as 4xx, so a 5xx is an outage worth retrying when safe.
fn read_error(status: u16, body: &str) -> (String, bool) {
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(body) else {
        return (wire::fallback_message(status, body), false);
    };
    let mut parts = Vec::new();
    if let Some(message) = parsed.message.as_ref().and_then(wire::message_of) {
        parts.push(message);
    }
    for error in parsed.errors.iter().flatten() {
        if let Some(message) = wire::message_of(error) {
            parts.push(message);
        }
    }
    let code = parsed.code.as_ref().and_then(wire::message_of);
    let message = match (parts.is_empty(), code) {
        (true, None) => wire::fallback_message(status, body),
        (true, Some(code)) => code,
        (false, Some(code)) => format!("{} ({code})", parts.join("; ")),
        (false, None) => parts.join("; "),
    };
    (message, false)
}

/// ConnectWise renders `\n` in JSON bodies as a space (its guide says line breaks are
/// not supported), so lines are joined with ` | ` to stay readable on one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Quotes a value for a `conditions` string. The escaping of `"` inside a quoted
/// value is not documented; a backslash is assumed [inferred]. Keys keepit-watch
/// makes never contain one.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn entries(rows: Vec<Named>) -> Vec<PicklistEntry> {
    rows.into_iter()
        .filter_map(|row| {
            let id = row.id?;
            Some(PicklistEntry {
                name: row.name.unwrap_or_else(|| id.clone()),
                id,
                closes: None,
            })
        })
        .collect()
}

impl Psa for ConnectWise {
    fn kind(&self) -> PsaKind {
        PsaKind::ConnectWise
    }

    async fn test(&self) -> Result<String> {
        let url = self.url(
            "company/companies",
            &[("fields", "id,name"), ("pageSize", "1"), ("page", "1")],
        )?;
        let answer = self.get("the sign-in test", url).await?;
        let _: Vec<Named> = parse("the sign-in test", &answer.body)?;
        Ok(format!(
            "signed in to ConnectWise PSA as company {} and read its companies",
            self.company_id
        ))
    }

    async fn companies(&self) -> Result<Vec<PsaCompany>> {
        let rows = self
            .all_pages(
                "companies",
                "company/companies",
                &[("conditions", "deletedFlag=false"), ("fields", "id,name")],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = row.id?;
                Some(PsaCompany {
                    name: row.name.unwrap_or_else(|| id.clone()),
                    id,
                })
            })
            .collect())
    }

    async fn picklists(&self) -> Result<Vec<PicklistField>> {
        let boards = self
            .all_pages("boards", "service/boards", &[("fields", "id,name")])
            .await?;
        let boards = entries(boards);
        let mut statuses = Vec::new();
        if boards.len() > MAX_STATUS_BOARDS {
            tracing::info!(
                boards = boards.len(),
                "reading the statuses of the first {MAX_STATUS_BOARDS} ConnectWise boards only"
            );
        }
        for board in boards.iter().take(MAX_STATUS_BOARDS) {
            let path = format!(
                "service/boards/{}/statuses",
                wire::number("board id", &board.id)?
            );
            let answer = self
                .get("board statuses", self.url(&path, &[("pageSize", "1000")])?)
                .await?;
            let rows: Vec<BoardStatus> = parse("board statuses", &answer.body)?;
            // A status id belongs to its board, so the board is named with it.
            statuses.extend(
                rows.into_iter()
                    .filter(|row| row.inactive != Some(true))
                    .filter_map(|row| {
                        let id = row.id?;
                        let name = row.name.unwrap_or_else(|| id.clone());
                        Some(PicklistEntry {
                            name: format!("{}: {name}", board.name),
                            id,
                            closes: row.closed_status,
                        })
                    }),
            );
        }
        let priorities = self
            .all_pages("priorities", "service/priorities", &[("fields", "id,name")])
            .await?;
        Ok(vec![
            PicklistField {
                field: "board",
                entries: boards,
            },
            PicklistField {
                field: "status",
                entries: statuses,
            },
            PicklistField {
                field: "priority",
                entries: entries(priorities),
            },
        ])
    }

    async fn find_open_ticket(&self, key: &str, company: &str) -> Result<Option<TicketRef>> {
        let company = wire::number("company id", company)?;
        let conditions = format!(
            "closedFlag=false and company/id={company} and externalXRef={}",
            quoted(key)
        );
        let url = self.url(
            "service/tickets",
            &[
                ("conditions", &conditions),
                ("fields", "id"),
                ("orderBy", "id desc"),
                ("pageSize", "10"),
            ],
        )?;
        let answer = self.get("open tickets", url).await?;
        let rows: Vec<Named> = parse("open tickets", &answer.body)?;
        Ok(rows
            .into_iter()
            .find_map(|row| row.id)
            .map(|id| TicketRef { id }))
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> Result<TicketRef> {
        let mut body = Map::new();
        body.insert(
            "summary".into(),
            summary_with_key(&ticket.summary, &ticket.key, FIELD_MAX).into(),
        );
        body.insert("recordType".into(), "ServiceTicket".into());
        body.insert(
            "externalXRef".into(),
            ticket
                .key
                .chars()
                .take(FIELD_MAX)
                .collect::<String>()
                .into(),
        );
        body.insert(
            "company".into(),
            json!({ "id": wire::number("company id", &ticket.company)? }),
        );
        for (field, value) in [
            ("board", &ticket.board),
            ("status", &ticket.status),
            ("priority", &ticket.priority),
        ] {
            if let Some(value) = value {
                body.insert(field.into(), json!({ "id": wire::number(field, value)? }));
            }
        }
        body.insert("initialDescription".into(), one_line(&ticket.body).into());
        let answer = self
            .send_json(
                "creating a ticket",
                Safety::Once,
                Method::POST,
                self.url("service/tickets", &[])?,
                &Value::Object(body),
            )
            .await?;
        let created: Named = parse("creating a ticket", &answer.body)?;
        let id = created.id.ok_or(Error::Unexpected {
            what: "creating a ticket",
            detail: "the answer carries no ticket id".into(),
        })?;
        Ok(TicketRef { id })
    }

    async fn add_note(&self, ticket: &str, note: &Note) -> Result<()> {
        let path = format!(
            "service/tickets/{}/notes",
            wire::number("ticket id", ticket)?
        );
        let body = json!({
            "text": note.text,
            "detailDescriptionFlag": true,
            "internalAnalysisFlag": false,
            "resolutionFlag": note.resolution,
        });
        self.send_json(
            "adding a note",
            Safety::Once,
            Method::POST,
            self.url(&path, &[])?,
            &body,
        )
        .await?;
        Ok(())
    }

    async fn set_status(&self, ticket: &str, status: &str) -> Result<()> {
        let path = format!("service/tickets/{}", wire::number("ticket id", ticket)?);
        // The whole `status` object is replaced: ConnectWise warns that sub-paths such
        // as `status/id` may answer 200 without changing anything.
        let body = json!([{
            "op": "replace",
            "path": "status",
            "value": { "id": wire::number("status id", status)? },
        }]);
        self.send_json(
            "changing a ticket's status",
            Safety::Repeatable,
            Method::PATCH,
            self.url(&path, &[])?,
            &body,
        )
        .await?;
        Ok(())
    }

    async fn ticket_state(&self, ticket: &str) -> Result<Option<TicketState>> {
        let path = format!("service/tickets/{}", wire::number("ticket id", ticket)?);
        let answer = match self.get("a ticket", self.url(&path, &[])?).await {
            Ok(answer) => answer,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error),
        };
        let ticket: Ticket = parse("a ticket", &answer.body)?;
        let owner = ticket
            .owner
            .is_some_and(|owner| !owner.is_null() && owner != json!({}));
        let resources = ticket
            .resources
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|text| !text.trim().is_empty());
        Ok(Some(TicketState {
            closed: ticket.closed_flag.unwrap_or(false),
            status: ticket.status.and_then(|status| status.id),
            assigned: owner || resources,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_decide_about_the_next_page() {
        let mut headers = HeaderMap::new();
        assert!(offers_next_page(&headers));
        headers.insert(
            LINK,
            "<https://x/a?page=2>; rel=\"next\", <https://x/a?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert!(offers_next_page(&headers));
        headers.insert(LINK, "<https://x/a?page=1>; rel=\"first\"".parse().unwrap());
        assert!(!offers_next_page(&headers));
    }

    #[test]
    fn errors_are_read_leniently() {
        let (message, permanent) = read_error(
            400,
            r#"{"code":"InvalidObject","message":"Ticket object is invalid","errors":[{"code":"NullValue","message":"summary may not be null"}]}"#,
        );
        assert_eq!(
            message,
            "Ticket object is invalid; summary may not be null (InvalidObject)"
        );
        assert!(!permanent);
        assert!(!read_error(500, "oops").1);
        assert_eq!(
            read_error(502, "<html>").0,
            "HTTP 502 without a message this client can read"
        );
        // Text that is not the PSA's JSON is never repeated.
        assert!(!read_error(500, "internal secret page").0.contains("secret"));
        assert_eq!(one_line("a\n\n b \r\nc"), "a | b | c");
    }
}
