//! Time to evaluate both default rules over 100,000 connectors.
//!
//! Run with `cargo bench -p keepit-alerts --bench evaluate`. The baseline, measured in
//! the same run, is a bare pass over the same facts that only computes each
//! connector's backup age: the ratio shows what the rules, scopes and lifecycle cost.

#![allow(clippy::print_stdout)] // A benchmark reports its figures on stdout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use keepit_alerts::{BackupOutcome, ConnectorFacts, Decision, evaluate};
use keepit_domain::{
    AccountId, Alert, AlertId, AlertRule, AlertRuleId, AlertRuleSpec, AlertState,
    ConnectorErrorCode, ConnectorId, ConnectorKind, ConnectorState, CustomerId, FailureReason,
    Health, JobId, JobStatus, ReasonCode, Severity,
};

const CONNECTORS: usize = 100_000;

fn fleet(now: chrono::DateTime<Utc>) -> (Vec<ConnectorFacts>, Vec<Alert>) {
    let kinds = ConnectorKind::known();
    let mut facts = Vec::with_capacity(CONNECTORS);
    let mut open = Vec::new();
    for index in 0..CONNECTORS {
        let hours_since_success = (index % 97) as i64; // spread across fresh, warning and stale
        let failing = index % 13 == 0;
        let connector = ConnectorId::new(&format!("c{index:06}-bench0-000000")).unwrap();
        facts.push(ConnectorFacts {
            connector: connector.clone(),
            account: AccountId::new(&format!("a{:05}-bench0-000000", index / 5)).unwrap(),
            customer: Some(CustomerId((index / 5) as i64)),
            kind: kinds[index % kinds.len()].clone(),
            state: ConnectorState {
                accessible: index % 50 != 0,
                deletion_deadline: None,
            },
            created: Some(now - chrono::Duration::days(400)),
            first_seen: now - chrono::Duration::days(100),
            last_success_at: Some(now - chrono::Duration::hours(hours_since_success)),
            last_attempt_at: Some(now - chrono::Duration::hours(1)),
            recent_backups: vec![BackupOutcome {
                job: JobId::new(&format!("j{index:06}-bench0-000000-000000")).unwrap(),
                ended_at: now - chrono::Duration::hours(1),
                status: if failing {
                    JobStatus::Unsuccessful
                } else {
                    JobStatus::Successful
                },
                reason: failing.then_some(FailureReason::Known(ReasonCode::IncidentOccurred)),
            }],
            health: Health::Healthy,
            health_reason: None,
            error_code: (index % 31 == 0).then_some(ConnectorErrorCode::Login),
            failure_events: Vec::new(),
        });
        if index % 7 == 0 {
            open.push(Alert {
                id: AlertId(index as i64),
                rule: AlertRuleId(1),
                account: facts[index].account.clone(),
                customer: facts[index].customer,
                connector,
                state: AlertState::Firing,
                severity: Severity::Critical,
                reason: None,
                last_success_at: None,
                last_attempt_at: None,
                opened_at: now - chrono::Duration::hours(30),
                updated_at: now - chrono::Duration::hours(30),
                resolved_at: None,
                acknowledged_at: None,
                acknowledged_by: None,
                silenced_until: None,
                last_notified_at: Some(now - chrono::Duration::hours(25)),
            });
        }
    }
    (facts, open)
}

fn median(runs: usize, mut work: impl FnMut()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
    let (facts, open) = fleet(now);
    let rules: Vec<AlertRule> = AlertRuleSpec::defaults()
        .into_iter()
        .zip(1..)
        .map(|(spec, id)| AlertRule {
            id: AlertRuleId(id),
            spec,
            overrides: Vec::new(),
        })
        .collect();
    let decisions = evaluate(&facts, &rules, &open, now);
    let opened = decisions
        .iter()
        .filter(|decision| matches!(decision, Decision::Open { .. }))
        .count();
    let runs = 11;
    let evaluation = median(runs, || {
        black_box(evaluate(black_box(&facts), &rules, &open, now));
    });
    let baseline = median(runs, || {
        let stale = facts
            .iter()
            .filter(|fact| {
                fact.last_success_at
                    .is_some_and(|at| now - at > chrono::Duration::hours(48))
            })
            .count();
        black_box(stale);
    });
    println!(
        "median of {runs} runs, release build, {CONNECTORS} connectors x {} rules, {} open alerts",
        rules.len(),
        open.len()
    );
    println!(
        "decisions per evaluation: {} ({opened} new alerts)",
        decisions.len()
    );
    println!(
        "evaluate:  {:>8.1} ms  ({:.0} alerts/s, {:.0} connectors/s)",
        evaluation.as_secs_f64() * 1e3,
        decisions.len() as f64 / evaluation.as_secs_f64(),
        CONNECTORS as f64 / evaluation.as_secs_f64()
    );
    println!(
        "baseline:  {:>8.1} ms  (bare age pass over the same facts)",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "ratio evaluate/baseline: {:.1}x; goal: evaluate under 250 ms",
        evaluation.as_secs_f64() / baseline.as_secs_f64()
    );
}
