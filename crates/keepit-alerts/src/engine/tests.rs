//! Fixed-clock tests of every rule and lifecycle step.

#![allow(clippy::cloned_ref_to_slice_refs)] // Inputs are built inline; slice::from_ref would hide what each call gets.

use chrono::TimeZone;
use keepit_domain::ReasonCode;

use super::*;
use crate::rule::{RuleOverride, RuleScope};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn connector(id: &str) -> ConnectorFacts {
    ConnectorFacts {
        connector: ConnectorId::new(id).unwrap(),
        account: AccountId::new("acct01-aaaaaa-aaaaaa").unwrap(),
        customer: 7,
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
        reason: (status != JobStatus::Successful)
            .then_some(FailureReason::Known(ReasonCode::JobAborted)),
    }
}

fn stale_rule() -> RuleConfig {
    RuleConfig::defaults().remove(0)
}

fn failed_rule() -> RuleConfig {
    RuleConfig::defaults().remove(1)
}

fn open_alert(
    id: i64,
    rule: &RuleConfig,
    connector: &ConnectorFacts,
    state: AlertState,
    severity: Severity,
) -> OpenAlert {
    OpenAlert {
        id,
        rule: rule.id,
        connector: connector.connector.clone(),
        state,
        severity,
        acknowledged_at: None,
        silenced_until: None,
        last_notified_at: Some(now() - Duration::hours(1)),
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
    rule.params.warn_after = None;
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
    let rules = RuleConfig::defaults();
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
        Some(FailureReason::Known(ReasonCode::JobAborted))
    );
    assert_eq!(why.consecutive_failures, 1);

    c.recent_backups[0].status = JobStatus::Incomplete;
    let (_, severity, _) = opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).unwrap();
    assert_eq!(
        severity,
        Severity::Warning,
        "incomplete is less severe than unsuccessful"
    );

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

#[test]
fn consecutive_failures_gate_firing() {
    let mut rule = failed_rule();
    rule.params.min_consecutive_failures = 3;
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
            alert: 41,
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
                alert: 5,
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
            [Decision::Remind { alert: 5, .. }]
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
        [Decision::Remind { alert: 5, .. }]
    ));
    // Pending alerts are not reminded about.
    alert.state = AlertState::Pending;
    alert.severity = Severity::Warning;
    c.last_success_at = Some(now() - Duration::hours(30));
    assert!(evaluate(&[c], &[rule], &[alert], now()).is_empty());
}

#[test]
fn an_authentication_failure_suppresses_the_stale_alert() {
    let rules = RuleConfig::defaults();
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
        alert: 9,
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
    rule.scope = RuleScope::Customer(8);
    assert!(
        evaluate(&[c.clone()], &[rule.clone()], &[], now()).is_empty(),
        "other customer"
    );
    rule.scope = RuleScope::ConnectorKind(ConnectorKind::Salesforce);
    assert!(
        evaluate(&[c.clone()], &[rule.clone()], &[], now()).is_empty(),
        "other kind"
    );
    rule.scope = RuleScope::ConnectorKind(ConnectorKind::Microsoft365);
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).map(|f| f.0),
        Some(AlertState::Pending)
    );
    // Customer 7 tolerates 12 h: at 30 h the alert already fires.
    rule.overrides = vec![RuleOverride {
        customer: 7,
        stale_after: Some(Duration::hours(12)),
        warn_after: Some(None),
        ..RuleOverride::default()
    }];
    assert_eq!(
        opened(evaluate(&[c.clone()], &[rule.clone()], &[], now())).map(|f| f.0),
        Some(AlertState::Firing)
    );
    rule.overrides = vec![RuleOverride {
        customer: 7,
        enabled: Some(false),
        ..RuleOverride::default()
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
        [Decision::Resolve { alert: 77, .. }]
    ));
}

#[test]
fn rule_validation() {
    assert!(RuleParams::default().validate().is_ok());
    let bad = RuleParams {
        warn_after: Some(Duration::hours(50)),
        ..RuleParams::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "warn_after (50 h) must be shorter than stale_after (48 h)"
    );
    let bad = RuleParams {
        min_consecutive_failures: 0,
        ..RuleParams::default()
    };
    assert!(bad.validate().is_err());
    let bad = RuleParams {
        lookback: Duration::zero(),
        ..RuleParams::default()
    };
    assert!(bad.validate().is_err());
    let bad = RuleParams {
        lookback: Duration::days(3_661),
        ..RuleParams::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "lookback must be at most 3660 days"
    );
    assert_eq!(RuleKind::parse("backup_stale"), Some(RuleKind::BackupStale));
    assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
}

#[test]
fn a_stored_rule_with_an_absurd_lookback_does_not_panic() {
    // Rules are validated on the way in, but a row edited by hand could hold anything.
    let mut rule = failed_rule();
    rule.params.lookback = Duration::MAX;
    let mut c = connector("conn01-aaaaaa-aaaaaa");
    c.recent_backups = vec![outcome(30_000, JobStatus::Unsuccessful)];
    let (state, _, _) = opened(evaluate(&[c], &[rule], &[], now())).unwrap();
    assert_eq!(
        state,
        AlertState::Firing,
        "everything is within the lookback"
    );
}
