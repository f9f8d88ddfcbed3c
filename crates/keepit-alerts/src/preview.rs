//! A rule's dry run: what a new or changed rule would do, before it pages anyone.
//!
//! Two questions, both answered by the engine's own [`evaluate`], never a copy of
//! its logic:
//!
//! - **Now.** Which watched connectors the rule would hold in pending and in
//!   firing against the stored facts, and how that differs from the rule as it is.
//! - **The last days.** A replay of the stored backup history, hour by hour: the
//!   facts each connector had at that hour go through `evaluate` with the alerts
//!   the replay itself opened, and every decision is counted as the adapter would
//!   act on it (an opening, an escalation, a reminder and a resolution of an alert
//!   people heard of each send one notice). Nobody acknowledges or silences in a
//!   replay, so it shows the most a rule would have sent.
//!
//! The replay knows what the store keeps over time: backup outcomes and audit
//! failures. A connector's error state (sign-in, permissions, quota) is known only
//! as it is now, so the replay leaves it out; the "now" answer includes it.
//!
//! Everything here is pure; [`crate::adapter::preview`] loads the inputs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use keepit_domain::{
    AccountId, Alert, AlertId, AlertRule, AlertState, ConnectorId, CustomerId, FailureReason,
    JobStatus, Severity,
};

use crate::engine::{ConnectorFacts, Decision, evaluate};

/// How far back the replay goes by default.
pub const HISTORY_DAYS: i64 = 14;

/// How often the replay evaluates: once an hour, as a pass would at the default
/// sync interval or more often.
pub const REPLAY_STEP: Duration = Duration::hours(1);

/// Findings listed one by one; beyond this only the counts are exact.
pub const MAX_LISTED: usize = 500;

/// What a rule would hold open for one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewFinding {
    /// The connector.
    pub connector: ConnectorId,
    /// Its customer.
    pub customer: Option<CustomerId>,
    /// Pending or firing.
    pub state: AlertState,
    /// Warning or critical.
    pub severity: Severity,
    /// The failure reason, when one is known.
    pub reason: Option<FailureReason>,
    /// The engine's sentence for people.
    pub detail: String,
}

/// What a rule would hold open across the fleet at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Connectors the rule applies to.
    pub watched: u32,
    /// Connectors it would hold in pending.
    pub pending: u32,
    /// Connectors it would hold in firing.
    pub firing: u32,
    /// Those connectors, firing first, at most [`MAX_LISTED`].
    pub findings: Vec<PreviewFinding>,
}

/// How one connector's answer differs between the rule as it is and the candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The connector.
    pub connector: ConnectorId,
    /// Its customer.
    pub customer: Option<CustomerId>,
    /// State and severity under the rule as it is (`None`: nothing open).
    pub before: Option<(AlertState, Severity)>,
    /// State and severity under the candidate (`None`: nothing open).
    pub after: Option<(AlertState, Severity)>,
    /// The candidate's sentence, or why nothing would be open any more.
    pub detail: String,
}

/// What a replay of the stored history counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replay {
    /// Alerts already open when the replay began (not counted as opened).
    pub open_at_start: u32,
    /// Alerts opened during the replay.
    pub opened: u32,
    /// Alerts that reached firing (paged) during the replay.
    pub paged: u32,
    /// Alerts resolved during the replay.
    pub resolved: u32,
    /// Notices it would have sent: openings, escalations, reminders, resolutions.
    pub notices: u32,
    /// Alerts still open when the replay ended.
    pub open_at_end: u32,
}

/// The dry run of a candidate rule, next to the rule as it is when it is a change.
#[derive(Debug, Clone, PartialEq)]
pub struct RulePreview {
    /// When "now" is.
    pub at: DateTime<Utc>,
    /// The candidate, now.
    pub candidate: Outcome,
    /// The rule as it is, now (`None` for a new rule).
    pub current: Option<Outcome>,
    /// Connectors whose answer changes, at most [`MAX_LISTED`]
    /// (against nothing open, for a new rule).
    pub differences: Vec<Difference>,
    /// How many connectors' answers change, listed or not.
    pub differences_total: u32,
    /// The first hour the replay evaluated.
    pub history_from: DateTime<Utc>,
    /// The candidate over the stored history.
    pub candidate_history: Replay,
    /// The rule as it is over the same history (`None` for a new rule).
    pub current_history: Option<Replay>,
}

/// The rule as the dry run evaluates it: enabled, since the question is what it
/// would do once it is.
fn as_enabled(rule: &AlertRule) -> AlertRule {
    let mut rule = rule.clone();
    rule.spec.enabled = true;
    rule
}

/// The stretch of stored history a dry run replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// The first hour evaluated.
    pub from: DateTime<Utc>,
    /// How far back the facts' backups were read: earlier than `from`, so that
    /// failures in a row and the last success are known from the first hour.
    pub loaded_from: DateTime<Utc>,
}

/// The dry run. `facts` are the watched connectors now, with the backups that
/// ended since `history.loaded_from` (newest first) and the audit failures since
/// `history.from` less the longest lookback.
pub fn dry_run(
    facts: &[ConnectorFacts],
    candidate: &AlertRule,
    current: Option<&AlertRule>,
    history: History,
    now: DateTime<Utc>,
) -> RulePreview {
    let candidate = as_enabled(candidate);
    let current = current.map(as_enabled);
    let candidate_now = holds(facts, &candidate, now);
    let current_now = current.as_ref().map(|rule| holds(facts, rule, now));

    let mut differences = Vec::new();
    let mut differences_total = 0u32;
    let empty = BTreeMap::new();
    let before_map = current_now.as_ref().map_or(&empty, |(map, _)| map);
    let after_map = &candidate_now.0;
    for fact in facts {
        let before = before_map.get(&fact.connector);
        let after = after_map.get(&fact.connector);
        let key = |finding: Option<&PreviewFinding>| finding.map(|f| (f.state, f.severity));
        if key(before) == key(after) {
            continue;
        }
        differences_total += 1;
        if differences.len() < MAX_LISTED {
            differences.push(Difference {
                connector: fact.connector.clone(),
                customer: fact.customer,
                before: key(before),
                after: key(after),
                detail: after.map_or_else(
                    || "the candidate would not hold an alert open here".to_owned(),
                    |finding| finding.detail.clone(),
                ),
            });
        }
    }
    // Escalations first, then the rest, each by connector.
    differences.sort_by(|a, b| {
        b.after
            .cmp(&a.after)
            .then_with(|| a.connector.as_str().cmp(b.connector.as_str()))
    });

    RulePreview {
        at: now,
        candidate: candidate_now.1,
        current: current_now.map(|(_, outcome)| outcome),
        differences,
        differences_total,
        history_from: history.from,
        candidate_history: replay(facts, &candidate, history, now),
        current_history: current
            .as_ref()
            .map(|rule| replay(facts, rule, history, now)),
    }
}

/// What `rule` would hold open now, per connector and in total.
fn holds(
    facts: &[ConnectorFacts],
    rule: &AlertRule,
    now: DateTime<Utc>,
) -> (BTreeMap<ConnectorId, PreviewFinding>, Outcome) {
    let watched = facts
        .iter()
        .filter(|fact| rule.applies_to(fact.customer, &fact.kind))
        .count() as u32;
    let mut found = BTreeMap::new();
    for decision in evaluate(facts, std::slice::from_ref(rule), &[], now) {
        if let Decision::Open {
            connector,
            customer,
            state,
            severity,
            why,
            ..
        } = decision
        {
            found.insert(
                connector.clone(),
                PreviewFinding {
                    connector,
                    customer,
                    state,
                    severity,
                    reason: why.reason,
                    detail: why.detail,
                },
            );
        }
    }
    let mut outcome = Outcome {
        watched,
        ..Outcome::default()
    };
    for finding in found.values() {
        match finding.state {
            AlertState::Firing => outcome.firing += 1,
            _ => outcome.pending += 1,
        }
    }
    let mut listed: Vec<&PreviewFinding> = found.values().collect();
    listed.sort_by(|a, b| {
        (b.state, b.severity)
            .cmp(&(a.state, a.severity))
            .then_with(|| a.connector.as_str().cmp(b.connector.as_str()))
    });
    outcome.findings = listed.into_iter().take(MAX_LISTED).cloned().collect();
    (found, outcome)
}

/// One connector as the replay walks through its history.
struct Walk<'a> {
    /// Its facts now: all backups and audit failures, newest first.
    full: &'a ConnectorFacts,
    /// How many of the newest backups lie after the replay's clock.
    backups_ahead: usize,
    /// How many of the newest audit failures lie after the replay's clock.
    events_ahead: usize,
}

/// Replays `rule` over the stored history, from `history.from` to `to` hour by hour.
fn replay(
    facts: &[ConnectorFacts],
    rule: &AlertRule,
    history: History,
    to: DateTime<Utc>,
) -> Replay {
    // Connectors in the order they came to be watched: at each hour the ones known
    // by then are a prefix.
    let mut order: Vec<&ConnectorFacts> = facts
        .iter()
        .filter(|fact| rule.applies_to(fact.customer, &fact.kind))
        .collect();
    order.sort_by_key(|fact| fact.first_seen);
    let mut walks: Vec<Walk<'_>> = order
        .iter()
        .map(|full| Walk {
            full,
            backups_ahead: usize::MAX,
            events_ahead: usize::MAX,
        })
        .collect();
    let mut state: Vec<ConnectorFacts> = order
        .iter()
        .map(|full| ConnectorFacts {
            // Only what the store keeps over time takes part (see the module doc).
            error_code: None,
            health_reason: None,
            recent_backups: Vec::new(),
            failure_events: Vec::new(),
            ..(*full).clone()
        })
        .collect();
    let rules = std::slice::from_ref(rule);
    let accounts: HashMap<&ConnectorId, &AccountId> = order
        .iter()
        .map(|fact| (&fact.connector, &fact.account))
        .collect();
    let mut open: Vec<Alert> = Vec::new();
    let mut next_id = 1i64;
    let mut counts = Replay::default();
    let mut at = history.from;
    let mut first = true;
    loop {
        let known = order.partition_point(|fact| fact.first_seen <= at);
        for (walk, facts_then) in walks.iter_mut().zip(state.iter_mut()).take(known) {
            advance(walk, facts_then, history.loaded_from, at);
        }
        let decisions = evaluate(&state[..known], rules, &open, at);
        apply(
            &decisions,
            &accounts,
            &mut open,
            &mut next_id,
            at,
            first,
            &mut counts,
        );
        if first {
            counts.open_at_start = open.len() as u32;
            first = false;
        }
        if at >= to {
            break;
        }
        at = (at + REPLAY_STEP).min(to);
    }
    counts.open_at_end = open.len() as u32;
    counts
}

/// Moves one connector's facts to what was stored at `at`. Backups are newest
/// first, so the ones that had ended by then are a suffix.
fn advance(
    walk: &mut Walk<'_>,
    then: &mut ConnectorFacts,
    loaded_from: DateTime<Utc>,
    at: DateTime<Utc>,
) {
    let full = walk.full;
    let backups_ahead = full
        .recent_backups
        .partition_point(|backup| backup.ended_at > at);
    if backups_ahead != walk.backups_ahead {
        walk.backups_ahead = backups_ahead;
        let known = &full.recent_backups[backups_ahead..];
        then.recent_backups = known.to_vec();
        then.last_attempt_at = known.first().map(|backup| backup.ended_at);
        then.last_success_at = known
            .iter()
            .find(|backup| backup.status == JobStatus::Successful)
            .map(|backup| backup.ended_at)
            .or_else(|| {
                // No success in the loaded backups before `at`: the stored last
                // success when it was before `at`; otherwise the one before `at`
                // lies before the loaded stretch, whose start is then the most
                // recent it can be.
                match full.last_success_at {
                    Some(success) if success <= at => Some(success),
                    Some(_) => Some(loaded_from),
                    None => None,
                }
            });
    }
    let events_ahead = full.failure_events.partition_point(|event| event.at > at);
    if events_ahead != walk.events_ahead {
        walk.events_ahead = events_ahead;
        then.failure_events = full.failure_events[events_ahead..].to_vec();
    }
}

/// Acts on the engine's decisions as the adapter would, on the replay's own alerts.
fn apply(
    decisions: &[Decision],
    accounts: &HashMap<&ConnectorId, &AccountId>,
    open: &mut Vec<Alert>,
    next_id: &mut i64,
    at: DateTime<Utc>,
    warming_up: bool,
    counts: &mut Replay,
) {
    let index: HashMap<AlertId, usize> = open
        .iter()
        .enumerate()
        .map(|(position, alert)| (alert.id, position))
        .collect();
    let mut count = |notices: u32, paged: bool| {
        if !warming_up {
            counts.notices += notices;
            counts.paged += u32::from(paged);
        }
    };
    let mut opened = Vec::new();
    let mut resolved = Vec::new();
    for decision in decisions {
        match decision {
            Decision::Open {
                rule,
                connector,
                customer,
                state,
                severity,
                why,
                ..
            } => {
                let Some(account) = accounts.get(connector) else {
                    continue;
                };
                opened.push(Alert {
                    id: AlertId(*next_id),
                    rule: *rule,
                    connector: connector.clone(),
                    account: (*account).clone(),
                    customer: *customer,
                    state: *state,
                    severity: *severity,
                    reason: why.reason.clone(),
                    last_success_at: why.last_success_at,
                    last_attempt_at: why.last_attempt_at,
                    opened_at: at,
                    updated_at: at,
                    resolved_at: None,
                    last_notified_at: Some(at),
                    acknowledged_at: None,
                    acknowledged_by: None,
                    silenced_until: None,
                });
                *next_id += 1;
                count(1, *state == AlertState::Firing);
            }
            Decision::Change {
                alert,
                state,
                severity,
                notify,
                ..
            } => {
                if let Some(record) = index.get(alert).map(|&at_index| &mut open[at_index]) {
                    let pages = *state == AlertState::Firing && record.state != AlertState::Firing;
                    record.state = *state;
                    record.severity = *severity;
                    record.updated_at = at;
                    if *notify {
                        record.last_notified_at = Some(at);
                    }
                    count(u32::from(*notify), pages);
                }
            }
            Decision::Remind { alert, .. } => {
                if let Some(record) = index.get(alert).map(|&at_index| &mut open[at_index]) {
                    record.last_notified_at = Some(at);
                    count(1, false);
                }
            }
            Decision::Resolve { alert, .. } => {
                if let Some(record) = index.get(alert).map(|&at_index| &open[at_index]) {
                    count(u32::from(record.last_notified_at.is_some()), false);
                    resolved.push(*alert);
                }
            }
        }
    }
    if !warming_up {
        counts.opened += opened.len() as u32;
        counts.resolved += resolved.len() as u32;
    }
    if !resolved.is_empty() {
        open.retain(|alert| !resolved.contains(&alert.id));
    }
    open.extend(opened);
}

#[cfg(test)]
mod tests;
