//! Alert rules (with per-customer overrides), alerts and their transitions.
//!
//! At most one alert per (rule, connector) is open at a time. The repository checks
//! this inside a transaction, and the `open_key` column ("rule:connector" while open,
//! NULL once resolved) carries a unique index that enforces it on both backends.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, Alert, AlertEvent, AlertId, AlertRule, AlertRuleId, AlertRuleSpec, AlertScope,
    AlertState, ConnectorId, ConnectorKind, CustomerId, CustomerOverride, FailureReason, RuleKind,
    Severity, Threshold, ThresholdOverrides, Thresholds, UserId,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

use crate::convert::{account_id, connector_id, micros, opt_micros};
use crate::entity::{alert, alert_rule, alert_rule_override, alert_transition, connector};
use crate::error::{Error, Result};
use crate::store::Store;

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

/// A stored rule: the rule with its overrides, and its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleRecord {
    /// The rule, with its per-customer overrides.
    pub rule: AlertRule,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What [`Store::apply_alert_observation`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertUpdate {
    /// The alert after the change.
    pub alert: Alert,
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
    /// Only alerts still open or resolved at or after this time (with
    /// `include_resolved`): a bounded history instead of every alert ever stored.
    pub resolved_since: Option<DateTime<Utc>>,
}

fn scope_parts(scope: &AlertScope) -> (&'static str, Option<String>) {
    match scope {
        AlertScope::All => ("all", None),
        AlertScope::Customer(customer) => ("customer", Some(customer.0.to_string())),
        AlertScope::ConnectorKind(kind) => ("connector_kind", Some(kind.code())),
    }
}

/// Thresholds as stored: a JSON object of every threshold by its code, `null` for
/// one that is switched off. Written through [`Threshold::ALL`], so a new threshold
/// needs no change here; a stored rule that lacks it gets its default.
fn thresholds_json(thresholds: &Thresholds) -> String {
    let object: serde_json::Map<String, serde_json::Value> = Threshold::ALL
        .iter()
        .map(|&threshold| {
            (
                threshold.as_str().to_owned(),
                thresholds.get(threshold).into(),
            )
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// Overrides as stored: only the thresholds a customer changes.
fn overrides_json(overrides: &ThresholdOverrides) -> String {
    let object: serde_json::Map<String, serde_json::Value> = overrides
        .0
        .iter()
        .map(|(threshold, value)| (threshold.as_str().to_owned(), (*value).into()))
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// Reads a stored threshold object as (threshold, value) pairs.
fn read_threshold_values(table: &'static str, text: &str) -> Result<Vec<(Threshold, Option<i64>)>> {
    let corrupt = |why: String| Error::corrupt(table, "thresholds", text, why);
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| corrupt(error.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| corrupt("not a JSON object".into()))?;
    object
        .iter()
        .map(|(code, value)| {
            let threshold = Threshold::parse(code).map_err(|error| corrupt(error.to_string()))?;
            let value = match value {
                serde_json::Value::Null => None,
                other => Some(
                    other
                        .as_i64()
                        .ok_or_else(|| corrupt(format!("{code} is not a whole number")))?,
                ),
            };
            Ok((threshold, value))
        })
        .collect()
}

fn read_thresholds(text: &str) -> Result<Thresholds> {
    let mut thresholds = Thresholds::default();
    for (threshold, value) in read_threshold_values("alert_rules", text)? {
        thresholds
            .set(threshold, value)
            .map_err(|error| Error::corrupt("alert_rules", "thresholds", text, error))?;
    }
    Ok(thresholds)
}

fn read_overrides(text: &str) -> Result<ThresholdOverrides> {
    Ok(ThresholdOverrides(
        read_threshold_values("alert_rule_overrides", text)?
            .into_iter()
            .collect(),
    ))
}

fn rule_from_model(
    model: alert_rule::Model,
    overrides: Vec<CustomerOverride>,
) -> Result<AlertRuleRecord> {
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
        rule: AlertRule {
            id: AlertRuleId(model.id),
            spec: AlertRuleSpec {
                kind: RuleKind::parse(&model.kind)
                    .map_err(|e| Error::corrupt(table, "kind", &model.kind, e))?,
                name: model.name,
                enabled: model.enabled,
                scope,
                thresholds: read_thresholds(&model.thresholds)?,
            },
            overrides,
        },
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

fn override_from_model(model: alert_rule_override::Model) -> Result<CustomerOverride> {
    Ok(CustomerOverride {
        customer: CustomerId(model.customer_id),
        enabled: model.enabled,
        thresholds: read_overrides(&model.thresholds)?,
    })
}

pub(crate) fn alert_from_model(model: alert::Model) -> Result<Alert> {
    let table = "alerts";
    Ok(Alert {
        id: AlertId(model.id),
        rule: AlertRuleId(model.rule_id),
        connector: connector_id(table, "connector_guid", &model.connector_guid)?,
        account: account_id(table, "account_guid", &model.account_guid)?,
        customer: model.customer_id.map(CustomerId),
        state: AlertState::parse(&model.state)
            .map_err(|e| Error::corrupt(table, "state", &model.state, e))?,
        severity: Severity::parse(&model.severity)
            .map_err(|e| Error::corrupt(table, "severity", &model.severity, e))?,
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

impl TryFrom<alert_transition::Model> for AlertTransitionRecord {
    type Error = Error;
    fn try_from(model: alert_transition::Model) -> Result<Self> {
        let table = "alert_transitions";
        let state = |text: &str, column| {
            AlertState::parse(text).map_err(|e| Error::corrupt(table, column, text, e))
        };
        Ok(AlertTransitionRecord {
            id: model.id,
            alert: AlertId(model.alert_id),
            transition: NewAlertTransition {
                event: AlertEvent::parse(&model.event)
                    .map_err(|e| Error::corrupt(table, "event", &model.event, e))?,
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

fn rule_model(rule: &AlertRuleSpec, now: DateTime<Utc>) -> alert_rule::ActiveModel {
    let (scope, scope_value) = scope_parts(&rule.scope);
    alert_rule::ActiveModel {
        kind: Set(rule.kind.as_str().to_owned()),
        name: Set(rule.name.clone()),
        enabled: Set(rule.enabled),
        scope: Set(scope.to_owned()),
        scope_value: Set(scope_value),
        thresholds: Set(thresholds_json(&rule.thresholds)),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Resolves the open alerts that `which` selects, inside the caller's transaction,
/// with `note` as the reason in each alert's history. Returns how many resolved.
///
/// Used when connectors stop being watched for a reason outside any rule: their
/// account left the MSP's tree, or their integration was disabled.
pub(crate) async fn resolve_open_alerts<C: ConnectionTrait>(
    conn: &C,
    which: sea_orm::Condition,
    note: &str,
    at: DateTime<Utc>,
) -> Result<u64> {
    let at = micros(at);
    let open = alert::Entity::find()
        .filter(alert::Column::OpenKey.is_not_null())
        .filter(which)
        .all(conn)
        .await?;
    let resolved = open.len() as u64;
    for model in open {
        let id = AlertId(model.id);
        let from = AlertState::parse(&model.state)
            .map_err(|e| Error::corrupt("alerts", "state", &model.state, e))?;
        let mut active: alert::ActiveModel = model.into();
        active.state = Set(AlertState::Resolved.as_str().to_owned());
        active.resolved_at = Set(Some(at));
        active.updated_at = Set(at);
        active.open_key = Set(None);
        active.update(conn).await?;
        insert_transition(
            conn,
            id,
            &NewAlertTransition {
                event: AlertEvent::StateChanged,
                from: Some(from),
                to: AlertState::Resolved,
                at,
                note: Some(note.to_owned()),
                by: None,
            },
        )
        .await?;
    }
    Ok(resolved)
}

impl Store {
    /// All rules with their overrides, oldest first (the two defaults come first).
    pub async fn alert_rules(&self) -> Result<Vec<AlertRuleRecord>> {
        let mut overrides: HashMap<i64, Vec<CustomerOverride>> = HashMap::new();
        for model in alert_rule_override::Entity::find()
            .order_by_asc(alert_rule_override::Column::CustomerId)
            .all(self.db())
            .await?
        {
            let rule = model.rule_id;
            overrides
                .entry(rule)
                .or_default()
                .push(override_from_model(model)?);
        }
        alert_rule::Entity::find()
            .order_by_asc(alert_rule::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|model| {
                let of_rule = overrides.remove(&model.id).unwrap_or_default();
                rule_from_model(model, of_rule)
            })
            .collect()
    }

    /// One rule with its overrides.
    pub async fn alert_rule(&self, id: AlertRuleId) -> Result<AlertRuleRecord> {
        let model = alert_rule::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("alert rule", id))?;
        let overrides = self.alert_rule_overrides(id).await?;
        rule_from_model(model, overrides)
    }

    /// Creates a rule; its thresholds must be valid.
    pub async fn create_alert_rule(
        &self,
        rule: &AlertRuleSpec,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRecord> {
        rule.thresholds
            .validate()
            .map_err(|error| Error::invalid("thresholds", error.to_string()))?;
        let now = micros(now);
        let mut model = rule_model(rule, now);
        model.created_at = Set(now);
        rule_from_model(model.insert(self.db()).await?, Vec::new())
    }

    /// Replaces a rule's content (its overrides stay).
    pub async fn update_alert_rule(
        &self,
        id: AlertRuleId,
        rule: &AlertRuleSpec,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRecord> {
        rule.thresholds
            .validate()
            .map_err(|error| Error::invalid("thresholds", error.to_string()))?;
        let overrides = self.alert_rule(id).await?.rule.overrides;
        let mut model = rule_model(rule, micros(now));
        model.id = Set(id.0);
        rule_from_model(model.update(self.db()).await?, overrides)
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
        rule: AlertRuleId,
        o: &CustomerOverride,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Each value must be acceptable on its own; how it combines with the rule is
        // decided at evaluation time, where one that no longer fits is skipped.
        let mut check = Thresholds::default();
        for (&threshold, &value) in &o.thresholds.0 {
            check
                .set(threshold, value)
                .map_err(|error| Error::invalid("thresholds", error.to_string()))?;
        }
        let model = alert_rule_override::ActiveModel {
            rule_id: Set(rule.0),
            customer_id: Set(o.customer.0),
            enabled: Set(o.enabled),
            thresholds: Set(overrides_json(&o.thresholds)),
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
                    alert_rule_override::Column::Thresholds,
                    alert_rule_override::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        Ok(())
    }

    /// The overrides of a rule, by customer.
    pub async fn alert_rule_overrides(&self, rule: AlertRuleId) -> Result<Vec<CustomerOverride>> {
        alert_rule_override::Entity::find()
            .filter(alert_rule_override::Column::RuleId.eq(rule.0))
            .order_by_asc(alert_rule_override::Column::CustomerId)
            .all(self.db())
            .await?
            .into_iter()
            .map(override_from_model)
            .collect()
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
                    alert: alert_from_model(model)?,
                    opened: true,
                    previous_state: None,
                })
            }
            Some(model) => {
                let before = alert_from_model(model.clone())?;
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
                    // An escalation is news: until its notice is recorded, the alert
                    // counts as not told, so a notice lost on the way is sent later.
                    if o.state.is_open() && (o.state > before.state || o.severity > before.severity)
                    {
                        active.last_notified_at = Set(None);
                    }
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
                        alert: alert_from_model(model)?,
                        opened: false,
                        previous_state: state_changed.then_some(before.state),
                    })
                }
            }
        };
        txn.commit().await?;
        Ok(update)
    }

    /// Stores an alert notice for its recipients with its deliveries queued and, when
    /// `told`, records that people were told about the alert: one transaction, so a
    /// notice is never stored without the alert knowing, nor the other way round.
    pub async fn queue_alert_notice(
        &self,
        alert: AlertId,
        notice: &crate::NewMessage,
        recipients: &[UserId],
        deliveries: &[(&str, &str)],
        told: bool,
    ) -> Result<crate::StoredMessage> {
        let txn = self.begin_write().await?;
        let stored = crate::messages::insert_message(&txn, notice, recipients, deliveries).await?;
        if told {
            let model = alert::Entity::find_by_id(alert.0)
                .one(&txn)
                .await?
                .ok_or_else(|| Error::not_found("alert", alert))?;
            let state = AlertState::parse(&model.state)
                .map_err(|e| Error::corrupt("alerts", "state", &model.state, e))?;
            let at = micros(notice.created_at);
            let mut active: alert::ActiveModel = model.into();
            active.last_notified_at = Set(Some(at));
            active.update(&txn).await?;
            insert_transition(
                &txn,
                alert,
                &NewAlertTransition {
                    event: AlertEvent::Reminded,
                    from: Some(state),
                    to: state,
                    at,
                    note: Some(format!("{} sent", notice.kind)),
                    by: None,
                },
            )
            .await?;
        }
        txn.commit().await?;
        Ok(stored)
    }

    /// One alert.
    pub async fn alert(&self, id: AlertId) -> Result<Alert> {
        alert::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("alert", id))
            .and_then(alert_from_model)
    }

    /// Alerts matching `filter` (open ones unless resolved are asked for), newest first.
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>> {
        let mut query = alert::Entity::find()
            .order_by_desc(alert::Column::OpenedAt)
            .order_by_desc(alert::Column::Id);
        if !filter.include_resolved {
            query = query.filter(alert::Column::OpenKey.is_not_null());
        } else if let Some(since) = filter.resolved_since {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(alert::Column::ResolvedAt.is_null())
                    .add(alert::Column::ResolvedAt.gte(micros(since))),
            );
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
            .map(alert_from_model)
            .collect()
    }

    /// Records that a person acknowledged an open alert.
    pub async fn acknowledge_alert(
        &self,
        id: AlertId,
        by: UserId,
        at: DateTime<Utc>,
    ) -> Result<Alert> {
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
    ) -> Result<Alert> {
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
    pub async fn mark_alert_notified(&self, id: AlertId, at: DateTime<Utc>) -> Result<Alert> {
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
    ) -> Result<Alert> {
        let txn = self.begin_write().await?;
        let model = alert::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("alert", id))?;
        let state = AlertState::parse(&model.state)
            .map_err(|e| Error::corrupt("alerts", "state", &model.state, e))?;
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
        alert_from_model(model)
    }
}
