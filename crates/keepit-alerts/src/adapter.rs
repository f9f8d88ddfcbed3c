//! The thin adapter between the pure engine and the store: load facts, evaluate,
//! apply the decisions, store messages for their recipients and deliver them.
//!
//! This is the only module of the crate that knows `keepit-store`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{
    Alert, AlertId, AlertRule, AlertState, Audience, AuditCategory, AuditFacts, ConnectorId,
    CustomerId, MessageKind, ReasonScope, RuleKind, Severity, UserId, route_message,
};
use keepit_store::{
    AlertFilter, AlertObservation, ConnectorFilter, DeliveryAttempt, NewMessage, PsaConnectionId,
    Store,
};

use crate::Error;
use crate::engine::{self, BackupOutcome, ConnectorFacts, Decision, FailureEvent, Why};
use crate::message::{ChangeEvent, compose};
use crate::notify::{
    DeliveryRetry, EmailChannel, Notification, WebhookChannel, deliver_with_retry,
};
use crate::preview;
use crate::tickets::{self, PsaSupport};

/// Where notifications go besides the in-app inbox.
#[derive(Debug, Clone, Default)]
pub struct Notifiers {
    /// E-mail, when `KEEPIT_SMTP_URL` is configured.
    pub email: Option<EmailChannel>,
    /// A webhook, when configured.
    pub webhook: Option<WebhookChannel>,
    /// How hard one delivery is tried within a pass.
    pub retry: DeliveryRetry,
}

/// What one evaluation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertPassSummary {
    /// Alerts opened.
    pub opened: u32,
    /// Alerts that changed state or severity.
    pub changed: u32,
    /// Reminders sent.
    pub reminded: u32,
    /// Alerts resolved.
    pub resolved: u32,
    /// Messages stored for the first time.
    pub messages: u32,
    /// Deliveries that went through.
    pub delivered: u32,
    /// Deliveries that failed (retried later, or given up after many tries).
    pub delivery_failures: u32,
}

/// At most this many deliveries are tried in one pass; the rest wait for the next.
const MAX_DELIVERIES_PER_PASS: usize = 5_000;

/// Deliveries are given up after this many failed attempts across passes.
const MAX_DELIVERY_ATTEMPTS: u32 = 8;

/// Evaluates alerts and handles messages over the store, at the end of each sync pass.
#[derive(Debug, Clone, Default)]
pub struct AlertPass {
    notifiers: Notifiers,
    psa: Option<PsaSupport>,
}

/// An alert notice: what changed about one alert, to be stored as a message.
struct Notice<'a> {
    kind: MessageKind,
    alert: AlertId,
    rule: RuleKind,
    state: AlertState,
    severity: Severity,
    why: &'a Why,
    customer: Option<CustomerId>,
    connector: &'a ConnectorId,
    /// Whether people get it (inbox, e-mail, webhook); when not, only PSA tickets do.
    people: bool,
}

/// What the adapter knows about the people and names a notice mentions.
struct Audiences {
    recipients: Vec<UserId>,
    emails: Vec<String>,
    names: HashMap<ConnectorId, (String, String)>,
    /// Enabled PSA connections, when ticket filing is on.
    psa: Vec<PsaConnectionId>,
}

impl AlertPass {
    /// An alert pass that notifies through `notifiers` (and always the in-app inbox).
    pub fn new(notifiers: Notifiers) -> Self {
        AlertPass {
            notifiers,
            psa: None,
        }
    }

    /// Also files alert notices as tickets in the enabled PSA connections.
    pub fn with_psa(mut self, support: PsaSupport) -> Self {
        self.psa = Some(support);
        self
    }

    /// Runs the evaluation, applies its decisions, stores the notices and the
    /// messages for `changes` (with their deliveries queued in the same
    /// transaction), then works through the delivery queue.
    pub async fn run(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
    ) -> Result<AlertPassSummary, Error> {
        let mut summary = AlertPassSummary::default();
        let rules: Vec<AlertRule> = store
            .alert_rules()
            .await?
            .into_iter()
            .map(|record| record.rule)
            .collect();
        let facts = load_facts(store, &rules, now).await?;
        let open = store.alerts(&AlertFilter::default()).await?;
        let by_id: HashMap<AlertId, &Alert> = open.iter().map(|alert| (alert.id, alert)).collect();
        let account_of: HashMap<&ConnectorId, &ConnectorFacts> =
            facts.iter().map(|fact| (&fact.connector, fact)).collect();
        let kind_of = |alert: &Alert| {
            rules
                .iter()
                .find(|rule| rule.id == alert.rule)
                .map_or(RuleKind::BackupFailed, |rule| rule.spec.kind)
        };
        let audiences = self.audiences(store).await?;

        for decision in engine::evaluate(&facts, &rules, &open, now) {
            match decision {
                Decision::Open {
                    rule,
                    kind,
                    connector,
                    customer,
                    state,
                    severity,
                    why,
                } => {
                    let Some(fact) = account_of.get(&connector) else {
                        continue;
                    };
                    let observation = AlertObservation {
                        rule,
                        connector: connector.clone(),
                        account: fact.account.clone(),
                        state,
                        severity,
                        reason: why.reason.clone(),
                        last_success_at: why.last_success_at,
                        last_attempt_at: why.last_attempt_at,
                        at: now,
                        note: Some(why.detail.clone()),
                    };
                    if let Some(update) = store.apply_alert_observation(&observation).await? {
                        summary.opened += 1;
                        let notice = Notice {
                            kind: MessageKind::AlertOpened,
                            alert: update.alert.id,
                            rule: kind,
                            state,
                            severity,
                            why: &why,
                            customer,
                            connector: &connector,
                            people: true,
                        };
                        self.queue(store, &audiences, &notice, now, &mut summary)
                            .await?;
                    }
                }
                Decision::Change {
                    alert,
                    state,
                    severity,
                    why,
                    notify,
                } => {
                    let Some(record) = by_id.get(&alert) else {
                        continue;
                    };
                    let observation = AlertObservation {
                        rule: record.rule,
                        connector: record.connector.clone(),
                        account: record.account.clone(),
                        state,
                        severity,
                        reason: why.reason.clone(),
                        last_success_at: why.last_success_at,
                        last_attempt_at: why.last_attempt_at,
                        at: now,
                        note: Some(why.detail.clone()),
                    };
                    if store.apply_alert_observation(&observation).await?.is_none() {
                        continue;
                    }
                    summary.changed += 1;
                    if notify {
                        let notice = Notice {
                            kind: MessageKind::AlertEscalated,
                            alert,
                            rule: kind_of(record),
                            state,
                            severity,
                            why: &why,
                            customer: record.customer,
                            connector: &record.connector,
                            people: true,
                        };
                        self.queue(store, &audiences, &notice, now, &mut summary)
                            .await?;
                    }
                }
                Decision::Remind { alert, why } => {
                    let Some(record) = by_id.get(&alert) else {
                        continue;
                    };
                    let notice = Notice {
                        kind: MessageKind::AlertReminder,
                        alert,
                        rule: kind_of(record),
                        state: record.state,
                        severity: record.severity,
                        why: &why,
                        customer: record.customer,
                        connector: &record.connector,
                        people: true,
                    };
                    self.queue(store, &audiences, &notice, now, &mut summary)
                        .await?;
                    summary.reminded += 1;
                }
                Decision::Resolve { alert, detail } => {
                    let Some(record) = by_id.get(&alert) else {
                        continue;
                    };
                    let observation = AlertObservation {
                        rule: record.rule,
                        connector: record.connector.clone(),
                        account: record.account.clone(),
                        state: AlertState::Resolved,
                        severity: record.severity,
                        reason: record.reason.clone(),
                        last_success_at: record.last_success_at,
                        last_attempt_at: record.last_attempt_at,
                        at: now,
                        note: Some(detail.clone()),
                    };
                    if store.apply_alert_observation(&observation).await?.is_none() {
                        continue;
                    }
                    summary.resolved += 1;
                    // People hear that it cleared only if they heard of it, and not
                    // while they asked for quiet; a PSA ticket hears it always, or it
                    // would stay open for good.
                    let people = record.last_notified_at.is_some() && !record.silenced(now);
                    if people || !audiences.psa.is_empty() {
                        let why = Why {
                            last_success_at: record.last_success_at,
                            last_attempt_at: record.last_attempt_at,
                            reason: None,
                            consecutive_failures: 0,
                            paging: engine::Paging::NotAFailure,
                            detail,
                        };
                        let notice = Notice {
                            kind: MessageKind::AlertResolved,
                            alert,
                            rule: kind_of(record),
                            state: AlertState::Resolved,
                            severity: record.severity,
                            why: &why,
                            customer: record.customer,
                            connector: &record.connector,
                            people,
                        };
                        self.queue(store, &audiences, &notice, now, &mut summary)
                            .await?;
                    }
                }
            }
        }

        self.store_messages(store, changes, now, &mut summary)
            .await?;
        self.deliver_due(store, now, &mut summary).await?;
        Ok(summary)
    }

    /// Stores the messages for `changes`, with their deliveries queued, and nothing
    /// else: no alert evaluation and no delivery. For accounts one sync worker synced
    /// in a pass another worker leads; that one evaluates and delivers once at the end.
    /// Returns how many messages were new.
    pub async fn store_change_messages(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
    ) -> Result<u32, Error> {
        let mut summary = AlertPassSummary::default();
        self.store_messages(store, changes, now, &mut summary)
            .await?;
        Ok(summary.messages)
    }

    /// Who receives alert notices (seed 000: the primary admin by default, and users
    /// who opted in), their addresses, and the names notices mention.
    async fn audiences(&self, store: &Store) -> Result<Audiences, Error> {
        let candidates = store.recipient_candidates().await?;
        let recipients = route_message(Audience::Subscribers, &candidates);
        let emails = store
            .users()
            .await?
            .into_iter()
            .filter(|user| recipients.contains(&user.id))
            .map(|user| user.email)
            .collect();
        let psa = match self.psa {
            Some(_) => store
                .psa_connections()
                .await?
                .into_iter()
                .filter(|connection| connection.enabled)
                .map(|connection| connection.id)
                .collect(),
            None => Vec::new(),
        };
        Ok(Audiences {
            recipients,
            emails,
            names: connector_names(store).await?,
            psa,
        })
    }

    /// The channels a message goes out on besides the inbox.
    fn deliveries<'a>(&self, emails: &'a [String], personal: bool) -> Vec<(&'static str, &'a str)> {
        let mut deliveries = Vec::new();
        if self.notifiers.email.is_some() {
            deliveries.extend(emails.iter().map(|email| ("email", email.as_str())));
        }
        // A personal message (download link) never goes to a shared channel.
        if self.notifiers.webhook.is_some() && !personal {
            deliveries.push(("webhook", "webhook"));
        }
        deliveries
    }

    /// Stores an alert notice for its recipients with its deliveries queued, and
    /// records that people were told: from here on the queue carries it.
    async fn queue(
        &self,
        store: &Store,
        audiences: &Audiences,
        notice: &Notice<'_>,
        now: DateTime<Utc>,
        summary: &mut AlertPassSummary,
    ) -> Result<(), Error> {
        let (customer_name, connector_name) = audiences
            .names
            .get(notice.connector)
            .cloned()
            .unwrap_or_else(|| ("unknown customer".into(), notice.connector.to_string()));
        let (subject, body) = notice_text(notice, &customer_name, &connector_name);
        let message = NewMessage {
            kind: notice.kind,
            subject,
            body,
            customer: notice.customer,
            connector: Some(notice.connector.clone()),
            job: None,
            // One notice per alert and event; a reminder or an escalation is a new
            // event each time it happens.
            dedup_key: format!(
                "alert:{}:{}:{}",
                notice.alert,
                notice.kind.as_str(),
                now.timestamp_micros()
            ),
            // A cleared alert is no longer urgent: its notice carries no severity.
            severity: (notice.kind != MessageKind::AlertResolved).then_some(notice.severity),
            created_at: now,
        };
        let mut deliveries = if notice.people {
            self.deliveries(&audiences.emails, false)
        } else {
            Vec::new()
        };
        let recipients: &[UserId] = if notice.people {
            &audiences.recipients
        } else {
            &[]
        };
        // Ticket work for each PSA, queued with the notice: processed once, in order.
        let tickets: Vec<String> = audiences
            .psa
            .iter()
            .map(|connection| tickets::target(*connection, notice.alert))
            .collect();
        deliveries.extend(tickets.iter().map(|target| ("psa", target.as_str())));
        let told = notice.kind != MessageKind::AlertResolved;
        let stored = store
            .queue_alert_notice(notice.alert, &message, recipients, &deliveries, told)
            .await?;
        if stored.created {
            summary.messages += 1;
        }
        Ok(())
    }

    async fn store_messages(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
        summary: &mut AlertPassSummary,
    ) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        let candidates = store.recipient_candidates().await?;
        let users = store.users().await?;
        let email_of: HashMap<UserId, String> = users
            .iter()
            .map(|user| (user.id, user.email.clone()))
            .collect();
        for change in changes {
            let Some(draft) = compose(change) else {
                continue;
            };
            let person = match &draft.person_email {
                Some(email) => store.user_by_email(email).await?.map(|user| user.id),
                None => None,
            };
            let recipients = route_message(draft.kind.audience(person), &candidates);
            let new = NewMessage {
                kind: draft.kind,
                subject: draft.subject,
                body: draft.body,
                customer: draft.customer,
                connector: draft.connector,
                job: draft.job,
                dedup_key: draft.dedup_key,
                severity: None,
                created_at: now,
            };
            let emails: Vec<String> = recipients
                .iter()
                .filter_map(|user| email_of.get(user).cloned())
                .collect();
            let deliveries = self.deliveries(&emails, draft.kind.is_personal());
            let stored = store
                .store_and_queue_message(&new, &recipients, &deliveries)
                .await?;
            if stored.created {
                summary.messages += 1;
            }
        }
        Ok(())
    }

    async fn deliver_due(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        summary: &mut AlertPassSummary,
    ) -> Result<(), Error> {
        let mut customer_names: HashMap<CustomerId, String> = HashMap::new();
        let mut clients: Option<tickets::Clients<'_>> = None;
        // Each round tries the oldest waiting delivery of every target; one that goes
        // through lets the next of its target go in the following round. Rounds end
        // when none was tried (all delivered, waiting for a retry, or on a channel
        // that is switched off), or after a bound that keeps a pass from running on.
        let mut tried_total = 0usize;
        loop {
            let due = store.due_deliveries(now, 500).await?;
            let mut tried = 0usize;
            for delivery in due {
                let message = store.message(delivery.message).await?;
                let customer = match message.customer {
                    Some(id) => {
                        let name = match customer_names.get(&id) {
                            Some(name) => name.clone(),
                            None => {
                                // A customer merged away since is named by nobody.
                                let name = store.customer(id).await.map(|c| c.name).ok();
                                let name = name.unwrap_or_default();
                                customer_names.insert(id, name.clone());
                                name
                            }
                        };
                        Some(name).filter(|name| !name.is_empty())
                    }
                    None => None,
                };
                let note = Notification {
                    kind: message.kind.as_str().to_owned(),
                    subject: message.subject.clone(),
                    body: message.body.clone(),
                    severity: message.severity,
                    customer,
                    at: message.created_at,
                };
                let deliverable = match delivery.channel.as_str() {
                    "email" => self.notifiers.email.is_some(),
                    "webhook" => self.notifiers.webhook.is_some(),
                    "psa" => self.psa.is_some(),
                    _ => false,
                };
                // A channel switched off since the delivery was queued keeps it for when
                // it returns; one another process is delivering right now is skipped.
                if !deliverable
                    || !store
                        .claim_delivery(delivery.id, now, Duration::minutes(10))
                        .await?
                {
                    continue;
                }
                // The failure, if any, and whether trying again later may help.
                let result: Option<(String, bool)> = match (
                    delivery.channel.as_str(),
                    &self.notifiers.email,
                    &self.notifiers.webhook,
                    &self.psa,
                ) {
                    ("email", Some(email), _, _) => {
                        deliver_with_retry(self.notifiers.retry, || {
                            email.send(&delivery.target, &note)
                        })
                        .await
                        .error
                        .map(|error| (error.to_string(), error.is_transient()))
                    }
                    ("webhook", _, Some(webhook), _) => {
                        deliver_with_retry(self.notifiers.retry, || webhook.send(&note))
                            .await
                            .error
                            .map(|error| (error.to_string(), error.is_transient()))
                    }
                    ("psa", _, _, Some(support)) => {
                        let clients = clients.get_or_insert_with(|| tickets::Clients::new(support));
                        tickets::deliver(store, support, clients, &message, &delivery.target, now)
                            .await
                            .err()
                            .map(|failure| (failure.message, failure.transient))
                    }
                    // Checked above.
                    _ => continue,
                };
                let attempt = match result {
                    None => {
                        summary.delivered += 1;
                        DeliveryAttempt::Delivered { at: now }
                    }
                    Some((error, transient)) => {
                        summary.delivery_failures += 1;
                        let attempts = delivery.attempts + 1;
                        let retry_at = (attempts < MAX_DELIVERY_ATTEMPTS && transient)
                            .then(|| now + Duration::minutes(5) * 2i32.pow(attempts.min(8)));
                        tracing::warn!(channel = %delivery.channel, attempts, %error, "message delivery failed");
                        if retry_at.is_none() && delivery.channel == "psa" {
                            self.ticket_fallback(store, &message, &delivery.target, &error, now)
                                .await?;
                        }
                        DeliveryAttempt::Failed {
                            at: now,
                            error,
                            retry_at,
                        }
                    }
                };
                store.record_delivery_attempt(delivery.id, &attempt).await?;
                tried += 1;
            }
            tried_total += tried;
            if tried == 0 || tried_total >= MAX_DELIVERIES_PER_PASS {
                break;
            }
        }
        Ok(())
    }
}

impl AlertPass {
    /// A ticket that cannot be filed for good: the notice goes by e-mail to the
    /// administrators (when e-mail is configured) and the alert's history says so.
    async fn ticket_fallback(
        &self,
        store: &Store,
        message: &keepit_store::MessageRecord,
        target: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut emailed = 0;
        if self.notifiers.email.is_some() {
            for admin in store
                .users()
                .await?
                .into_iter()
                .filter(|user| user.role == keepit_store::Role::Admin)
            {
                store
                    .enqueue_delivery(message.id, "email", &admin.email, now)
                    .await?;
                emailed += 1;
            }
        }
        tickets::record_fallback(store, target, error, emailed, now).await;
        Ok(())
    }
}

/// The subject and body of an alert notice.
fn notice_text(notice: &Notice<'_>, customer: &str, connector: &str) -> (String, String) {
    let what = match (notice.rule, notice.state) {
        (_, AlertState::Resolved) => "resolved",
        (RuleKind::BackupStale, AlertState::Pending) => "backup getting stale",
        (RuleKind::BackupStale, AlertState::Firing) => "backup stale",
        (RuleKind::BackupFailed, AlertState::Pending) => "backup failing (Keepit is retrying)",
        (RuleKind::BackupFailed, AlertState::Firing) => "backup failed",
    };
    let lead = match notice.kind {
        MessageKind::AlertReminder => "Still open: ",
        MessageKind::AlertEscalated => "Escalated: ",
        _ => "",
    };
    let why = notice.why;
    let mut body = format!("{customer} / {connector}: {}.", why.detail);
    let stamp = |time: Option<DateTime<Utc>>| {
        time.map(|time| time.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    body.push_str(&format!(
        "\nLast successful backup: {}\nLast attempt: {}",
        stamp(why.last_success_at),
        stamp(why.last_attempt_at)
    ));
    if let Some(reason) = &why.reason {
        match reason.entry(ReasonScope::Backup) {
            Some(entry) => body.push_str(&format!(
                "\nReason: {}. {}\nWhat to do: {}",
                entry.title, entry.explanation, entry.resolution
            )),
            None => body.push_str(&format!(
                "\nKeepit reported: {}",
                reason.raw().unwrap_or_default()
            )),
        }
    }
    (format!("{lead}{customer} / {connector}: {what}"), body)
}

async fn connector_names(
    store: &Store,
) -> Result<HashMap<ConnectorId, (String, String)>, keepit_store::Error> {
    let customers: HashMap<CustomerId, String> = store
        .customers()
        .await?
        .into_iter()
        .map(|customer| (customer.id, customer.name))
        .collect();
    Ok(store
        .connectors(&ConnectorFilter::default())
        .await?
        .into_iter()
        .map(|connector| {
            let customer = connector
                .customer
                .and_then(|id| customers.get(&id).cloned())
                .unwrap_or_else(|| connector.record.account.to_string());
            (
                connector.record.connector.clone(),
                (customer, connector.record.name),
            )
        })
        .collect())
}

/// A rule's dry run against the stored data, with the names of the connectors it
/// lists (customer, connector). Reads only; see [`crate::preview`].
pub async fn preview(
    store: &Store,
    candidate: &AlertRule,
    current: Option<&AlertRule>,
    now: DateTime<Utc>,
) -> Result<PreviewReport, Error> {
    let rules: Vec<AlertRule> = std::iter::once(candidate.clone())
        .chain(current.cloned())
        .collect();
    let lookback = longest_lookback(&rules);
    let from = now
        .checked_sub_signed(Duration::days(preview::HISTORY_DAYS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let loaded_from = from
        .checked_sub_signed(failure_stretch(lookback))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let failures_from = from
        .checked_sub_signed(lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (facts, mut names) = tokio::try_join!(
        load_facts_since(store, loaded_from, failures_from, now),
        connector_names(store),
    )?;
    let report = preview::dry_run(
        &facts,
        candidate,
        current,
        preview::History { from, loaded_from },
        now,
    );
    let listed: std::collections::HashSet<&ConnectorId> = report
        .candidate
        .findings
        .iter()
        .map(|finding| &finding.connector)
        .chain(
            report
                .current
                .iter()
                .flat_map(|outcome| outcome.findings.iter().map(|finding| &finding.connector)),
        )
        .chain(
            report
                .differences
                .iter()
                .map(|difference| &difference.connector),
        )
        .collect();
    names.retain(|connector, _| listed.contains(connector));
    Ok(PreviewReport {
        preview: report,
        names,
    })
}

/// A dry run with the names its lists need.
#[derive(Debug, Clone)]
pub struct PreviewReport {
    /// What the rule would do.
    pub preview: preview::RulePreview,
    /// Customer and connector names of the connectors listed, by connector.
    pub names: HashMap<ConnectorId, (String, String)>,
}

/// Reads what the engine needs to know about every watched connector: still in
/// Keepit, of an account still in the MSP's tree, of an enabled integration.
pub async fn load_facts(
    store: &Store,
    rules: &[AlertRule],
    now: DateTime<Utc>,
) -> Result<Vec<ConnectorFacts>, keepit_store::Error> {
    let lookback = longest_lookback(rules);
    // Consecutive failures are counted over a longer stretch than one lookback.
    let history_from = now
        .checked_sub_signed(failure_stretch(lookback))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let failures_from = now
        .checked_sub_signed(lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    load_facts_since(store, history_from, failures_from, now).await
}

/// The longest lookback of `rules` (a day when there are none).
pub(crate) fn longest_lookback(rules: &[AlertRule]) -> Duration {
    rules
        .iter()
        .map(|rule| rule.spec.thresholds.lookback)
        .max()
        .unwrap_or(Duration::hours(24))
}

/// How far back failed backups in a row are counted for a rule with `lookback`.
pub(crate) fn failure_stretch(lookback: Duration) -> Duration {
    lookback
        .max(Duration::days(2))
        .checked_mul(3)
        .unwrap_or(lookback)
}

/// The facts of every watched connector, with the backups that ended since
/// `history_from` (newest first) and the audit failures since `failures_from`.
/// The three reads run at once.
pub(crate) async fn load_facts_since(
    store: &Store,
    history_from: DateTime<Utc>,
    failures_from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<ConnectorFacts>, keepit_store::Error> {
    let audit = keepit_store::AuditQuery {
        categories: vec![
            AuditCategory::Recovery,
            AuditCategory::Connector,
            AuditCategory::Connection,
        ],
        since: Some(failures_from),
        ..keepit_store::AuditQuery::default()
    };
    let watched = ConnectorFilter {
        watched_only: true,
        ..ConnectorFilter::default()
    };
    let (finished, events, connectors) = tokio::try_join!(
        store.finished_backups(history_from, now),
        store.audit_events(&audit),
        store.connectors_with_status(&watched),
    )?;
    let mut backups: HashMap<ConnectorId, Vec<BackupOutcome>> = HashMap::new();
    for backup in finished {
        backups
            .entry(backup.connector)
            .or_default()
            .push(BackupOutcome {
                job: backup.job,
                ended_at: backup.ended_at,
                status: backup.status,
                reason: backup.failure_reason,
            });
    }
    for outcomes in backups.values_mut() {
        outcomes.sort_by_key(|outcome| std::cmp::Reverse(outcome.ended_at));
    }

    let mut failures: HashMap<ConnectorId, Vec<FailureEvent>> = HashMap::new();
    for event in events {
        let facts = AuditFacts {
            area: &event.area,
            acl: &event.acl,
            message: &event.message,
            allowed: event.allowed,
            succeeded: event.succeeded,
        };
        if let (Some(connector), true) = (event.connector.clone(), facts.is_failure()) {
            failures.entry(connector).or_default().push(FailureEvent {
                at: event.time,
                message: event.message.clone(),
            });
        }
    }
    for events in failures.values_mut() {
        events.sort_by_key(|event| std::cmp::Reverse(event.at));
    }

    let mut facts = Vec::new();
    for (connector, status) in connectors {
        let id = connector.record.connector.clone();
        let status = status.map(|stored| stored.status);
        facts.push(ConnectorFacts {
            account: connector.record.account.clone(),
            customer: connector.customer,
            kind: connector.record.kind.clone(),
            state: keepit_domain::ConnectorState {
                accessible: connector.record.accessible,
                deletion_deadline: connector.record.deletion_deadline,
            },
            created: connector.record.created,
            first_seen: connector.first_seen_at,
            last_success_at: status
                .as_ref()
                .and_then(|status| status.last_successful_backup_at),
            last_attempt_at: status.as_ref().and_then(|status| status.last_attempt_at),
            recent_backups: backups.remove(&id).unwrap_or_default(),
            health: status
                .as_ref()
                .map(|status| status.health)
                .unwrap_or(keepit_domain::Health::Unknown),
            health_reason: status
                .as_ref()
                .and_then(|status| status.health_reason.clone()),
            error_code: status.as_ref().and_then(|status| status.error_code.clone()),
            failure_events: failures.remove(&id).unwrap_or_default(),
            connector: id,
        });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod ticket_tests;
