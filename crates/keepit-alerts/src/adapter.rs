//! The thin adapter between the pure engine and the store: load facts, evaluate,
//! apply the decisions, store messages for their recipients and deliver them.
//!
//! This is the only module of the crate that knows `keepit-store`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{
    AuditCategory, AuditFacts, ConnectorId, JobFamily, JobStatus, ReasonScope, UserId,
    route_message,
};
use keepit_store::{
    AlertFilter, AlertObservation, AlertRecord, AlertRuleId, AlertRuleRecord, AlertScope,
    ConnectorFilter, CustomerId, DeliveryAttempt, JobQuery, NewMessage, Store,
};

use crate::engine::{
    self, AlertState, BackupOutcome, ConnectorFacts, Decision, FailureEvent, OpenAlert, Severity,
    Why,
};
use crate::message::{ChangeEvent, compose};
use crate::notify::{
    DeliveryRetry, EmailChannel, Notification, WebhookChannel, deliver_with_retry,
};
use crate::rule::{RuleConfig, RuleId, RuleKind, RuleOverride, RuleParams, RuleScope};

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

/// Deliveries are given up after this many failed attempts across passes.
const MAX_DELIVERY_ATTEMPTS: u32 = 8;

/// Evaluates alerts and handles messages over the store, at the end of each sync pass.
#[derive(Debug, Clone, Default)]
pub struct AlertPass {
    notifiers: Notifiers,
}

impl AlertPass {
    /// An alert pass that notifies through `notifiers` (and always the in-app inbox).
    pub fn new(notifiers: Notifiers) -> Self {
        AlertPass { notifiers }
    }

    /// Runs the evaluation, applies its decisions, stores the messages for `changes`
    /// and works through the delivery queue.
    pub async fn run(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
    ) -> Result<AlertPassSummary, keepit_store::Error> {
        let mut summary = AlertPassSummary::default();
        let rules = load_rules(store).await?;
        let facts = load_facts(store, &rules, now).await?;
        let open_records = store.alerts(&AlertFilter::default()).await?;
        let open: Vec<OpenAlert> = open_records.iter().filter_map(open_alert).collect();
        let by_id: HashMap<i64, &AlertRecord> = open_records
            .iter()
            .map(|record| (record.id.0, record))
            .collect();
        let accounts: HashMap<&ConnectorId, &ConnectorFacts> =
            facts.iter().map(|fact| (&fact.connector, fact)).collect();
        let names = connector_names(store).await?;
        let subscribers = self.subscriber_emails(store).await?;

        for decision in engine::evaluate(&facts, &rules, &open, now) {
            match decision {
                Decision::Open {
                    rule,
                    kind,
                    connector,
                    state,
                    severity,
                    why,
                    ..
                } => {
                    let Some(fact) = accounts.get(&connector) else {
                        continue;
                    };
                    let observation = observation(
                        rule,
                        &connector,
                        fact.account.clone(),
                        state,
                        severity,
                        &why,
                        now,
                    );
                    if let Some(update) = store.apply_alert_observation(&observation).await? {
                        summary.opened += 1;
                        let note = alert_notification(
                            kind,
                            state,
                            severity,
                            &why,
                            names.get(&connector),
                            now,
                        );
                        if self.notify(&subscribers, &note).await {
                            store.mark_alert_notified(update.alert.id, now).await?;
                        }
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
                    let observation = observation(
                        RuleId(record.rule.0),
                        &record.connector,
                        record.account.clone(),
                        state,
                        severity,
                        &why,
                        now,
                    );
                    store.apply_alert_observation(&observation).await?;
                    summary.changed += 1;
                    if notify {
                        let kind = rule_kind(&rules, record.rule);
                        let note = alert_notification(
                            kind,
                            state,
                            severity,
                            &why,
                            names.get(&record.connector),
                            now,
                        );
                        if self.notify(&subscribers, &note).await {
                            store.mark_alert_notified(record.id, now).await?;
                        }
                    }
                }
                Decision::Remind { alert, why } => {
                    let Some(record) = by_id.get(&alert) else {
                        continue;
                    };
                    let kind = rule_kind(&rules, record.rule);
                    let state = AlertState::Firing;
                    let severity = engine_severity(record.severity);
                    let note = alert_notification(
                        kind,
                        state,
                        severity,
                        &why,
                        names.get(&record.connector),
                        now,
                    );
                    if self.notify(&subscribers, &note).await {
                        // Recording the notification also records a "reminded" transition.
                        store.mark_alert_notified(record.id, now).await?;
                        summary.reminded += 1;
                    }
                }
                Decision::Resolve { alert, detail } => {
                    let Some(record) = by_id.get(&alert) else {
                        continue;
                    };
                    let observation = AlertObservation {
                        rule: record.rule,
                        connector: record.connector.clone(),
                        account: record.account.clone(),
                        state: keepit_store::AlertState::Resolved,
                        severity: record.severity,
                        reason: record.reason.clone(),
                        last_success_at: record.last_success_at,
                        last_attempt_at: record.last_attempt_at,
                        at: now,
                        note: Some(detail),
                    };
                    store.apply_alert_observation(&observation).await?;
                    summary.resolved += 1;
                }
            }
        }

        self.store_messages(store, changes, now, &mut summary)
            .await?;
        self.deliver_due(store, now, &mut summary).await?;
        Ok(summary)
    }

    async fn subscriber_emails(&self, store: &Store) -> Result<Vec<String>, keepit_store::Error> {
        let candidates = store.recipient_candidates().await?;
        let chosen = route_message(keepit_domain::Audience::Subscribers, &candidates);
        let users = store.users().await?;
        Ok(users
            .into_iter()
            .filter(|user| chosen.contains(&user.id))
            .map(|user| user.email)
            .collect())
    }

    /// Sends an alert notification through every configured channel. Returns whether
    /// people were told (always true when only the in-app view is configured); when a
    /// channel fails, the alert stays un-notified and the next pass tries again.
    async fn notify(&self, emails: &[String], note: &Notification) -> bool {
        let mut all_ok = true;
        if let Some(email) = &self.notifiers.email {
            for to in emails {
                let report =
                    deliver_with_retry(self.notifiers.retry, || email.send(to, note)).await;
                all_ok &= report.delivered();
            }
        }
        if let Some(webhook) = &self.notifiers.webhook {
            let report = deliver_with_retry(self.notifiers.retry, || webhook.send(note)).await;
            all_ok &= report.delivered();
        }
        all_ok
    }

    async fn store_messages(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
        summary: &mut AlertPassSummary,
    ) -> Result<(), keepit_store::Error> {
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
                customer: draft.customer.map(CustomerId),
                connector: draft.connector,
                job: draft.job,
                dedup_key: draft.dedup_key,
                created_at: now,
            };
            let stored = store.store_message(&new, &recipients).await?;
            if !stored.created {
                continue;
            }
            summary.messages += 1;
            if self.notifiers.email.is_some() {
                for user in &recipients {
                    if let Some(email) = email_of.get(user) {
                        store
                            .enqueue_delivery(stored.id, "email", email, now)
                            .await?;
                    }
                }
            }
            // A personal message (download link) never goes to a shared channel.
            if self.notifiers.webhook.is_some() && !draft.kind.is_personal() {
                store
                    .enqueue_delivery(stored.id, "webhook", "webhook", now)
                    .await?;
            }
        }
        Ok(())
    }

    async fn deliver_due(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        summary: &mut AlertPassSummary,
    ) -> Result<(), keepit_store::Error> {
        for delivery in store.due_deliveries(now, 500).await? {
            let message = store.message(delivery.message).await?;
            let note = Notification {
                kind: message.kind.as_str().to_owned(),
                subject: message.subject.clone(),
                body: message.body.clone(),
                severity: None,
                customer: None,
                at: message.created_at,
            };
            let result = match (
                delivery.channel.as_str(),
                &self.notifiers.email,
                &self.notifiers.webhook,
            ) {
                ("email", Some(email), _) => {
                    deliver_with_retry(self.notifiers.retry, || email.send(&delivery.target, &note))
                        .await
                        .error
                }
                ("webhook", _, Some(webhook)) => {
                    deliver_with_retry(self.notifiers.retry, || webhook.send(&note))
                        .await
                        .error
                }
                // The channel was switched off since the delivery was queued: keep it for when it returns.
                _ => continue,
            };
            let attempt = match result {
                None => {
                    summary.delivered += 1;
                    DeliveryAttempt::Delivered { at: now }
                }
                Some(error) => {
                    summary.delivery_failures += 1;
                    let attempts = delivery.attempts + 1;
                    let retry_at = (attempts < MAX_DELIVERY_ATTEMPTS && error.is_transient())
                        .then(|| now + Duration::minutes(5) * 2i32.pow(attempts.min(8)));
                    tracing::warn!(channel = %delivery.channel, attempts, %error, "message delivery failed");
                    DeliveryAttempt::Failed {
                        at: now,
                        error: error.to_string(),
                        retry_at,
                    }
                }
            };
            store.record_delivery_attempt(delivery.id, &attempt).await?;
        }
        Ok(())
    }
}

fn rule_kind(rules: &[RuleConfig], id: AlertRuleId) -> RuleKind {
    rules
        .iter()
        .find(|rule| rule.id.0 == id.0)
        .map(|rule| rule.kind)
        .unwrap_or(RuleKind::BackupFailed)
}

fn engine_severity(severity: keepit_store::Severity) -> Severity {
    match severity {
        keepit_store::Severity::Warning => Severity::Warning,
        keepit_store::Severity::Critical => Severity::Critical,
    }
}

fn open_alert(record: &AlertRecord) -> Option<OpenAlert> {
    let state = match record.state {
        keepit_store::AlertState::Pending => AlertState::Pending,
        keepit_store::AlertState::Firing => AlertState::Firing,
        keepit_store::AlertState::Resolved => return None,
    };
    Some(OpenAlert {
        id: record.id.0,
        rule: RuleId(record.rule.0),
        connector: record.connector.clone(),
        state,
        severity: engine_severity(record.severity),
        acknowledged_at: record.acknowledged_at,
        silenced_until: record.silenced_until,
        last_notified_at: record.last_notified_at,
    })
}

fn observation(
    rule: RuleId,
    connector: &ConnectorId,
    account: keepit_domain::AccountId,
    state: AlertState,
    severity: Severity,
    why: &Why,
    now: DateTime<Utc>,
) -> AlertObservation {
    AlertObservation {
        rule: AlertRuleId(rule.0),
        connector: connector.clone(),
        account,
        state: match state {
            AlertState::Pending => keepit_store::AlertState::Pending,
            AlertState::Firing => keepit_store::AlertState::Firing,
        },
        severity: match severity {
            Severity::Warning => keepit_store::Severity::Warning,
            Severity::Critical => keepit_store::Severity::Critical,
        },
        reason: why.reason.clone(),
        last_success_at: why.last_success_at,
        last_attempt_at: why.last_attempt_at,
        at: now,
        note: Some(why.detail.clone()),
    }
}

fn alert_notification(
    kind: RuleKind,
    state: AlertState,
    severity: Severity,
    why: &Why,
    names: Option<&(String, String)>,
    now: DateTime<Utc>,
) -> Notification {
    let (customer, connector) = names
        .cloned()
        .unwrap_or_else(|| ("unknown customer".into(), "unknown connector".into()));
    let what = match (kind, state) {
        (RuleKind::BackupStale, AlertState::Pending) => "backup getting stale",
        (RuleKind::BackupStale, AlertState::Firing) => "backup stale",
        (RuleKind::BackupFailed, AlertState::Pending) => "backups failing",
        (RuleKind::BackupFailed, AlertState::Firing) => "backup failed",
    };
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
    Notification {
        kind: kind.as_str().to_owned(),
        subject: format!("{customer} / {connector}: {what}"),
        body,
        severity: Some(severity),
        customer: Some(customer),
        at: now,
    }
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

/// Reads the rules and their overrides as engine configuration.
pub async fn load_rules(store: &Store) -> Result<Vec<RuleConfig>, keepit_store::Error> {
    let mut rules = Vec::new();
    for record in store.alert_rules().await? {
        let overrides = store.alert_rule_overrides(record.id).await?;
        rules.push(rule_config(&record, &overrides));
    }
    Ok(rules)
}

fn rule_config(
    record: &AlertRuleRecord,
    overrides: &[keepit_store::AlertRuleOverride],
) -> RuleConfig {
    let rule = &record.rule;
    let thresholds = &rule.thresholds;
    RuleConfig {
        id: RuleId(record.id.0),
        kind: match rule.kind {
            keepit_store::AlertRuleKind::BackupStale => RuleKind::BackupStale,
            keepit_store::AlertRuleKind::BackupFailed => RuleKind::BackupFailed,
        },
        name: rule.name.clone(),
        enabled: rule.enabled,
        scope: match &rule.scope {
            AlertScope::All => RuleScope::All,
            AlertScope::Customer(customer) => RuleScope::Customer(customer.0),
            AlertScope::ConnectorKind(kind) => RuleScope::ConnectorKind(kind.clone()),
        },
        params: RuleParams {
            stale_after: thresholds.stale_after,
            warn_after: thresholds.warn_after,
            lookback: thresholds.lookback,
            min_consecutive_failures: thresholds.min_consecutive_failures,
            reminder_every: thresholds.reminder_every,
        },
        overrides: overrides
            .iter()
            .map(|o| RuleOverride {
                customer: o.customer.0,
                enabled: o.enabled,
                stale_after: o.stale_after,
                warn_after: o.warn_after.map(Some),
                lookback: o.lookback,
                min_consecutive_failures: o.min_consecutive_failures,
            })
            .collect(),
    }
}

/// Reads what the engine needs to know about every connector that is still in Keepit.
pub async fn load_facts(
    store: &Store,
    rules: &[RuleConfig],
    now: DateTime<Utc>,
) -> Result<Vec<ConnectorFacts>, keepit_store::Error> {
    let lookback = rules
        .iter()
        .map(|rule| rule.params.lookback)
        .max()
        .unwrap_or(Duration::hours(24));
    // Consecutive failures are counted over a longer stretch than one lookback.
    let history_from = lookback
        .max(Duration::days(2))
        .checked_mul(3)
        .and_then(|stretch| now.checked_sub_signed(stretch))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);

    let mut backups: HashMap<ConnectorId, Vec<BackupOutcome>> = HashMap::new();
    let mut query = JobQuery {
        types: vec![keepit_domain::JobType::Backup],
        from: Some(history_from),
        limit: Some(JobQuery::MAX_LIMIT),
        ..JobQuery::default()
    };
    loop {
        let page = store.jobs(&query).await?;
        for job in page.jobs {
            let record = job.record;
            if record.job_type.family() != JobFamily::Backup
                || !record.status.is_finished()
                || record.status == JobStatus::Cancelled
            {
                continue;
            }
            let Some(ended_at) = record.ended_at() else {
                continue;
            };
            backups
                .entry(record.connector.clone())
                .or_default()
                .push(BackupOutcome {
                    job: record.job,
                    ended_at,
                    status: record.status,
                    reason: record.failure_reason,
                });
        }
        match page.next {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    for outcomes in backups.values_mut() {
        outcomes.sort_by_key(|outcome| std::cmp::Reverse(outcome.ended_at));
    }

    let mut failures: HashMap<ConnectorId, Vec<FailureEvent>> = HashMap::new();
    let audit = keepit_store::AuditQuery {
        categories: vec![
            AuditCategory::Recovery,
            AuditCategory::Connector,
            AuditCategory::Connection,
        ],
        since: Some(now - lookback),
        ..keepit_store::AuditQuery::default()
    };
    for event in store.audit_events(&audit).await? {
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
    for (connector, status) in store
        .connectors_with_status(&ConnectorFilter::default())
        .await?
    {
        let id = connector.record.connector.clone();
        let status = status.map(|stored| stored.status);
        facts.push(ConnectorFacts {
            account: connector.record.account.clone(),
            customer: connector
                .customer
                .map(|customer| customer.0)
                .unwrap_or_default(),
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
