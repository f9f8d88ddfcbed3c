//! Alert rules (with per-customer overrides), alerts and their transitions.
//!
//! At most one alert per (rule, connector) is open at a time. The repository checks
//! this inside a transaction, and the `open_key` column ("rule:connector" while open,
//! NULL once resolved) carries a unique index that enforces it on both backends.

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{AccountId, ConnectorId, ConnectorKind, FailureReason, UserId};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::convert::{account_id, connector_id, micros, opt_micros};
use crate::entity::{alert, alert_rule, alert_rule_override, alert_transition, connector};
use crate::error::{Error, Result};
use crate::ids::{AlertId, AlertRuleId, CustomerId};
use crate::store::Store;

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored and wire form.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

text_enum!(
    /// What a rule watches.
    AlertRuleKind {
        /// No successful backup within the threshold.
        BackupStale => "backup_stale",
        /// The latest backup failed, the connector is in an error state, or the audit log shows a failure.
        BackupFailed => "backup_failed",
    }
);

text_enum!(
    /// Where an alert is in its lifecycle.
    AlertState {
        /// The condition holds but has not lasted long enough to fire.
        Pending => "pending",
        /// Firing.
        Firing => "firing",
        /// The condition cleared.
        Resolved => "resolved",
    }
);

text_enum!(
    /// How bad it is.
    Severity {
        /// Worth a look.
        Warning => "warning",
        /// Needs action.
        Critical => "critical",
    }
);

text_enum!(
    /// What a transition row records.
    AlertEvent {
        /// The state changed (including opening, with no previous state).
        StateChanged => "state_changed",
        /// A person acknowledged the alert.
        Acknowledged => "acknowledged",
        /// A person silenced (or unsilenced) the alert.
        Silenced => "silenced",
        /// A reminder was sent while firing.
        Reminded => "reminded",
    }
);

/// Which connectors a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertScope {
    /// Every connector.
    All,
    /// One customer's connectors.
    Customer(CustomerId),
    /// Connectors of one kind.
    ConnectorKind(ConnectorKind),
}

/// A rule's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertThresholds {
    /// Stale after this long without a successful backup (default 48 h).
    pub stale_after: TimeDelta,
    /// Optional earlier warning stage (default 24 h).
    pub warn_after: Option<TimeDelta>,
    /// How far back failures count (default 24 h).
    pub lookback: TimeDelta,
    /// Fire only after this many consecutive failures (default 1).
    pub min_consecutive_failures: u32,
    /// Remind while firing this often (default 24 h).
    pub reminder_every: TimeDelta,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            stale_after: TimeDelta::hours(48),
            warn_after: Some(TimeDelta::hours(24)),
            lookback: TimeDelta::hours(24),
            min_consecutive_failures: 1,
            reminder_every: TimeDelta::hours(24),
        }
    }
}

/// A rule to create or the new content of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertRule {
    /// What it watches.
    pub kind: AlertRuleKind,
    /// Name for people.
    pub name: String,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Where it applies.
    pub scope: AlertScope,
    /// Thresholds.
    pub thresholds: AlertThresholds,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleRecord {
    /// Row id.
    pub id: AlertRuleId,
    /// Content.
    pub rule: NewAlertRule,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Per-customer changes to one rule; `None` keeps the rule's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleOverride {
    /// The rule.
    pub rule: AlertRuleId,
    /// The customer.
    pub customer: CustomerId,
    /// Enable or disable the rule for this customer.
    pub enabled: Option<bool>,
    /// Other stale threshold.
    pub stale_after: Option<TimeDelta>,
    /// Other warning stage.
    pub warn_after: Option<TimeDelta>,
    /// Other lookback.
    pub lookback: Option<TimeDelta>,
    /// Other failure count.
    pub min_consecutive_failures: Option<u32>,
    /// Other reminder interval.
    pub reminder_every: Option<TimeDelta>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    /// Row id.
    pub id: AlertId,
    /// The rule that raised it.
    pub rule: AlertRuleId,
    /// The connector it is about.
    pub connector: ConnectorId,
    /// That connector's account.
    pub account: AccountId,
    /// That account's customer.
    pub customer: Option<CustomerId>,
    /// Lifecycle state.
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// Why, with a resolution in the catalogue.
    pub reason: Option<FailureReason>,
    /// Last successful backup.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last backup attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When people were last told about it.
    pub last_notified_at: Option<DateTime<Utc>>,
    /// When a person acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<UserId>,
    /// Silenced until then.
    pub silenced_until: Option<DateTime<Utc>>,
}

/// What an evaluation concluded about one (rule, connector) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertObservation {
    /// The rule.
    pub rule: AlertRuleId,
    /// The connector.
    pub connector: ConnectorId,
    /// Its account.
    pub account: AccountId,
    /// The state the alert should be in (`Resolved` when the condition cleared).
    pub state: AlertState,
    /// Severity.
    pub severity: Severity,
    /// Why.
    pub reason: Option<FailureReason>,
    /// Last successful backup.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last backup attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Evaluation time.
    pub at: DateTime<Utc>,
    /// Note stored with a transition.
    pub note: Option<String>,
}

/// A transition to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertTransition {
    /// What happened.
    pub event: AlertEvent,
    /// State before (none when the alert opened).
    pub from: Option<AlertState>,
    /// State after.
    pub to: AlertState,
    /// When.
    pub at: DateTime<Utc>,
    /// Free text.
    pub note: Option<String>,
    /// The person who did it.
    pub by: Option<UserId>,
}

/// A stored transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTransitionRecord {
    /// Row id.
    pub id: i64,
    /// The alert.
    pub alert: AlertId,
    /// What happened.
    pub transition: NewAlertTransition,
}

/// What [`Store::apply_alert_observation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertUpdate {
    /// The alert after the change.
    pub alert: AlertRecord,
    /// Whether it was opened now.
    pub opened: bool,
    /// The state it had before, when the state changed.
    pub previous_state: Option<AlertState>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Only this connector's.
    pub connector: Option<ConnectorId>,
    /// Only this rule's.
    pub rule: Option<AlertRuleId>,
    /// Include resolved alerts.
    pub include_resolved: bool,
}

fn secs(delta: TimeDelta) -> i64 {
    delta.num_seconds()
}

fn delta(seconds: i64) -> TimeDelta {
    TimeDelta::seconds(seconds)
}

fn scope_parts(scope: &AlertScope) -> (&'static str, Option<String>) {
    match scope {
        AlertScope::All => ("all", None),
        AlertScope::Customer(customer) => ("customer", Some(customer.0.to_string())),
        AlertScope::ConnectorKind(kind) => ("connector_kind", Some(kind.code())),
    }
}

impl TryFrom<alert_rule::Model> for AlertRuleRecord {
    type Error = Error;
    fn try_from(model: alert_rule::Model) -> Result<Self> {
        let table = "alert_rules";
        let scope = match (model.scope.as_str(), model.scope_value.as_deref()) {
            ("all", _) => AlertScope::All,
            ("customer", Some(value)) => AlertScope::Customer(CustomerId(
                value
                    .parse()
                    .map_err(|e| Error::corrupt(table, "scope_value", value, e))?,
            )),
            ("connector_kind", Some(value)) => {
                AlertScope::ConnectorKind(ConnectorKind::from_code(value))
            }
            (other, _) => {
                return Err(Error::corrupt(
                    table,
                    "scope",
                    other,
                    "unknown scope or missing value",
                ));
            }
        };
        Ok(AlertRuleRecord {
            id: AlertRuleId(model.id),
            rule: NewAlertRule {
                kind: AlertRuleKind::parse(&model.kind).ok_or_else(|| {
                    Error::corrupt(table, "kind", &model.kind, "unknown rule kind")
                })?,
                name: model.name,
                enabled: model.enabled,
                scope,
                thresholds: AlertThresholds {
                    stale_after: delta(model.stale_after_secs),
                    warn_after: model.warn_after_secs.map(delta),
                    lookback: delta(model.lookback_secs),
                    min_consecutive_failures: u32::try_from(model.min_consecutive_failures)
                        .unwrap_or(1),
                    reminder_every: delta(model.reminder_every_secs),
                },
            },
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

impl TryFrom<alert::Model> for AlertRecord {
    type Error = Error;
    fn try_from(model: alert::Model) -> Result<Self> {
        let table = "alerts";
        Ok(AlertRecord {
            id: AlertId(model.id),
            rule: AlertRuleId(model.rule_id),
            connector: connector_id(table, "connector_guid", &model.connector_guid)?,
            account: account_id(table, "account_guid", &model.account_guid)?,
            customer: model.customer_id.map(CustomerId),
            state: AlertState::parse(&model.state)
                .ok_or_else(|| Error::corrupt(table, "state", &model.state, "unknown state"))?,
            severity: Severity::parse(&model.severity).ok_or_else(|| {
                Error::corrupt(table, "severity", &model.severity, "unknown severity")
            })?,
            reason: model
                .reason_code
                .as_deref()
                .map(|code| FailureReason::from_stored(code, model.reason_raw.as_deref())),
            last_success_at: model.last_success_at,
            last_attempt_at: model.last_attempt_at,
            opened_at: model.opened_at,
            updated_at: model.updated_at,
            resolved_at: model.resolved_at,
            last_notified_at: model.last_notified_at,
            acknowledged_at: model.acknowledged_at,
            acknowledged_by: model.acknowledged_by.map(UserId),
            silenced_until: model.silenced_until,
        })
    }
}

impl TryFrom<alert_transition::Model> for AlertTransitionRecord {
    type Error = Error;
    fn try_from(model: alert_transition::Model) -> Result<Self> {
        let table = "alert_transitions";
        let state = |text: &str, column| {
            AlertState::parse(text)
                .ok_or_else(|| Error::corrupt(table, column, text, "unknown state"))
        };
        Ok(AlertTransitionRecord {
            id: model.id,
            alert: AlertId(model.alert_id),
            transition: NewAlertTransition {
                event: AlertEvent::parse(&model.event)
                    .ok_or_else(|| Error::corrupt(table, "event", &model.event, "unknown event"))?,
                from: model
                    .from_state
                    .as_deref()
                    .map(|s| state(s, "from_state"))
                    .transpose()?,
                to: state(&model.to_state, "to_state")?,
                at: model.at,
                note: model.note,
                by: model.user_id.map(UserId),
            },
        })
    }
}

fn open_key(rule: AlertRuleId, connector: &ConnectorId) -> String {
    format!("{}:{}", rule.0, connector)
}

async fn insert_transition<C: ConnectionTrait>(
    conn: &C,
    alert: AlertId,
    t: &NewAlertTransition,
) -> Result<()> {
    alert_transition::ActiveModel {
        alert_id: Set(alert.0),
        event: Set(t.event.as_str().to_owned()),
        from_state: Set(t.from.map(|s| s.as_str().to_owned())),
        to_state: Set(t.to.as_str().to_owned()),
        at: Set(micros(t.at)),
        note: Set(t.note.clone()),
        user_id: Set(t.by.map(|u| u.0)),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

fn rule_model(rule: &NewAlertRule, now: DateTime<Utc>) -> alert_rule::ActiveModel {
    let (scope, scope_value) = scope_parts(&rule.scope);
    let t = &rule.thresholds;
    alert_rule::ActiveModel {
        kind: Set(rule.kind.as_str().to_owned()),
        name: Set(rule.name.clone()),
        enabled: Set(rule.enabled),
        scope: Set(scope.to_owned()),
        scope_value: Set(scope_value),
        stale_after_secs: Set(secs(t.stale_after)),
        warn_after_secs: Set(t.warn_after.map(secs)),
        lookback_secs: Set(secs(t.lookback)),
        min_consecutive_failures: Set(i32::try_from(t.min_consecutive_failures).unwrap_or(i32::MAX)),
        reminder_every_secs: Set(secs(t.reminder_every)),
        updated_at: Set(now),
        ..Default::default()
    }
}

impl Store {
    /// All rules, oldest first (the two defaults come first).
    pub async fn alert_rules(&self) -> Result<Vec<AlertRuleRecord>> {
        alert_rule::Entity::find()
            .order_by_asc(alert_rule::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// One rule.
    pub async fn alert_rule(&self, id: AlertRuleId) -> Result<AlertRuleRecord> {
        alert_rule::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("alert rule", id))?
            .try_into()
    }

    /// Creates a rule.
    pub async fn create_alert_rule(
        &self,
        rule: &NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRecord> {
        let now = micros(now);
        let mut model = rule_model(rule, now);
        model.created_at = Set(now);
        model.insert(self.db()).await?.try_into()
    }

    /// Replaces a rule's content.
    pub async fn update_alert_rule(
        &self,
        id: AlertRuleId,
        rule: &NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRecord> {
        self.alert_rule(id).await?;
        let mut model = rule_model(rule, micros(now));
        model.id = Set(id.0);
        model.update(self.db()).await?.try_into()
    }

    /// Deletes a rule with its alerts and overrides. Returns `false` when it did not exist.
    pub async fn delete_alert_rule(&self, id: AlertRuleId) -> Result<bool> {
        Ok(alert_rule::Entity::delete_by_id(id.0)
            .exec(self.db())
            .await?
            .rows_affected
            == 1)
    }

    /// Sets (creates or replaces) a customer's override of a rule.
    pub async fn set_alert_rule_override(
        &self,
        o: &AlertRuleOverride,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let model = alert_rule_override::ActiveModel {
            rule_id: Set(o.rule.0),
            customer_id: Set(o.customer.0),
            enabled: Set(o.enabled),
            stale_after_secs: Set(o.stale_after.map(secs)),
            warn_after_secs: Set(o.warn_after.map(secs)),
            lookback_secs: Set(o.lookback.map(secs)),
            min_consecutive_failures: Set(o
                .min_consecutive_failures
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX))),
            reminder_every_secs: Set(o.reminder_every.map(secs)),
            updated_at: Set(micros(now)),
            ..Default::default()
        };
        alert_rule_override::Entity::insert(model)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    alert_rule_override::Column::RuleId,
                    alert_rule_override::Column::CustomerId,
                ])
                .update_columns([
                    alert_rule_override::Column::Enabled,
                    alert_rule_override::Column::StaleAfterSecs,
                    alert_rule_override::Column::WarnAfterSecs,
                    alert_rule_override::Column::LookbackSecs,
                    alert_rule_override::Column::MinConsecutiveFailures,
                    alert_rule_override::Column::ReminderEverySecs,
                    alert_rule_override::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }

    /// The overrides of a rule.
    pub async fn alert_rule_overrides(&self, rule: AlertRuleId) -> Result<Vec<AlertRuleOverride>> {
        Ok(alert_rule_override::Entity::find()
            .filter(alert_rule_override::Column::RuleId.eq(rule.0))
            .order_by_asc(alert_rule_override::Column::CustomerId)
            .all(self.db())
            .await?
            .into_iter()
            .map(|m| AlertRuleOverride {
                rule: AlertRuleId(m.rule_id),
                customer: CustomerId(m.customer_id),
                enabled: m.enabled,
                stale_after: m.stale_after_secs.map(delta),
                warn_after: m.warn_after_secs.map(delta),
                lookback: m.lookback_secs.map(delta),
                min_consecutive_failures: m
                    .min_consecutive_failures
                    .map(|n| u32::try_from(n).unwrap_or(1)),
                reminder_every: m.reminder_every_secs.map(delta),
            })
            .collect())
    }

    /// Removes a customer's override. Returns `false` when there was none.
    pub async fn delete_alert_rule_override(
        &self,
        rule: AlertRuleId,
        customer: CustomerId,
    ) -> Result<bool> {
        Ok(alert_rule_override::Entity::delete_many()
            .filter(alert_rule_override::Column::RuleId.eq(rule.0))
            .filter(alert_rule_override::Column::CustomerId.eq(customer.0))
            .exec(self.db())
            .await?
            .rows_affected
            == 1)
    }

    /// Brings the open alert of (rule, connector) in line with an evaluation, in one
    /// transaction: opens one when none is open, updates it, records a transition when
    /// the state changes, and closes it on `Resolved`. Returns `None` when nothing
    /// changed (no open alert and nothing to open, or an identical observation).
    pub async fn apply_alert_observation(
        &self,
        o: &AlertObservation,
    ) -> Result<Option<AlertUpdate>> {
        let at = micros(o.at);
        let key = open_key(o.rule, &o.connector);
        let txn = self.begin_write().await?;
        let existing = alert::Entity::find()
            .filter(alert::Column::OpenKey.eq(key.as_str()))
            .one(&txn)
            .await?;
        let reason_code = o.reason.as_ref().map(|r| r.code().to_owned());
        let reason_raw = o.reason.as_ref().and_then(|r| r.raw()).map(str::to_owned);
        let update = match existing {
            None if o.state == AlertState::Resolved => None,
            None => {
                let customer: Option<Option<i64>> = connector::Entity::find()
                    .filter(connector::Column::ConnectorGuid.eq(o.connector.as_str()))
                    .one(&txn)
                    .await?
                    .map(|c| c.customer_id);
                let customer =
                    customer.ok_or_else(|| Error::not_found("connector", &o.connector))?;
                let model = alert::ActiveModel {
                    rule_id: Set(o.rule.0),
                    connector_guid: Set(o.connector.to_string()),
                    account_guid: Set(o.account.to_string()),
                    customer_id: Set(customer),
                    state: Set(o.state.as_str().to_owned()),
                    severity: Set(o.severity.as_str().to_owned()),
                    reason_code: Set(reason_code),
                    reason_raw: Set(reason_raw),
                    last_success_at: Set(opt_micros(o.last_success_at)),
                    last_attempt_at: Set(opt_micros(o.last_attempt_at)),
                    opened_at: Set(at),
                    updated_at: Set(at),
                    resolved_at: Set(None),
                    last_notified_at: Set(None),
                    acknowledged_at: Set(None),
                    acknowledged_by: Set(None),
                    silenced_until: Set(None),
                    open_key: Set(Some(key)),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
                let id = AlertId(model.id);
                insert_transition(
                    &txn,
                    id,
                    &NewAlertTransition {
                        event: AlertEvent::StateChanged,
                        from: None,
                        to: o.state,
                        at,
                        note: o.note.clone(),
                        by: None,
                    },
                )
                .await?;
                Some(AlertUpdate {
                    alert: model.try_into()?,
                    opened: true,
                    previous_state: None,
                })
            }
            Some(model) => {
                let before: AlertRecord = model.clone().try_into()?;
                let state_changed = before.state != o.state;
                let content_changed = model.severity != o.severity.as_str()
                    || model.reason_code != reason_code
                    || model.reason_raw != reason_raw
                    || model.last_success_at != opt_micros(o.last_success_at)
                    || model.last_attempt_at != opt_micros(o.last_attempt_at);
                if !state_changed && !content_changed {
                    None
                } else {
                    let mut active: alert::ActiveModel = model.into();
                    active.state = Set(o.state.as_str().to_owned());
                    active.severity = Set(o.severity.as_str().to_owned());
                    active.reason_code = Set(reason_code);
                    active.reason_raw = Set(reason_raw);
                    active.last_success_at = Set(opt_micros(o.last_success_at));
                    active.last_attempt_at = Set(opt_micros(o.last_attempt_at));
                    active.updated_at = Set(at);
                    if o.state == AlertState::Resolved {
                        active.resolved_at = Set(Some(at));
                        active.open_key = Set(None);
                    }
                    let model = active.update(&txn).await?;
                    if state_changed {
                        insert_transition(
                            &txn,
                            before.id,
                            &NewAlertTransition {
                                event: AlertEvent::StateChanged,
                                from: Some(before.state),
                                to: o.state,
                                at,
                                note: o.note.clone(),
                                by: None,
                            },
                        )
                        .await?;
                    }
                    Some(AlertUpdate {
                        alert: model.try_into()?,
                        opened: false,
                        previous_state: state_changed.then_some(before.state),
                    })
                }
            }
        };
        txn.commit().await?;
        Ok(update)
    }

    /// One alert.
    pub async fn alert(&self, id: AlertId) -> Result<AlertRecord> {
        alert::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("alert", id))?
            .try_into()
    }

    /// Alerts matching `filter` (open ones unless resolved are asked for), newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRecord>> {
        let mut query = alert::Entity::find()
            .order_by_desc(alert::Column::OpenedAt)
            .order_by_desc(alert::Column::Id);
        if !filter.include_resolved {
            query = query.filter(alert::Column::OpenKey.is_not_null());
        }
        if let Some(customer) = filter.customer {
            query = query.filter(alert::Column::CustomerId.eq(customer.0));
        }
        if let Some(connector) = &filter.connector {
            query = query.filter(alert::Column::ConnectorGuid.eq(connector.as_str()));
        }
        if let Some(rule) = filter.rule {
            query = query.filter(alert::Column::RuleId.eq(rule.0));
        }
        query
            .all(self.reader())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Records that a person acknowledged an open alert.
    pub async fn acknowledge_alert(
        &self,
        id: AlertId,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<AlertRecord> {
        self.change_alert(id, AlertEvent::Acknowledged, Some(by), at, None, |active| {
            active.acknowledged_at = Set(Some(micros(at)));
            active.acknowledged_by = Set(Some(by.0));
        })
        .await
    }

    /// Silences an alert until `until` (`None` lifts the silence).
    pub async fn silence_alert(
        &self,
        id: AlertId,
        until: Option<DateTime<Utc>>,
        by: Option<UserId>,
        at: DateTime<Utc>,
    ) -> Result<AlertRecord> {
        let note = Some(match until {
            Some(until) => format!("silenced until {}", until.to_rfc3339()),
            None => "silence lifted".to_owned(),
        });
        self.change_alert(id, AlertEvent::Silenced, by, at, note, |active| {
            active.silenced_until = Set(until.map(micros));
        })
        .await
    }

    /// Records that people were told about an alert (first notice or reminder).
    pub async fn mark_alert_notified(&self, id: AlertId, at: DateTime<Utc>) -> Result<AlertRecord> {
        self.change_alert(id, AlertEvent::Reminded, None, at, None, |active| {
            active.last_notified_at = Set(Some(micros(at)));
        })
        .await
    }

    /// Records a transition of an alert as given.
    pub async fn record_alert_transition(
        &self,
        id: AlertId,
        transition: &NewAlertTransition,
    ) -> Result<()> {
        self.alert(id).await?;
        insert_transition(self.db(), id, transition).await
    }

    /// An alert's transitions, oldest first.
    pub async fn alert_transitions(&self, id: AlertId) -> Result<Vec<AlertTransitionRecord>> {
        alert_transition::Entity::find()
            .filter(alert_transition::Column::AlertId.eq(id.0))
            .order_by_asc(alert_transition::Column::At)
            .order_by_asc(alert_transition::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn change_alert(
        &self,
        id: AlertId,
        event: AlertEvent,
        by: Option<UserId>,
        at: DateTime<Utc>,
        note: Option<String>,
        change: impl FnOnce(&mut alert::ActiveModel),
    ) -> Result<AlertRecord> {
        let txn = self.begin_write().await?;
        let model = alert::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("alert", id))?;
        let state = AlertState::parse(&model.state)
            .ok_or_else(|| Error::corrupt("alerts", "state", &model.state, "unknown state"))?;
        let mut active: alert::ActiveModel = model.into();
        change(&mut active);
        active.updated_at = Set(micros(at));
        let model = active.update(&txn).await?;
        insert_transition(
            &txn,
            id,
            &NewAlertTransition {
                event,
                from: Some(state),
                to: state,
                at,
                note,
                by,
            },
        )
        .await?;
        txn.commit().await?;
        model.try_into()
    }
}
