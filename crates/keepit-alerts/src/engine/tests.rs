//! Fixed-clock tests of every rule and lifecycle step.

#![allow(clippy::cloned_ref_to_slice_refs)] // Inputs are built inline; slice::from_ref would hide what each call gets.

use chrono::TimeZone;
use keepit_domain::ReasonCode;

use keepit_domain::{AlertRuleSpec, AlertScope, CustomerOverride, Threshold, ThresholdOverrides};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn connector(id: &str) -> ConnectorFacts {
    ConnectorFacts {
        connector: ConnectorId::new(id).unwrap(),
        account: AccountId::new("acct01-aaaaaa-aaaaaa").unwrap(),
        customer: Some(CustomerId(7)),
        kind: ConnectorKind::Microsoft365,
        state: ConnectorState {
            accessible: true,
            deletion_deadline: None,
        },
        created: Some(now() - Duration::days(300)),
        first_seen: now() - Duration::days(30),
        last_success_at: Some(now() - Duration::hours(2)),
        last_attempt_at: Some(now() - Duration::hours(2)),
        recent_backups: Vec::new(),
        health: Health::Healthy,
        health_reason: None,
        error_code: None,
        failure_events: Vec::new(),
    }
}

fn outcome(hours_ago: i64, status: JobStatus) -> BackupOutcome {
    BackupOutcome {
        job: JobId::new(&format!("job{hours_ago:03}-aaaaaa-bbbbbb-cccccc")).unwrap(),
        ended_at: now() - Duration::hours(hours_ago),
        status,
        // A reason that needs someone: it pages at once by default.
        reason: (status != JobStatus::Successful)
            .then_some(FailureReason::Known(ReasonCode::NotGlobalAdmin)),
    }
}

/// A failed backup whose reason Keepit retries by itself.
fn aborted(hours_ago: i64) -> BackupOutcome {
    BackupOutcome {
        reason: Some(FailureReason::Known(ReasonCode::JobAborted)),
        ..outcome(hours_ago, JobStatus::Unsuccessful)
    }
}

fn rule(id: i64, index: usize) -> AlertRule {
    AlertRule {
        id: AlertRuleId(id),
        spec: AlertRuleSpec::defaults()[index].clone(),
        overrides: Vec::new(),
    }
}

fn stale_rule() -> AlertRule {
    rule(1, 0)
}

fn failed_rule() -> AlertRule {
    rule(2, 1)
}

fn open_alert(
    id: i64,
    rule: &AlertRule,
    connector: &ConnectorFacts,
    state: AlertState,
    severity: Severity,
) -> Alert {
    Alert {
        id: AlertId(id),
        rule: rule.id,
        connector: connector.connector.clone(),
        account: connector.account.clone(),
        customer: connector.customer,
        state,
        severity,
        reason: None,
        last_success_at: None,
        last_attempt_at: None,
        opened_at: now() - Duration::hours(2),
        updated_at: now() - Duration::hours(2),
        resolved_at: None,
        last_notified_at: Some(now() - Duration::hours(1)),
        acknowledged_at: None,
        acknowledged_by: None,
        silenced_until: None,
    }
}

#[track_caller]
fn opened(decisions: Vec<Decision>) -> Option<(AlertState, Severity, Why)> {
    match decisions.as_slice() {
        [] => None,
        [
            Decision::Open {
                state,
                severity,
                why,
                ..
            },
        ] => Some((*state, *severity, why.clone())),
        other => panic!("expected at most one Open, got {other:?}"),
    }
}

#[test]
fn stale_at_47h59m_is_only_a_warning_and_at_48h01m_fires() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(47) - Duration::minutes(59));
    let (state, severity, why) =
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!((state, severity), (AlertState::Pending, Severity::Warning));
    assert_eq!(why.detail, "no successful backup for 1d 23h");

    c.last_success_at = Some(now() - Duration::hours(48) - Duration::minutes(1));
    let (state, severity, why) = opened(evaluate(&[c], &[rule], &[], now())).unwrap();
    assert_eq!((state, severity), (AlertState::Firing, Severity::Critical));
    assert_eq!(
        why.last_success_at,
        Some(now() - Duration::hours(48) - Duration::minutes(1))
    );
}

#[test]
fn the_warning_stage_starts_at_24h_and_can_be_switched_off() {
    let mut rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(23) - Duration::minutes(59));
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())),
        None
    );
    c.last_success_at = Some(now() - Duration::hours(24));
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).map(|f| f.0),
        Some(AlertState::Pending)
    );
    rule.spec.thresholds.warn_after = None;
    assert_eq!(opened(evaluate(&[c], &[rule], &[], now())), None);
}

#[test]
fn a_connector_never_backed_up_counts_from_its_creation() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = None;
    c.created = Some(now() - Duration::hours(10));
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())),
        None,
        "young connector"
    );
    c.created = Some(now() - Duration::hours(72));
    let (state, _, why) = opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!(state, AlertState::Firing);
    assert_eq!(
        why.detail,
        "never backed up successfully; created 3d 0h ago"
    );
    // Without a creation time, the clock starts when keepit-watch first saw it.
    c.created = None;
    c.first_seen = now() - Duration::hours(5);
    assert_eq!(opened(evaluate(&[c], &[rule], &[], now())), None);
}

#[test]
fn a_running_job_does_not_reset_the_clock() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(60));
    c.last_attempt_at = Some(now() - Duration::minutes(5)); // a backup is running right now
    assert_eq!(
        opened(evaluate(&[c], &[rule], &[], now())).map(|f| f.0),
        Some(AlertState::Firing)
    );
}

#[test]
fn inaccessible_and_deletion_pending_connectors_are_excluded() {
    let rules = [stale_rule(), failed_rule()].to_vec();
    let mut hidden = connector("conn01-aaaaaa-aaaaaa");
    hidden.last_success_at = Some(now() - Duration::days(10));
    hidden.recent_backups = vec![outcome(1, JobStatus::Unsuccessful)];
    hidden.state.accessible = false;
    let mut leaving = hidden.clone();
    leaving.connector = ConnectorId::new("conn02-aaaaaa-aaaaaa").unwrap();
    leaving.state = ConnectorState {
        accessible: true,
        deletion_deadline: Some(now() + Duration::days(30)),
    };
    assert!(evaluate(&[hidden, leaving], &rules, &[], now()).is_empty());
}

#[test]
fn failed_from_the_latest_backup_job() {
    let rule = failed_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![
        outcome(3, JobStatus::Unsuccessful),
        outcome(15, JobStatus::Successful),
    ];
    let (state, severity, why) =
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!((state, severity), (AlertState::Firing, Severity::Critical));
    assert_eq!(
        why.reason,
        Some(FailureReason::Known(ReasonCode::NotGlobalAdmin))
    );
    assert_eq!(why.consecutive_failures, 1);
    assert_eq!(why.paging, Paging::NeedsAction);

    // An incomplete backup that needs someone pages as well.
    c.recent_backups[0].status = JobStatus::Incomplete;
    let (state, severity, _) = opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!((state, severity), (AlertState::Firing, Severity::Critical));

    // Outside the 24 h lookback the failure no longer counts.
    c.recent_backups = vec![outcome(30, JobStatus::Unsuccessful)];
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())),
        None
    );
    // A later success clears it.
    c.recent_backups = vec![
        outcome(1, JobStatus::Successful),
        outcome(3, JobStatus::Unsuccessful),
    ];
    assert_eq!(opened(evaluate(&[c], &[rule], &[], now())), None);
}

#[test]
fn failed_from_an_error_state() {
    let rule = failed_rule();
    for (code, expected) in [
        ("E_LOGIN", ReasonCode::AuthenticationFailed),
        ("E_LOGIN_ADMIN", ReasonCode::NotGlobalAdmin),
        ("E_QUOTA", ReasonCode::SeatLimitExceeded),
    ] {
        let mut c = connector("conn01-aaaaaa-aaaaaa");
        c.error_code = Some(ConnectorErrorCode::from_wire(code));
        let (state, severity, why) = opened(evaluate(&[c], &[rule.clone()], &[], now())).unwrap();
        assert_eq!(
            (state, severity),
            (AlertState::Firing, Severity::Critical),
            "{code}"
        );
        assert_eq!(why.reason, Some(FailureReason::Known(expected)), "{code}");
    }
    let mut by_health = connector("conn01-aaaaaa-aaaaaa");
    by_health.health = Health::Critical;
    by_health.health_reason = Some(HealthReason::BadToken);
    assert!(opened(evaluate(&[by_health], &[rule.clone()], &[], now())).is_some());
    // A transient code is not an error state.
    let mut transient = connector("conn01-aaaaaa-aaaaaa");
    transient.error_code = Some(ConnectorErrorCode::Terminated);
    assert_eq!(opened(evaluate(&[transient], &[rule], &[], now())), None);
}

#[test]
fn failed_from_an_audit_event_within_the_lookback() {
    let rule = failed_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.failure_events = vec![FailureEvent {
        at: now() - Duration::hours(2),
        message: "Restore failed for mailbox".into(),
    }];
    let (state, severity, why) =
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!((state, severity), (AlertState::Firing, Severity::Warning));
    assert!(why.detail.contains("Restore failed for mailbox"));
    c.failure_events[0].at = now() - Duration::hours(25);
    assert_eq!(opened(evaluate(&[c], &[rule], &[], now())), None);
}

/// What the failed rule should conclude about a reason.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A pending warning below this many failures in a row, firing critical from there.
    PagesAfter(u32),
}

/// Remedy-aware paging, one row per (reason's remedy x failures in a row x stale age):
/// the failed rule's state and severity, and the stale rule's, side by side.
#[test]
fn paging_follows_the_remedy_the_count_and_the_age() {
    let reasons: [(&str, Option<FailureReason>, Paging, Expect); 7] = [
        (
            "job aborted (rescheduled)",
            Some(FailureReason::Known(ReasonCode::JobAborted)),
            Paging::RetriedByKeepit,
            Expect::PagesAfter(3),
        ),
        (
            "authorisation server (rescheduled)",
            Some(FailureReason::Known(
                ReasonCode::AuthorizationServerUnavailable,
            )),
            Paging::RetriedByKeepit,
            Expect::PagesAfter(3),
        ),
        (
            "server incident (watch for repeats)",
            Some(FailureReason::Known(ReasonCode::IncidentOccurred)),
            Paging::RetriedByKeepit,
            Expect::PagesAfter(3),
        ),
        (
            "not a global admin (user action)",
            Some(FailureReason::Known(ReasonCode::NotGlobalAdmin)),
            Paging::NeedsAction,
            Expect::PagesAfter(1),
        ),
        (
            "unexplained problem (contact support)",
            Some(FailureReason::Known(ReasonCode::EncounteredProblem)),
            Paging::NeedsAction,
            Expect::PagesAfter(1),
        ),
        (
            "a reason nobody catalogued",
            Some(FailureReason::Unrecognized {
                raw: "quantum flux".into(),
            }),
            Paging::UnknownReason,
            Expect::PagesAfter(1),
        ),
        (
            "no reason at all",
            None,
            Paging::UnknownReason,
            Expect::PagesAfter(1),
        ),
    ];
    let rules = [stale_rule(), failed_rule()];
    let mut rows = 0;
    for (label, reason, paging, Expect::PagesAfter(needed)) in reasons {
        for in_a_row in 1..=4u32 {
            for (hours_since_success, stale) in [
                (10, None),
                (30, Some((AlertState::Pending, Severity::Warning))),
                (50, Some((AlertState::Firing, Severity::Critical))),
            ] {
                let mut c = connector("conn01-aaaaaa-aaaaaa");
                c.last_success_at = Some(now() - Duration::hours(hours_since_success));
                c.recent_backups = (0..in_a_row)
                    .map(|n| BackupOutcome {
                        reason: reason.clone(),
                        ..outcome(i64::from(n) + 1, JobStatus::Unsuccessful)
                    })
                    .collect();
                let decisions = evaluate(&[c], &rules, &[], now());
                let found = |wanted: RuleKind| {
                    decisions.iter().find_map(|decision| match decision {
                        Decision::Open {
                            kind,
                            state,
                            severity,
                            why,
                            ..
                        } if *kind == wanted => Some((*state, *severity, why.clone())),
                        _ => None,
                    })
                };
                let (state, severity, why) = found(RuleKind::BackupFailed)
                    .unwrap_or_else(|| panic!("{label}, {in_a_row} in a row: no failed alert"));
                let expected = if in_a_row >= needed {
                    (AlertState::Firing, Severity::Critical)
                } else {
                    (AlertState::Pending, Severity::Warning)
                };
                assert_eq!((state, severity), expected, "{label}, {in_a_row} in a row");
                assert_eq!(why.paging, paging, "{label}");
                assert_eq!(why.consecutive_failures, in_a_row);
                assert!(
                    why.detail.contains(&format!("({in_a_row} in a row)")),
                    "{}",
                    why.detail
                );
                assert_eq!(
                    found(RuleKind::BackupStale).map(|(state, severity, _)| (state, severity)),
                    stale,
                    "{label}, {hours_since_success} h since the last success"
                );
                rows += 1;
            }
        }
    }
    assert_eq!(rows, 7 * 4 * 3);
}

#[test]
fn the_why_says_which_paging_rule_applied() {
    let rule = failed_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![aborted(2)];
    let (_, _, why) = opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!(
        why.detail,
        "the latest backup was unsuccessful (1 in a row); Keepit retries this by itself; it pages if it happens 3 times in a row"
    );
    c.recent_backups = vec![aborted(1), aborted(2), aborted(3)];
    let (_, _, why) = opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!(
        why.detail,
        "the latest backup was unsuccessful (3 in a row); Keepit retries this by itself, but it has now happened 3 times in a row"
    );
    // The count is a threshold: a customer can be given more patience.
    let mut patient = rule.clone();
    patient.spec.thresholds.repeats_before_paging = 5;
    let (state, _, _) = opened(evaluate(&[c.clone()], &[patient], &[], now())).unwrap();
    assert_eq!(state, AlertState::Pending);
    // A pending alert of a rescheduled reason escalates once it repeats.
    c.recent_backups = vec![aborted(1), aborted(2), aborted(3)];
    let pending = open_alert(8, &rule, &c, AlertState::Pending, Severity::Warning);
    assert!(matches!(
        evaluate(&[c], &[rule], &[pending], now()).as_slice(),
        [Decision::Change {
            state: AlertState::Firing,
            severity: Severity::Critical,
            notify: true,
            ..
        }]
    ));
}

#[test]
fn an_alert_whose_notice_was_lost_is_told_about_at_the_next_pass() {
    let rule = failed_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![aborted(2)];
    let mut pending = open_alert(8, &rule, &c, AlertState::Pending, Severity::Warning);
    pending.last_notified_at = None;
    assert!(matches!(
        evaluate(&[c.clone()], &[rule.clone()], &[pending.clone()], now()).as_slice(),
        [Decision::Remind {
            alert: AlertId(8),
            ..
        }]
    ));
    // Told already: a pending alert is not reminded about.
    pending.last_notified_at = Some(now() - Duration::hours(30));
    assert!(evaluate(&[c], &[rule], &[pending], now()).is_empty());
}

#[test]
fn consecutive_failures_gate_firing() {
    let mut rule = failed_rule();
    rule.spec.thresholds.min_consecutive_failures = 3;
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![
        outcome(1, JobStatus::Unsuccessful),
        outcome(5, JobStatus::Incomplete),
        outcome(9, JobStatus::Successful),
    ];
    let (state, severity, why) =
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!(
        (state, severity, why.consecutive_failures),
        (AlertState::Pending, Severity::Warning, 2)
    );
    c.recent_backups
        .insert(0, outcome(0, JobStatus::Unsuccessful));
    let (state, severity, why) = opened(evaluate(&[c], &[rule], &[], now())).unwrap();
    assert_eq!(
        (state, severity, why.consecutive_failures),
        (AlertState::Firing, Severity::Critical, 3)
    );
}

#[test]
fn an_alert_resolves_by_itself_when_the_condition_clears() {
    let rule = failed_rule();
    let c = connector("conn01-aaaaaa-aaaaaa");
    let alert = open_alert(41, &rule, &c, AlertState::Firing, Severity::Critical);
    let decisions = evaluate(&[c], &[rule], &[alert], now());
    assert_eq!(
        decisions,
        vec![Decision::Resolve {
            alert: AlertId(41),
            detail: "no failure within the lookback any more".into()
        }]
    );
}

#[test]
fn no_duplicate_open_alert_for_the_same_rule_and_connector() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(50));
    let alert = open_alert(5, &rule, &c, AlertState::Firing, Severity::Critical);
    let decisions = evaluate(&[c], &[rule], &[alert], now());
    assert!(
        decisions
            .iter()
            .all(|decision| !matches!(decision, Decision::Open { .. })),
        "{decisions:?}"
    );
}

#[test]
fn the_warning_escalates_to_firing() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(49));
    let alert = open_alert(5, &rule, &c, AlertState::Pending, Severity::Warning);
    match evaluate(&[c], &[rule], &[alert], now()).as_slice() {
        [
            Decision::Change {
                alert: AlertId(5),
                state: AlertState::Firing,
                severity: Severity::Critical,
                notify: true,
                ..
            },
        ] => {}
        other => panic!("expected an escalation, got {other:?}"),
    }
}

#[test]
fn acknowledged_alerts_get_no_reminders() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(100));
    let mut alert = open_alert(5, &rule, &c, AlertState::Firing, Severity::Critical);
    alert.last_notified_at = Some(now() - Duration::hours(30));
    alert.acknowledged_at = Some(now() - Duration::hours(29));
    assert!(evaluate(&[c], &[rule], &[alert], now()).is_empty());
}

#[test]
fn silenced_alerts_stay_quiet_until_the_silence_expires() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(100));
    let mut alert = open_alert(5, &rule, &c, AlertState::Firing, Severity::Critical);
    alert.last_notified_at = Some(now() - Duration::hours(30));
    alert.silenced_until = Some(now() + Duration::hours(1));
    assert!(
        evaluate(&[c.clone()], &[rule.clone()], &[alert.clone()], now()).is_empty(),
        "silenced"
    );
    alert.silenced_until = Some(now() - Duration::minutes(1));
    assert!(
        matches!(
            evaluate(&[c], &[rule], &[alert], now()).as_slice(),
            [Decision::Remind {
                alert: AlertId(5),
                ..
            }]
        ),
        "silence expired"
    );
}

#[test]
fn reminders_come_every_24h_while_firing() {
    let rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(100));
    let mut alert = open_alert(5, &rule, &c, AlertState::Firing, Severity::Critical);
    alert.last_notified_at = Some(now() - Duration::hours(23));
    assert!(evaluate(&[c.clone()], &[rule.clone()], &[alert.clone()], now()).is_empty());
    alert.last_notified_at = Some(now() - Duration::hours(24));
    assert!(matches!(
        evaluate(&[c.clone()], &[rule.clone()], &[alert.clone()], now()).as_slice(),
        [Decision::Remind {
            alert: AlertId(5),
            ..
        }]
    ));
    // Pending alerts are not reminded about.
    alert.state = AlertState::Pending;
    alert.severity = Severity::Warning;
    c.last_success_at = Some(now() - Duration::hours(30));
    assert!(evaluate(&[c], &[rule], &[alert], now()).is_empty());
}

#[test]
fn an_authentication_failure_suppresses_the_stale_alert() {
    let rules = [stale_rule(), failed_rule()].to_vec();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(80));
    c.error_code = Some(ConnectorErrorCode::Revoked);
    let decisions = evaluate(&[c.clone()], &rules, &[], now());
    let kinds: Vec<RuleKind> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Open { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![RuleKind::BackupFailed],
        "only the failed alert opens"
    );

    // An already open stale alert resolves, explaining why.
    let stale = open_alert(9, &rules[0], &c, AlertState::Firing, Severity::Critical);
    let decisions = evaluate(&[c.clone()], &rules, &[stale], now());
    assert!(decisions.contains(&Decision::Resolve {
        alert: AlertId(9),
        detail: "superseded by the failed-backup alert: the connector's sign-in is broken".into()
    }));

    // A quota problem does not suppress staleness.
    c.error_code = Some(ConnectorErrorCode::Quota);
    let decisions = evaluate(&[c], &rules, &[], now());
    assert_eq!(
        decisions
            .iter()
            .filter(|d| matches!(d, Decision::Open { .. }))
            .count(),
        2
    );
}

#[test]
fn scope_and_per_customer_overrides() {
    let mut rule = stale_rule();
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.last_success_at = Some(now() - Duration::hours(30));
    rule.spec.scope = AlertScope::Customer(CustomerId(8));
    assert!(
        evaluate(&[c.clone()], &[rule.clone()], &[], now()).is_empty(),
        "other customer"
    );
    rule.spec.scope = AlertScope::ConnectorKind(ConnectorKind::Salesforce);
    assert!(
        evaluate(&[c.clone()], &[rule.clone()], &[], now()).is_empty(),
        "other kind"
    );
    rule.spec.scope = AlertScope::ConnectorKind(ConnectorKind::Microsoft365);
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).map(|f| f.0),
        Some(AlertState::Pending)
    );
    // Customer 7 tolerates 12 h: at 30 h the alert already fires.
    rule.overrides = vec![CustomerOverride {
        customer: CustomerId(7),
        enabled: None,
        thresholds: ThresholdOverrides(
            [
                (Threshold::StaleAfter, Some(12 * 3_600)),
                (Threshold::WarnAfter, None),
            ]
            .into(),
        ),
    }];
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).map(|f| f.0),
        Some(AlertState::Firing)
    );
    rule.overrides = vec![CustomerOverride {
        customer: CustomerId(7),
        enabled: Some(false),
        thresholds: ThresholdOverrides::default(),
    }];
    assert!(
        evaluate(&[c], &[rule], &[], now()).is_empty(),
        "disabled for this customer"
    );
}

#[test]
fn alerts_of_removed_rules_or_connectors_resolve() {
    let rule = stale_rule();
    let c = connector("conn01-aaaaaa-aaaaaa");
    let orphan = open_alert(77, &rule, &c, AlertState::Firing, Severity::Critical);
    let decisions = evaluate(&[], &[rule], &[orphan], now());
    assert!(matches!(
        decisions.as_slice(),
        [Decision::Resolve {
            alert: AlertId(77),
            ..
        }]
    ));
}

#[test]
fn a_stored_rule_with_an_absurd_lookback_does_not_panic() {
    // Rules are validated on the way in, but a row edited by hand could hold anything.
    let mut rule = failed_rule();
    rule.spec.thresholds.lookback = Duration::MAX;
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![outcome(30_000, JobStatus::Unsuccessful)];
    let (state, _, _) = opened(evaluate(&[c], &[rule], &[], now())).unwrap();
    assert_eq!(
        state,
        AlertState::Firing,
        "everything is within the lookback"
    );
}
