//! The pure evaluation engine: facts, rules and open alerts in; decisions out.
//!
//! [`evaluate`] is deterministic and does no I/O, so every rule is tested with a
//! fixed clock. An adapter loads the inputs from the store and applies the decisions
//! (storing alerts and their transitions, and sending notifications).

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{
    AccountId, ConditionClass, ConnectorErrorCode, ConnectorId, ConnectorKind, ConnectorState,
    FailureReason, Health, HealthReason, JobId, JobStatus,
};

use crate::rule::{RuleConfig, RuleId, RuleKind, RuleParams};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth a look soon.
    Warning,
    /// Backups are not happening or failing now.
    Critical,
}

impl Severity {
    /// Stable lowercase code.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Reverses [`Severity::as_str`].
    pub fn parse(code: &str) -> Option<Severity> {
        match code {
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an open alert is in its lifecycle (resolved alerts are closed, not open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// The condition holds but has not reached the firing threshold yet
    /// (the stale warning stage, or fewer consecutive failures than required).
    Pending,
    /// The condition holds in full.
    Firing,
}

impl AlertState {
    /// Stable lowercase code.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }

    /// Reverses [`AlertState::as_str`].
    pub fn parse(code: &str) -> Option<AlertState> {
        match code {
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            _ => None,
        }
    }
}

/// The outcome of one finished backup job.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupOutcome {
    /// The job.
    pub job: JobId,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Its decided status.
    pub status: JobStatus,
    /// Why it failed, when it did.
    pub reason: Option<FailureReason>,
}

/// A recovery or connector failure reported by the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Keepit's message.
    pub message: String,
}

/// Everything the engine needs to know about one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorFacts {
    /// The connector.
    pub connector: ConnectorId,
    /// Its Keepit account.
    pub account: AccountId,
    /// The customer it belongs to (the store's id).
    pub customer: i64,
    /// What it backs up.
    pub kind: ConnectorKind,
    /// Accessibility and deletion schedule.
    pub state: ConnectorState,
    /// When Keepit says it was created.
    pub created: Option<DateTime<Utc>>,
    /// When keepit-watch first saw it; the fallback start of the stale clock.
    pub first_seen: DateTime<Utc>,
    /// End of the last successful backup (or the latest complete snapshot, whichever is later).
    pub last_success_at: Option<DateTime<Utc>>,
    /// End (or start, while running) of the last backup attempt of any outcome.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Finished backup jobs, newest first; the engine looks at the leading ones only.
    pub recent_backups: Vec<BackupOutcome>,
    /// Keepit's health rating.
    pub health: Health,
    /// Keepit's health reason.
    pub health_reason: Option<HealthReason>,
    /// The connector's current error code.
    pub error_code: Option<ConnectorErrorCode>,
    /// Recovery and connector failure events from the audit log, newest first.
    pub failure_events: Vec<FailureEvent>,
}

impl ConnectorFacts {
    /// The connector's error state, when it is one the failed rule reports:
    /// authentication, permissions or quota.
    pub fn error_state(&self) -> Option<FailureReason> {
        let from_code = self
            .error_code
            .as_ref()
            .map(|code| FailureReason::from_error_code(code, Some(&self.kind)));
        let from_health = self
            .health_reason
            .as_ref()
            .and_then(FailureReason::from_health_reason);
        [from_code, from_health].into_iter().flatten().find(|reason| {
            matches!(reason, FailureReason::Known(code) if matches!(
                code.condition_class(),
                ConditionClass::Authentication | ConditionClass::Permissions | ConditionClass::Quota
            ))
        })
    }

    fn authentication_broken(&self) -> bool {
        matches!(self.error_state(), Some(FailureReason::Known(code)) if code.condition_class() == ConditionClass::Authentication)
    }
}

/// An alert that is open (pending or firing).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    /// The store's id of the alert.
    pub id: i64,
    /// The rule that raised it.
    pub rule: RuleId,
    /// The connector it is about.
    pub connector: ConnectorId,
    /// Pending or firing.
    pub state: AlertState,
    /// Its severity.
    pub severity: Severity,
    /// When someone acknowledged it, if anyone did.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// No notifications until this time.
    pub silenced_until: Option<DateTime<Utc>>,
    /// When people were last told about it.
    pub last_notified_at: Option<DateTime<Utc>>,
}

impl OpenAlert {
    fn silenced(&self, now: DateTime<Utc>) -> bool {
        self.silenced_until.is_some_and(|until| until > now)
    }
}

/// Why an alert is open: what an MSP technician needs to act.
#[derive(Debug, Clone, PartialEq)]
pub struct Why {
    /// End of the last successful backup.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last backup attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The failure reason, when one is known; its catalogue entry gives the resolution.
    pub reason: Option<FailureReason>,
    /// Failed backups in a row, newest first.
    pub consecutive_failures: u32,
    /// One sentence for people.
    pub detail: String,
}

/// What the adapter should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Open a new alert.
    Open {
        /// The rule.
        rule: RuleId,
        /// The rule's kind.
        kind: RuleKind,
        /// The connector.
        connector: ConnectorId,
        /// The connector's customer.
        customer: i64,
        /// Pending or firing.
        state: AlertState,
        /// Its severity.
        severity: Severity,
        /// Why.
        why: Why,
    },
    /// Move an open alert to another state or severity.
    Change {
        /// The alert.
        alert: i64,
        /// The new state.
        state: AlertState,
        /// The new severity.
        severity: Severity,
        /// Why.
        why: Why,
        /// Whether people should be told (an escalation outside a silence).
        notify: bool,
    },
    /// Tell people again about an alert that is still firing and unacknowledged.
    Remind {
        /// The alert.
        alert: i64,
        /// Why it is still open.
        why: Why,
    },
    /// Close an alert whose condition has cleared.
    Resolve {
        /// The alert.
        alert: i64,
        /// Why it closed.
        detail: String,
    },
}

/// A condition that holds, with the state and severity it calls for.
struct Finding {
    state: AlertState,
    severity: Severity,
    why: Why,
}

/// Evaluates every rule against every connector and compares with the open alerts.
///
/// - A condition that holds without an open alert opens one.
/// - A condition that holds with a different state or severity changes the alert;
///   an escalation notifies unless the alert is silenced.
/// - A firing alert that nobody acknowledged and that is not silenced is reminded
///   about every `reminder_every`.
/// - An open alert whose condition cleared, whose connector is no longer active or
///   synced, or whose rule was disabled, removed or scoped away, resolves.
///
/// Decisions come out in a stable order: by rule, then by connector, then resolutions.
pub fn evaluate(
    facts: &[ConnectorFacts],
    rules: &[RuleConfig],
    open: &[OpenAlert],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let open_by_key: HashMap<(RuleId, &ConnectorId), &OpenAlert> = open
        .iter()
        .map(|alert| ((alert.rule, &alert.connector), alert))
        .collect();
    let mut still_open: HashSet<i64> = HashSet::with_capacity(open.len());
    let mut decisions = Vec::new();
    for rule in rules
        .iter()
        .filter(|rule| rule.enabled || !rule.overrides.is_empty())
    {
        for connector in facts {
            if !rule.applies_to(connector.customer, &connector.kind) {
                continue;
            }
            let params = rule.params_for(connector.customer);
            let finding = match rule.kind {
                RuleKind::BackupStale => check_stale(connector, &params, now),
                RuleKind::BackupFailed => check_failed(connector, &params, now),
            };
            let existing = open_by_key.get(&(rule.id, &connector.connector)).copied();
            match (finding, existing) {
                (Some(finding), None) => decisions.push(Decision::Open {
                    rule: rule.id,
                    kind: rule.kind,
                    connector: connector.connector.clone(),
                    customer: connector.customer,
                    state: finding.state,
                    severity: finding.severity,
                    why: finding.why,
                }),
                (Some(finding), Some(alert)) => {
                    still_open.insert(alert.id);
                    if finding.state != alert.state || finding.severity != alert.severity {
                        let escalation =
                            finding.severity > alert.severity || finding.state > alert.state;
                        decisions.push(Decision::Change {
                            alert: alert.id,
                            state: finding.state,
                            severity: finding.severity,
                            why: finding.why,
                            notify: escalation && !alert.silenced(now),
                        });
                    } else if alert.state == AlertState::Firing
                        && alert.acknowledged_at.is_none()
                        && !alert.silenced(now)
                        && alert
                            .last_notified_at
                            .is_none_or(|last| now - last >= params.reminder_every)
                    {
                        decisions.push(Decision::Remind {
                            alert: alert.id,
                            why: finding.why,
                        });
                    }
                }
                (None, Some(alert)) => {
                    still_open.insert(alert.id);
                    decisions.push(Decision::Resolve {
                        alert: alert.id,
                        detail: cleared_detail(rule.kind, connector),
                    });
                }
                (None, None) => {}
            }
        }
    }
    for alert in open {
        if !still_open.contains(&alert.id) {
            decisions.push(Decision::Resolve {
                alert: alert.id,
                detail: "the rule no longer applies to this connector, or the connector is no longer in Keepit".into(),
            });
        }
    }
    decisions
}

fn cleared_detail(kind: RuleKind, connector: &ConnectorFacts) -> String {
    if !connector.state.is_active() {
        return "the connector is no longer active (inaccessible or scheduled for deletion)".into();
    }
    match kind {
        RuleKind::BackupStale if connector.authentication_broken() => {
            "superseded by the failed-backup alert: the connector's sign-in is broken".into()
        }
        RuleKind::BackupStale => "a backup succeeded again".into(),
        RuleKind::BackupFailed => "no failure within the lookback any more".into(),
    }
}

fn check_stale(
    connector: &ConnectorFacts,
    params: &RuleParams,
    now: DateTime<Utc>,
) -> Option<Finding> {
    // An authentication failure explains the missing backups; the failed rule reports it.
    if !connector.state.is_active() || connector.authentication_broken() {
        return None;
    }
    let (clock_start, never) = match connector.last_success_at {
        Some(success) => (success, false),
        None => (connector.created.unwrap_or(connector.first_seen), true),
    };
    let age = now - clock_start;
    let (state, severity) = if age >= params.stale_after {
        (AlertState::Firing, Severity::Critical)
    } else if params
        .warn_after
        .is_some_and(|warn_after| age >= warn_after)
    {
        (AlertState::Pending, Severity::Warning)
    } else {
        return None;
    };
    let detail = if never {
        format!("never backed up successfully; created {} ago", human(age))
    } else {
        format!("no successful backup for {}", human(age))
    };
    let reason = connector
        .recent_backups
        .first()
        .and_then(|latest| latest.reason.clone());
    Some(Finding {
        state,
        severity,
        why: Why {
            last_success_at: connector.last_success_at,
            last_attempt_at: connector.last_attempt_at,
            reason,
            consecutive_failures: consecutive_failures(connector),
            detail,
        },
    })
}

fn consecutive_failures(connector: &ConnectorFacts) -> u32 {
    connector
        .recent_backups
        .iter()
        .take_while(|outcome| {
            matches!(
                outcome.status,
                JobStatus::Unsuccessful | JobStatus::Incomplete
            )
        })
        .count() as u32
}

fn check_failed(
    connector: &ConnectorFacts,
    params: &RuleParams,
    now: DateTime<Utc>,
) -> Option<Finding> {
    if !connector.state.is_active() {
        return None;
    }
    // Validated rules keep the lookback short; a stored one that is not still must
    // not overflow the calendar.
    let since = now
        .checked_sub_signed(params.lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let consecutive = consecutive_failures(connector);
    let why = |reason: Option<FailureReason>, detail: String| Why {
        last_success_at: connector.last_success_at,
        last_attempt_at: connector.last_attempt_at,
        reason,
        consecutive_failures: consecutive,
        detail,
    };
    if let Some(reason) = connector.error_state() {
        let detail = format!("the connector is in an error state ({reason})");
        return Some(Finding {
            state: AlertState::Firing,
            severity: Severity::Critical,
            why: why(Some(reason), detail),
        });
    }
    if let Some(latest) = connector.recent_backups.first()
        && latest.ended_at >= since
        && matches!(
            latest.status,
            JobStatus::Unsuccessful | JobStatus::Incomplete
        )
    {
        let severity = if latest.status == JobStatus::Unsuccessful {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let state = if consecutive >= params.min_consecutive_failures {
            AlertState::Firing
        } else {
            AlertState::Pending
        };
        let severity = if state == AlertState::Pending {
            Severity::Warning
        } else {
            severity
        };
        let detail = format!(
            "the latest backup was {} ({consecutive} in a row)",
            latest.status.as_str().replace('_', " ")
        );
        return Some(Finding {
            state,
            severity,
            why: why(latest.reason.clone(), detail),
        });
    }
    if let Some(event) = connector
        .failure_events
        .iter()
        .find(|event| event.at >= since)
    {
        let detail = format!("the audit log reports a failure: {}", event.message);
        return Some(Finding {
            state: AlertState::Firing,
            severity: Severity::Warning,
            why: why(None, detail),
        });
    }
    None
}

/// A duration in days and hours (or hours and minutes when under a day).
fn human(duration: Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, _) => format!("{hours}h {mins}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests;
