//! Alert notices as PSA tickets: one ticket per alert (rule x connector), noted on
//! repeats, closed or noted on resolution, reopened when the alert fires again soon.
//!
//! Ticket work rides on the delivery queue: an alert notice queues one `psa` delivery
//! per enabled PSA connection, with the target `CONNECTION:ALERT`, in the same
//! transaction as the notice itself. The queue hands each target its deliveries in
//! order and once, retries transient failures with backoff, and keeps every attempt.
//! A crash between the PSA's answer and the store is covered by the key stamped on the
//! ticket (ConnectWise `externalXRef`, and `[key]` at the end of every summary): before
//! creating, the open ticket carrying the key is looked for and adopted.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{Alert, AlertEvent, AlertId, AlertState, MessageKind, Severity};
use keepit_psa::{AnyPsa, NewTicket, Note, Psa as _, PsaConfig, PsaCredentials, PsaKind};
use keepit_store::secrets::MasterKey;
use keepit_store::{
    MessageRecord, NewAlertTransition, NewPsaTicket, PsaConnectionId, PsaConnectionRecord,
    PsaTicketChange, PsaTicketRecord, PsaTicketState, Store,
};
use secrecy::ExposeSecret as _;

/// What ticket filing needs besides the store: the key that unseals PSA credentials,
/// and the dashboard's address for links in tickets.
#[derive(Clone)]
pub struct PsaSupport {
    key: Arc<MasterKey>,
    dashboard_url: Option<String>,
}

impl std::fmt::Debug for PsaSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsaSupport")
            .field("dashboard_url", &self.dashboard_url)
            .finish_non_exhaustive()
    }
}

impl PsaSupport {
    /// Ticket filing with `key` (the master key) and, when known, the dashboard's URL.
    pub fn new(key: Arc<MasterKey>, dashboard_url: Option<String>) -> PsaSupport {
        PsaSupport {
            key,
            dashboard_url: dashboard_url
                .map(|url| url.trim_end_matches('/').to_owned())
                .filter(|url| !url.is_empty()),
        }
    }
}

/// Builds the client of a stored connection with its unsealed credentials.
pub async fn connect(
    store: &Store,
    key: &MasterKey,
    record: &PsaConnectionRecord,
) -> Result<AnyPsa, String> {
    let sealed = store
        .psa_credentials(record.id, key)
        .await
        .map_err(|error| format!("the credentials cannot be read: {error}"))?;
    client_for(
        &record.kind,
        &record.base_url,
        &sealed,
        record.settings.hourly_budget,
    )
}

/// A client for a connection's parts: its kind, base URL, credentials (in the JSON
/// form they are sealed in) and budget. Stored or not yet stored alike, so a
/// connection is tested the way it will then be used.
pub fn client_for(
    kind: &str,
    base_url: &str,
    credentials: &secrecy::SecretString,
    hourly_budget: Option<u32>,
) -> Result<AnyPsa, String> {
    let kind = PsaKind::parse(kind).ok_or_else(|| format!("unknown PSA kind `{kind}`"))?;
    let credentials = PsaCredentials::from_json(kind, credentials.expose_secret())
        .map_err(|error| error.to_string())?;
    let mut config = PsaConfig::new(base_url.to_owned(), credentials);
    if let Some(budget) = hourly_budget {
        config.hourly_budget = budget;
    }
    AnyPsa::connect(config).map_err(|error| error.to_string())
}

/// What a company import did.
#[derive(Debug, Clone)]
pub struct CompanyImport {
    /// Active companies the PSA listed.
    pub companies: u64,
    /// What the customers table did with them.
    pub report: keepit_store::ImportReport,
}

/// Why a company import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The connection cannot be used (kind, credentials, base URL).
    #[error("{0}")]
    Connection(String),
    /// The PSA refused or failed.
    #[error(transparent)]
    Psa(#[from] keepit_psa::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] keepit_store::Error),
}

/// Reads the PSA's active companies (every page) into customers with their PSA ids: a
/// renamed company is updated, Keepit accounts are matched to them by name, and a
/// manual link is never changed. The connection records the outcome.
pub async fn import_companies(
    store: &Store,
    key: &MasterKey,
    record: &PsaConnectionRecord,
    now: DateTime<Utc>,
) -> Result<CompanyImport, ImportError> {
    let psa = connect(store, key, record)
        .await
        .map_err(ImportError::Connection)?;
    let companies = match psa.companies().await {
        Ok(companies) => companies,
        Err(error) => {
            store
                .record_psa_outcome(record.id, Some(&error.to_string()), false, now)
                .await?;
            return Err(error.into());
        }
    };
    let count = companies.len() as u64;
    let report = store
        .import_psa_companies(
            companies
                .into_iter()
                .map(|company| (company.name, company.id))
                .collect(),
            now,
        )
        .await?;
    store.record_psa_outcome(record.id, None, true, now).await?;
    Ok(CompanyImport {
        companies: count,
        report,
    })
}

/// Why a ticket action failed, and whether trying again later may help.
#[derive(Debug)]
pub(crate) struct TicketFailure {
    pub(crate) message: String,
    pub(crate) transient: bool,
}

impl TicketFailure {
    fn permanent(message: impl Into<String>) -> TicketFailure {
        TicketFailure {
            message: message.into(),
            transient: false,
        }
    }
}

impl From<keepit_psa::Error> for TicketFailure {
    fn from(error: keepit_psa::Error) -> Self {
        TicketFailure {
            transient: error.is_transient(),
            message: error.to_string(),
        }
    }
}

impl From<keepit_store::Error> for TicketFailure {
    fn from(error: keepit_store::Error) -> Self {
        TicketFailure {
            transient: true,
            message: format!("database: {error}"),
        }
    }
}

/// The target of a `psa` delivery: which connection, which alert.
pub(crate) fn target(connection: PsaConnectionId, alert: AlertId) -> String {
    format!("{}:{}", connection.0, alert.0)
}

fn parse_target(target: &str) -> Option<(PsaConnectionId, AlertId)> {
    let (connection, alert) = target.split_once(':')?;
    Some((
        PsaConnectionId(connection.parse().ok()?),
        AlertId(alert.parse().ok()?),
    ))
}

/// keepit-watch's key for a rule and connector, stamped on its tickets.
pub(crate) fn ticket_key(alert: &Alert) -> String {
    format!("kw-{}-{}", alert.rule.0, alert.connector)
}

/// The clients of one delivery round, built once per connection.
pub(crate) struct Clients<'a> {
    support: &'a PsaSupport,
    built: HashMap<PsaConnectionId, Option<(PsaConnectionRecord, Arc<AnyPsa>)>>,
}

impl<'a> Clients<'a> {
    pub(crate) fn new(support: &'a PsaSupport) -> Clients<'a> {
        Clients {
            support,
            built: HashMap::new(),
        }
    }

    /// The connection and its client; `None` when it was deleted or switched off.
    pub(crate) async fn get(
        &mut self,
        store: &Store,
        id: PsaConnectionId,
    ) -> Result<Option<(PsaConnectionRecord, Arc<AnyPsa>)>, TicketFailure> {
        if let Some(built) = self.built.get(&id) {
            return Ok(built.clone());
        }
        let record = match store.psa_connection(id).await {
            Ok(record) if record.enabled => record,
            Ok(_) | Err(keepit_store::Error::NotFound { .. }) => {
                self.built.insert(id, None);
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        // A database that does not answer is worth waiting for; credentials that do not
        // unseal (another master key, altered bytes) are not.
        let sealed = store
            .psa_credentials(record.id, &self.support.key)
            .await
            .map_err(|error| match error {
                keepit_store::Error::Secret(_)
                | keepit_store::Error::Corrupt { .. }
                | keepit_store::Error::NotFound { .. } => {
                    TicketFailure::permanent(format!("the credentials cannot be read: {error}"))
                }
                other => TicketFailure::from(other),
            })?;
        let client = client_for(
            &record.kind,
            &record.base_url,
            &sealed,
            record.settings.hourly_budget,
        )
        .map_err(TicketFailure::permanent)?;
        let built = Some((record, Arc::new(client)));
        self.built.insert(id, built.clone());
        Ok(built)
    }
}

/// Carries out one `psa` delivery of an alert notice.
pub(crate) async fn deliver(
    store: &Store,
    support: &PsaSupport,
    clients: &mut Clients<'_>,
    message: &MessageRecord,
    target: &str,
    now: DateTime<Utc>,
) -> Result<(), TicketFailure> {
    let Some((connection, alert_id)) = parse_target(target) else {
        return Err(TicketFailure::permanent(format!(
            "`{target}` is not a PSA delivery target"
        )));
    };
    let Some((record, psa)) = clients.get(store, connection).await? else {
        // Deleted or switched off since the notice was queued: nothing to file.
        return Ok(());
    };
    let alert = match store.alert(alert_id).await {
        Ok(alert) => alert,
        Err(keepit_store::Error::NotFound { .. }) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let work = Ticketing {
        store,
        support,
        record: &record,
        psa: psa.as_ref(),
        message,
        alert: &alert,
        now,
    };
    let result = match message.kind {
        MessageKind::AlertOpened | MessageKind::AlertEscalated | MessageKind::AlertReminder => {
            work.fired().await
        }
        MessageKind::AlertResolved => work.resolved().await,
        _ => Ok(()),
    };
    let outcome = result
        .as_ref()
        .err()
        .map(|failure| failure.message.as_str());
    if let Err(error) = store
        .record_psa_outcome(connection, outcome, false, now)
        .await
    {
        tracing::warn!(%error, "could not record the PSA connection's latest outcome");
    }
    result
}

/// One notice of one alert, in one connection.
struct Ticketing<'a> {
    store: &'a Store,
    support: &'a PsaSupport,
    record: &'a PsaConnectionRecord,
    psa: &'a AnyPsa,
    message: &'a MessageRecord,
    alert: &'a Alert,
    now: DateTime<Utc>,
}

impl Ticketing<'_> {
    /// The alert opened, escalated or is still open.
    async fn fired(&self) -> Result<(), TicketFailure> {
        if self.alert.state == AlertState::Resolved {
            // Resolved since the notice was queued; its resolution notice follows.
            return Ok(());
        }
        let settings = &self.record.settings;
        if let Some(ticket) = self
            .store
            .psa_ticket_of_alert(self.record.id, self.alert.id)
            .await?
        {
            if ticket.state != PsaTicketState::Open {
                // Closed or left alone in this episode: never resurrected for it.
                return Ok(());
            }
            if self.message.kind == MessageKind::AlertOpened {
                return Ok(());
            }
            if !self.still_open(&ticket).await? {
                return Ok(());
            }
            // Reminders are rate-limited; an escalation is always worth a note.
            let interval = Duration::minutes(i64::from(settings.note_interval_minutes));
            if self.message.kind == MessageKind::AlertReminder
                && ticket
                    .last_note_at
                    .is_some_and(|at| self.now - at < interval)
            {
                return Ok(());
            }
            self.psa
                .add_note(
                    &ticket.ticket,
                    &Note {
                        text: self.note_text(),
                        resolution: false,
                    },
                )
                .await?;
            self.store
                .update_psa_ticket(
                    ticket.id,
                    &PsaTicketChange {
                        noted_at: Some(self.now),
                        error: Some(String::new()),
                        ..PsaTicketChange::default()
                    },
                    self.now,
                )
                .await?;
            return Ok(());
        }
        // A ticket is for people who must act: not for the warning stage.
        if self.alert.state != AlertState::Firing {
            return Ok(());
        }
        let company = self.company().await?;
        let key = ticket_key(self.alert);
        if self.reopen(&key).await? {
            return Ok(());
        }
        // After a crash between the PSA's answer and the store, the ticket exists:
        // adopt it instead of opening a second one.
        let mut opened_status = settings.new_status.clone();
        let ticket = match self.psa.find_open_ticket(&key, &company).await? {
            Some(found) => found,
            None => {
                let priority = match self.alert.severity {
                    Severity::Critical => settings.priority_critical.clone(),
                    Severity::Warning => settings.priority_warning.clone(),
                };
                self.psa
                    .create_ticket(&NewTicket {
                        key: key.clone(),
                        company: company.clone(),
                        summary: self.summary(),
                        body: self.body(),
                        board: settings.board.clone(),
                        status: settings.new_status.clone(),
                        priority,
                    })
                    .await?
            }
        };
        if opened_status.is_none() {
            // Opened with the PSA's default status: remember which one it was, so a
            // technician's status change is noticed at resolution.
            opened_status = match self.psa.ticket_state(&ticket.id).await {
                Ok(Some(state)) => state.status,
                _ => None,
            };
        }
        self.store
            .insert_psa_ticket(&NewPsaTicket {
                connection: self.record.id,
                alert: self.alert.id,
                rule: self.alert.rule,
                connector: self.alert.connector.clone(),
                customer: self.alert.customer,
                key,
                ticket: ticket.id.clone(),
                company,
                opened_status,
                at: self.now,
            })
            .await?;
        self.note_on_alert(format!(
            "ticket {} opened in {}",
            ticket.id, self.record.name
        ))
        .await;
        Ok(())
    }

    /// Reopens the latest ticket of the same rule and connector when it was closed
    /// within the reopen window; `true` when it did.
    async fn reopen(&self, key: &str) -> Result<bool, TicketFailure> {
        let settings = &self.record.settings;
        if settings.reopen_days == 0 {
            return Ok(false);
        }
        let Some(status) = settings.new_status.clone() else {
            // No status to reopen with: a new ticket is the only way.
            return Ok(false);
        };
        let Some(previous) = self.store.latest_psa_ticket(self.record.id, key).await? else {
            return Ok(false);
        };
        // Only a ticket keepit-watch closed itself: one a technician closed or deleted
        // was their decision, and a later problem gets a ticket of its own.
        if previous.state != PsaTicketState::Closed {
            return Ok(false);
        }
        let window = Duration::days(i64::from(settings.reopen_days));
        let recent = previous
            .closed_at
            .is_some_and(|closed| self.now - closed <= window);
        if !recent {
            return Ok(false);
        }
        match self.psa.ticket_state(&previous.ticket).await? {
            // Deleted in the PSA: open a new one.
            None => Ok(false),
            Some(state) => {
                if state.closed {
                    self.psa.set_status(&previous.ticket, &status).await?;
                }
                self.psa
                    .add_note(
                        &previous.ticket,
                        &Note {
                            text: format!("The problem is back. {}", self.note_text()),
                            resolution: false,
                        },
                    )
                    .await?;
                self.store
                    .update_psa_ticket(
                        previous.id,
                        &PsaTicketChange {
                            state: Some(PsaTicketState::Open),
                            alert: Some(self.alert.id),
                            noted_at: Some(self.now),
                            reopened: true,
                            error: Some(String::new()),
                            ..PsaTicketChange::default()
                        },
                        self.now,
                    )
                    .await?;
                self.note_on_alert(format!(
                    "ticket {} reopened in {} (closed {} ago)",
                    previous.ticket,
                    self.record.name,
                    humanize(self.now - previous.closed_at.unwrap_or(self.now))
                ))
                .await;
                Ok(true)
            }
        }
    }

    /// The alert resolved: a resolution note, and the ticket closed when the
    /// connection closes tickets and nobody has worked on this one.
    async fn resolved(&self) -> Result<(), TicketFailure> {
        let Some(ticket) = self
            .store
            .psa_ticket_of_alert(self.record.id, self.alert.id)
            .await?
        else {
            return Ok(());
        };
        if ticket.state != PsaTicketState::Open {
            return Ok(());
        }
        let Some(state) = self.psa.ticket_state(&ticket.ticket).await? else {
            self.left_alone(&ticket, "deleted").await?;
            return Ok(());
        };
        if state.closed {
            self.left_alone(&ticket, "closed").await?;
            return Ok(());
        }
        self.psa
            .add_note(
                &ticket.ticket,
                &Note {
                    text: format!("Resolved: {}", self.note_text()),
                    resolution: true,
                },
            )
            .await?;
        let settings = &self.record.settings;
        // Untouched: still in the status it was opened with, and nobody assigned. (The PSAs do not say reliably whether a technician added a note, so
        // an assignment or a status change is what counts as work.)
        let untouched = !state.assigned
            && match (&ticket.opened_status, &state.status) {
                (Some(opened), Some(now)) => opened == now,
                // Without both statuses, nobody can tell: leave it open with the note.
                _ => false,
            };
        let close = settings.close_on_resolve && untouched;
        let closed_with = settings.closed_status.as_deref().filter(|_| close);
        if let Some(status) = closed_with {
            self.psa.set_status(&ticket.ticket, status).await?;
        }
        self.store
            .update_psa_ticket(
                ticket.id,
                &PsaTicketChange {
                    state: Some(if closed_with.is_some() {
                        PsaTicketState::Closed
                    } else {
                        PsaTicketState::Resolved
                    }),
                    noted_at: Some(self.now),
                    closed_at: closed_with.map(|_| self.now),
                    error: Some(String::new()),
                    ..PsaTicketChange::default()
                },
                self.now,
            )
            .await?;
        self.note_on_alert(match closed_with {
            Some(_) => format!("ticket {} closed in {}", ticket.ticket, self.record.name),
            None => format!(
                "resolution noted on ticket {} in {}; left open{}",
                ticket.ticket,
                self.record.name,
                if untouched {
                    ""
                } else {
                    " because someone works on it"
                }
            ),
        })
        .await;
        Ok(())
    }

    /// Whether the ticket is still open in the PSA; when it was closed or deleted by
    /// someone, it is marked so and left alone for the rest of the episode.
    async fn still_open(&self, ticket: &PsaTicketRecord) -> Result<bool, TicketFailure> {
        match self.psa.ticket_state(&ticket.ticket).await? {
            None => {
                self.left_alone(ticket, "deleted").await?;
                Ok(false)
            }
            Some(state) if state.closed => {
                self.left_alone(ticket, "closed").await?;
                Ok(false)
            }
            Some(_) => Ok(true),
        }
    }

    async fn left_alone(&self, ticket: &PsaTicketRecord, how: &str) -> Result<(), TicketFailure> {
        self.store
            .update_psa_ticket(
                ticket.id,
                &PsaTicketChange {
                    state: Some(PsaTicketState::LeftAlone),
                    closed_at: Some(self.now),
                    ..PsaTicketChange::default()
                },
                self.now,
            )
            .await?;
        self.note_on_alert(format!(
            "ticket {} was {how} in {} by someone; it is left alone for this alert",
            ticket.ticket, self.record.name
        ))
        .await;
        Ok(())
    }

    /// The customer's PSA company, or the catch-all company.
    async fn company(&self) -> Result<String, TicketFailure> {
        let customer = match self.alert.customer {
            Some(id) => match self.store.customer(id).await {
                Ok(customer) => Some(customer),
                Err(keepit_store::Error::NotFound { .. }) => None,
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        customer
            .as_ref()
            .and_then(|customer| customer.external_id.clone())
            .or_else(|| self.record.settings.catch_all_company.clone())
            .ok_or_else(|| {
                TicketFailure::permanent(format!(
                    "{} has no PSA company, and no catch-all company is set for {}",
                    customer
                        .as_ref()
                        .map_or("the customer", |customer| customer.name.as_str()),
                    self.record.name
                ))
            })
    }

    fn summary(&self) -> String {
        // The notice's subject is "customer / connector: what".
        format!("Keepit backup problem: {}", self.message.subject)
    }

    fn body(&self) -> String {
        let mut body = self.message.body.clone();
        if let Some(url) = &self.support.dashboard_url {
            body.push_str(&format!("\n\nIn keepit-watch: {url}/alerts"));
        }
        body.push_str("\n\nOpened by keepit-watch; it adds notes while the alert lasts and closes this ticket when the backups recover, unless someone works on it.");
        body
    }

    fn note_text(&self) -> String {
        format!("{}\n{}", self.message.subject, self.message.body)
    }

    /// Shows what happened to the ticket in the alert's history (best effort).
    async fn note_on_alert(&self, note: String) {
        let transition = NewAlertTransition {
            event: AlertEvent::Ticket,
            from: Some(self.alert.state),
            to: self.alert.state,
            at: self.now,
            note: Some(note),
            by: None,
        };
        if let Err(error) = self
            .store
            .record_alert_transition(self.alert.id, &transition)
            .await
        {
            tracing::warn!(%error, "could not record the ticket in the alert's history");
        }
    }
}

/// Records on the alert that its ticket could not be filed and where the notice went
/// instead (best effort).
pub(crate) async fn record_fallback(
    store: &Store,
    target: &str,
    error: &str,
    emailed: usize,
    now: DateTime<Utc>,
) {
    let Some((_, alert)) = parse_target(target) else {
        return;
    };
    let Ok(record) = store.alert(alert).await else {
        return;
    };
    let instead = if emailed > 0 {
        format!("the notice went by e-mail to {emailed} administrator(s) instead")
    } else {
        "no e-mail channel is configured, so it shows here only".to_owned()
    };
    let transition = NewAlertTransition {
        event: AlertEvent::Ticket,
        from: Some(record.state),
        to: record.state,
        at: now,
        note: Some(format!(
            "the PSA ticket could not be filed ({error}); {instead}"
        )),
        by: None,
    };
    if let Err(error) = store.record_alert_transition(alert, &transition).await {
        tracing::warn!(%error, "could not record the PSA fallback on the alert");
    }
}

fn humanize(span: Duration) -> String {
    let hours = span.num_hours();
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else if hours >= 1 {
        format!("{hours} h")
    } else {
        format!("{} min", span.num_minutes().max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_refuse_anything_else() {
        let text = target(PsaConnectionId(3), AlertId(17));
        assert_eq!(text, "3:17");
        assert_eq!(parse_target(&text), Some((PsaConnectionId(3), AlertId(17))));
        assert_eq!(parse_target("3"), None);
        assert_eq!(parse_target("a:1"), None);
        assert_eq!(humanize(Duration::hours(50)), "2 days");
        assert_eq!(humanize(Duration::minutes(5)), "5 min");
    }
}
