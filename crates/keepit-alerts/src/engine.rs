//! The pure evaluation engine: facts, rules and open alerts in; decisions out.
//!
//! [`evaluate`] is deterministic and does no I/O, so every rule is tested with a
//! fixed clock. An adapter loads the inputs from the store and applies the decisions
//! (storing alerts and their transitions, and sending notifications).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{
    AccountId, Alert, AlertId, AlertRule, AlertRuleId, AlertState, ConditionClass,
    ConnectorErrorCode, ConnectorId, ConnectorKind, ConnectorState, CustomerId, FailureReason,
    Health, HealthReason, JobId, JobStatus, ReasonScope, Remedy, RuleKind, Severity, Thresholds,
};

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
    /// The customer it belongs to, once its account is matched to one.
    pub customer: Option<CustomerId>,
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

/// Why a failure alert pages now or waits: the rule of remedy-aware paging that applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Not a backup failure (a stale backup, or a failure reported by the audit log).
    NotAFailure,
    /// The connector is in an error state (sign-in, permissions, quota): pages at once.
    ErrorState,
    /// The reason needs the customer, the MSP or Keepit support: pages after
    /// `min_consecutive_failures` (at once by default).
    NeedsAction,
    /// The reason is not in the catalogue: pages like one that needs action, since a
    /// silent monitor is worse than a loud one.
    UnknownReason,
    /// Keepit retries this reason by itself: a pending warning until it has happened
    /// `repeats_before_paging` times in a row.
    RetriedByKeepit,
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
    /// Which paging rule applied.
    pub paging: Paging,
    /// One sentence for people.
    pub detail: String,
}

/// What the adapter should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Open a new alert.
    Open {
        /// The rule.
        rule: AlertRuleId,
        /// The rule's kind.
        kind: RuleKind,
        /// The connector.
        connector: ConnectorId,
        /// The connector's customer.
        customer: Option<CustomerId>,
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
        alert: AlertId,
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
        alert: AlertId,
        /// Why it is still open.
        why: Why,
    },
    /// Close an alert whose condition has cleared.
    Resolve {
        /// The alert.
        alert: AlertId,
        /// Why it closed.
        detail: String,
    },
}

/// A condition that holds, with the state and severity it calls for. Its sentence
/// for people is written only when a decision carries it: most findings of a pass
/// confirm an alert that is already open as it is.
struct Finding<'a> {
    state: AlertState,
    severity: Severity,
    /// The why, with `detail` still empty.
    why: Why,
    detail: Detail<'a>,
}

/// What the sentence of a finding says.
enum Detail<'a> {
    Stale {
        age: Duration,
        never: bool,
    },
    ErrorState,
    Failure {
        status: JobStatus,
        paging: Paging,
        pages: bool,
        needed: u32,
    },
    Audit(&'a str),
}

impl Finding<'_> {
    /// The why, with its sentence.
    fn into_why(self) -> Why {
        let mut why = self.why;
        why.detail = match self.detail {
            Detail::Stale { age, never: true } => {
                format!("never backed up successfully; created {} ago", human(age))
            }
            Detail::Stale { age, never: false } => {
                format!("no successful backup for {}", human(age))
            }
            Detail::ErrorState => format!(
                "the connector is in an error state ({}); someone must fix it, so this pages at once",
                why.reason
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string)
            ),
            Detail::Failure {
                status,
                paging,
                pages,
                needed,
            } => {
                let consecutive = why.consecutive_failures;
                let what = format!(
                    "the latest backup was {} ({consecutive} in a row)",
                    status.as_str().replace('_', " ")
                );
                let rule = match (paging, pages) {
                    (Paging::RetriedByKeepit, true) => format!(
                        "Keepit retries this by itself, but it has now happened {needed} times in a row"
                    ),
                    (Paging::RetriedByKeepit, false) => format!(
                        "Keepit retries this by itself; it pages if it happens {needed} times in a row"
                    ),
                    (Paging::UnknownReason, _) if pages => {
                        "the reason is not one keepit-watch knows, so it pages rather than stay silent"
                            .to_owned()
                    }
                    (_, true) => "this needs someone to act".to_owned(),
                    (_, false) => {
                        format!("this needs someone to act; it pages after {needed} in a row")
                    }
                };
                format!("{what}; {rule}")
            }
            Detail::Audit(message) => format!("the audit log reports a failure: {message}"),
        };
        why
    }
}

/// Evaluates every rule against every connector and compares with the open alerts.
///
/// - A condition that holds without an open alert opens one.
/// - A condition that holds with a different state or severity changes the alert;
///   an escalation notifies unless the alert is silenced.
/// - A firing alert that nobody acknowledged and that is not silenced is reminded
///   about every `reminder_every`; an open alert whose notice never went out (people
///   were never told of it) is reminded about at once.
/// - An open alert whose condition cleared, whose connector is no longer watched,
///   or whose rule was disabled, removed or scoped away, resolves.
///
/// `open` may hold resolved alerts too; they are ignored. Decisions come out in a
/// stable order: by rule, then by connector, then resolutions.
pub fn evaluate(
    facts: &[ConnectorFacts],
    rules: &[AlertRule],
    open: &[Alert],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let open: Vec<&Alert> = open.iter().filter(|alert| alert.state.is_open()).collect();
    let open_by_key: HashMap<(AlertRuleId, &ConnectorId), &Alert> = open
        .iter()
        .map(|alert| ((alert.rule, &alert.connector), *alert))
        .collect();
    let mut still_open: HashSet<AlertId> = HashSet::with_capacity(open.len());
    let mut decisions = Vec::new();
    for rule in rules.iter().filter(|rule| rule.may_apply()) {
        for connector in facts {
            if !rule.applies_to(connector.customer, &connector.kind) {
                continue;
            }
            let thresholds = rule.thresholds_for(connector.customer);
            let finding = match rule.spec.kind {
                RuleKind::BackupStale => check_stale(connector, &thresholds, now),
                RuleKind::BackupFailed => check_failed(connector, &thresholds, now),
            };
            let existing = open_by_key.get(&(rule.id, &connector.connector)).copied();
            match (finding, existing) {
                (Some(finding), None) => decisions.push(Decision::Open {
                    rule: rule.id,
                    kind: rule.spec.kind,
                    connector: connector.connector.clone(),
                    customer: connector.customer,
                    state: finding.state,
                    severity: finding.severity,
                    why: finding.into_why(),
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
                            why: finding.into_why(),
                            notify: escalation && !alert.silenced(now),
                        });
                    } else if alert.acknowledged_at.is_none()
                        && !alert.silenced(now)
                        && match alert.last_notified_at {
                            // Never told: the notice of its opening or escalation was
                            // lost on the way; tell people now.
                            None => true,
                            Some(last) => {
                                alert.state == AlertState::Firing
                                    && now - last >= thresholds.reminder_every
                            }
                        }
                    {
                        decisions.push(Decision::Remind {
                            alert: alert.id,
                            why: finding.into_why(),
                        });
                    }
                }
                (None, Some(alert)) => {
                    still_open.insert(alert.id);
                    decisions.push(Decision::Resolve {
                        alert: alert.id,
                        detail: cleared_detail(rule.spec.kind, connector),
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
                detail: "the rule no longer applies to this connector, or the connector is no longer watched".into(),
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

fn check_stale<'a>(
    connector: &'a ConnectorFacts,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Finding<'a>> {
    // An authentication failure explains the missing backups; the failed rule reports it.
    if !connector.state.is_active() || connector.authentication_broken() {
        return None;
    }
    let (clock_start, never) = match connector.last_success_at {
        Some(success) => (success, false),
        None => (connector.created.unwrap_or(connector.first_seen), true),
    };
    let age = now - clock_start;
    let (state, severity) = if age >= thresholds.stale_after {
        (AlertState::Firing, Severity::Critical)
    } else if thresholds
        .warn_after
        .is_some_and(|warn_after| age >= warn_after)
    {
        (AlertState::Pending, Severity::Warning)
    } else {
        return None;
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
            paging: Paging::NotAFailure,
            detail: String::new(),
        },
        detail: Detail::Stale { age, never },
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

/// How a failure with this reason pages: the rule that applies, and how many failed
/// backups in a row it takes.
fn paging_of(reason: Option<&FailureReason>, thresholds: &Thresholds) -> (Paging, u32) {
    let remedy = reason
        .and_then(|reason| reason.entry(ReasonScope::Backup))
        .map(|entry| entry.remedy);
    match remedy {
        Some(Remedy::NoneRescheduled | Remedy::RetryLater | Remedy::WatchForRepeats) => {
            (Paging::RetriedByKeepit, thresholds.repeats_before_paging)
        }
        Some(Remedy::UserAction | Remedy::ContactSupport) => {
            (Paging::NeedsAction, thresholds.min_consecutive_failures)
        }
        None => (Paging::UnknownReason, thresholds.min_consecutive_failures),
    }
}

fn check_failed<'a>(
    connector: &'a ConnectorFacts,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Finding<'a>> {
    if !connector.state.is_active() {
        return None;
    }
    // Validated rules keep the lookback short; a stored one that is not still must
    // not overflow the calendar.
    let since = now
        .checked_sub_signed(thresholds.lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let consecutive = consecutive_failures(connector);
    let why = |reason: Option<FailureReason>, paging: Paging| Why {
        last_success_at: connector.last_success_at,
        last_attempt_at: connector.last_attempt_at,
        reason,
        consecutive_failures: consecutive,
        paging,
        detail: String::new(),
    };
    if let Some(reason) = connector.error_state() {
        return Some(Finding {
            state: AlertState::Firing,
            severity: Severity::Critical,
            why: why(Some(reason), Paging::ErrorState),
            detail: Detail::ErrorState,
        });
    }
    if let Some(latest) = connector.recent_backups.first()
        && latest.ended_at >= since
        && matches!(
            latest.status,
            JobStatus::Unsuccessful | JobStatus::Incomplete
        )
    {
        let (paging, needed) = paging_of(latest.reason.as_ref(), thresholds);
        let pages = consecutive >= needed;
        let (state, severity) = if pages {
            (AlertState::Firing, Severity::Critical)
        } else {
            (AlertState::Pending, Severity::Warning)
        };
        return Some(Finding {
            state,
            severity,
            why: why(latest.reason.clone(), paging),
            detail: Detail::Failure {
                status: latest.status,
                paging,
                pages,
                needed,
            },
        });
    }
    if let Some(event) = connector
        .failure_events
        .iter()
        .find(|event| event.at >= since)
    {
        return Some(Finding {
            state: AlertState::Firing,
            severity: Severity::Warning,
            why: why(None, Paging::NotAFailure),
            detail: Detail::Audit(&event.message),
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
