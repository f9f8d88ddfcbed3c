//! The dry run on small fleets whose answers can be worked out by hand.

use chrono::TimeZone;
use keepit_domain::{
    AccountId, AlertRuleId, AlertRuleSpec, ConnectorKind, ConnectorState, Health, JobId,
    ReasonCode, Thresholds,
};

use super::*;
use crate::engine::BackupOutcome;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap()
}

fn history() -> History {
    History {
        from: now() - Duration::days(HISTORY_DAYS),
        loaded_from: now() - Duration::days(HISTORY_DAYS + 6),
    }
}

fn connector(n: usize, backups: Vec<BackupOutcome>) -> ConnectorFacts {
    let last_success_at = backups
        .iter()
        .find(|backup| backup.status == JobStatus::Successful)
        .map(|backup| backup.ended_at);
    ConnectorFacts {
        connector: ConnectorId::new(&format!("conn{n:02}-aaaaaa-aaaaaa")).unwrap(),
        account: AccountId::new("acct01-aaaaaa-aaaaaa").unwrap(),
        customer: Some(CustomerId(1)),
        kind: ConnectorKind::Microsoft365,
        state: ConnectorState {
            accessible: true,
            deletion_deadline: None,
        },
        created: Some(now() - Duration::days(400)),
        first_seen: now() - Duration::days(60),
        last_success_at,
        last_attempt_at: backups.first().map(|backup| backup.ended_at),
        recent_backups: backups,
        health: Health::Healthy,
        health_reason: None,
        error_code: None,
        failure_events: Vec::new(),
    }
}

/// One backup a day at noon for `days` days, newest first; `status` picks each
/// one's outcome by how many days ago it ended.
fn daily(days: i64, status: impl Fn(i64) -> (JobStatus, Option<ReasonCode>)) -> Vec<BackupOutcome> {
    (0..days)
        .map(|ago| {
            let (status, reason) = status(ago);
            BackupOutcome {
                job: JobId::new(&format!("job{ago:03}-aaaaaa-bbbbbb-cccccc")).unwrap(),
                ended_at: now() - Duration::days(ago) - Duration::minutes(30),
                status,
                reason: reason.map(FailureReason::Known),
            }
        })
        .collect()
}

fn ok(_: i64) -> (JobStatus, Option<ReasonCode>) {
    (JobStatus::Successful, None)
}

fn rule(index: usize, thresholds: Thresholds) -> AlertRule {
    let mut spec = AlertRuleSpec::defaults()[index].clone();
    spec.thresholds = thresholds;
    AlertRule {
        id: AlertRuleId(index as i64 + 1),
        spec,
        overrides: Vec::new(),
    }
}

fn stale(stale_hours: i64, warn_hours: Option<i64>) -> AlertRule {
    rule(
        0,
        Thresholds {
            stale_after: Duration::hours(stale_hours),
            warn_after: warn_hours.map(Duration::hours),
            ..Thresholds::default()
        },
    )
}

#[test]
fn a_healthy_fleet_holds_nothing_and_sends_nothing() {
    let facts: Vec<_> = (0..4).map(|n| connector(n, daily(25, ok))).collect();
    let preview = dry_run(&facts, &stale(48, Some(24)), None, history(), now());
    assert_eq!(preview.candidate.watched, 4);
    assert_eq!(
        (preview.candidate.pending, preview.candidate.firing),
        (0, 0)
    );
    assert_eq!(preview.candidate_history, Replay::default());
    assert!(preview.differences.is_empty());
    assert!(preview.current.is_none() && preview.current_history.is_none());
}

#[test]
fn now_counts_pending_and_firing_and_lists_firing_first() {
    // Last success 30 h ago (pending under 24/48), 3 days ago (firing), today (fine).
    let facts = vec![
        connector(
            1,
            daily(25, |ago| {
                if ago == 0 {
                    (JobStatus::Unsuccessful, Some(ReasonCode::JobAborted))
                } else {
                    ok(ago)
                }
            }),
        ),
        connector(
            2,
            daily(25, |ago| {
                if ago < 3 {
                    (JobStatus::Unsuccessful, Some(ReasonCode::JobAborted))
                } else {
                    ok(ago)
                }
            }),
        ),
        connector(3, daily(25, ok)),
    ];
    // The first connector's last success ended a day and a half hour ago.
    let preview = dry_run(&facts, &stale(48, Some(24)), None, history(), now());
    assert_eq!(
        (preview.candidate.pending, preview.candidate.firing),
        (1, 1)
    );
    let listed: Vec<_> = preview
        .candidate
        .findings
        .iter()
        .map(|finding| (finding.connector.as_str(), finding.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("conn02-aaaaaa-aaaaaa", AlertState::Firing),
            ("conn01-aaaaaa-aaaaaa", AlertState::Pending),
        ]
    );
    // A new rule differs from "nothing" wherever it holds something.
    assert_eq!(preview.differences_total, 2);
}

#[test]
fn a_change_lists_what_it_adds_and_what_it_drops() {
    let facts = vec![
        // No success for 3 days: firing under 48 h, pending under 96 h with a 60 h warning.
        connector(
            1,
            daily(25, |ago| {
                if ago < 3 {
                    (JobStatus::Unsuccessful, Some(ReasonCode::JobAborted))
                } else {
                    ok(ago)
                }
            }),
        ),
        connector(2, daily(25, ok)),
    ];
    let current = stale(48, Some(24));
    let candidate = stale(96, Some(60));
    let preview = dry_run(&facts, &candidate, Some(&current), history(), now());
    let current_now = preview.current.as_ref().unwrap();
    assert_eq!((current_now.pending, current_now.firing), (0, 1));
    assert_eq!(
        (preview.candidate.pending, preview.candidate.firing),
        (1, 0)
    );
    assert_eq!(preview.differences.len(), 1);
    let difference = &preview.differences[0];
    assert_eq!(
        difference.before,
        Some((AlertState::Firing, Severity::Critical))
    );
    assert_eq!(
        difference.after,
        Some((AlertState::Pending, Severity::Warning))
    );
}

#[test]
fn the_replay_counts_one_episode_of_repeated_aborts() {
    // Five days ago three aborted backups in a row (Keepit retries those by
    // itself: pending, then paging at the third), then successes again.
    let aborted_days = [7, 6, 5];
    let facts = vec![connector(
        1,
        daily(25, |ago| {
            if aborted_days.contains(&ago) {
                (JobStatus::Unsuccessful, Some(ReasonCode::JobAborted))
            } else {
                ok(ago)
            }
        }),
    )];
    let failed = rule(1, Thresholds::default());
    let preview = dry_run(&facts, &failed, None, history(), now());
    let replay = preview.candidate_history;
    // The lookback is 24 h and the aborts are a day apart, so the alert stays
    // open from the first: pending at the first, firing at the third, resolved by
    // the success that followed.
    assert_eq!(replay.open_at_start, 0);
    assert_eq!(replay.opened, 1, "{replay:?}");
    assert_eq!(replay.paged, 1, "{replay:?}");
    assert_eq!(replay.resolved, 1, "{replay:?}");
    assert_eq!(replay.open_at_end, 0);
    // Opening, escalation to firing, resolution.
    assert_eq!(replay.notices, 3, "{replay:?}");
    // Now there is nothing to hold.
    assert_eq!(preview.candidate.firing + preview.candidate.pending, 0);

    // Paging after five in a row instead: the same episode never pages.
    let patient = rule(
        1,
        Thresholds {
            repeats_before_paging: 5,
            ..Thresholds::default()
        },
    );
    let preview = dry_run(&facts, &patient, Some(&failed), history(), now());
    assert_eq!(preview.candidate_history.opened, 1);
    assert_eq!(preview.candidate_history.paged, 0);
    assert_eq!(preview.candidate_history.notices, 2);
    assert_eq!(preview.current_history, Some(replay));
}

#[test]
fn reminders_follow_the_reminder_interval_while_nobody_acknowledges() {
    // Never a success in the whole history: the stale rule fires from the start
    // and reminds every 24 h (not counted: the alert was open at the start).
    let facts = vec![connector(
        1,
        daily(25, |_| {
            (JobStatus::Unsuccessful, Some(ReasonCode::JobAborted))
        }),
    )];
    let mut facts = facts;
    facts[0].last_success_at = None;
    let preview = dry_run(&facts, &stale(48, Some(24)), None, history(), now());
    let replay = preview.candidate_history;
    assert_eq!(replay.open_at_start, 1);
    assert_eq!(replay.opened, 0);
    assert_eq!(replay.open_at_end, 1);
    assert_eq!(replay.notices, HISTORY_DAYS as u32, "{replay:?}");

    let preview = dry_run(
        &facts,
        &rule(
            0,
            Thresholds {
                reminder_every: Duration::hours(72),
                ..Thresholds::default()
            },
        ),
        None,
        history(),
        now(),
    );
    assert_eq!(preview.candidate_history.notices, 4);
}

#[test]
fn connectors_count_only_from_when_they_were_first_seen() {
    // A connector first seen two days ago with no success since: under the stale
    // rule its clock starts when it was created (2 days ago), so it fires now but
    // the replay cannot have opened anything for it before it was known.
    let mut fresh = connector(1, Vec::new());
    fresh.first_seen = now() - Duration::days(2);
    fresh.created = Some(now() - Duration::days(2));
    fresh.last_success_at = None;
    let preview = dry_run(&[fresh], &stale(24, None), None, history(), now());
    assert_eq!(preview.candidate.firing, 1);
    assert_eq!(preview.candidate_history.open_at_start, 0);
    assert_eq!(preview.candidate_history.opened, 1);
}

#[test]
fn a_disabled_candidate_is_previewed_as_if_enabled() {
    let facts = vec![connector(1, Vec::new())];
    let mut facts = facts;
    facts[0].last_success_at = Some(now() - Duration::days(5));
    let mut candidate = stale(48, Some(24));
    candidate.spec.enabled = false;
    let preview = dry_run(&facts, &candidate, None, history(), now());
    assert_eq!(preview.candidate.firing, 1);
}
