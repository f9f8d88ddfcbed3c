//! The `/metrics` document, written by hand in the Prometheus text format.
//!
//! Every value is read from the store at scrape time, so several server processes
//! over one database report the same numbers. The sync counters are totals over every
//! recorded run, so they only grow while runs are kept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use keepit_store::{AlertFilter, ConnectorFilter, SyncOutcome};

use crate::AppState;
use crate::error::AppError;

/// The bounds of the sync duration histogram: a pass takes seconds for a small MSP and
/// may take most of an hour for thousands of connectors.
const SYNC_DURATION_BOUNDS_SECONDS: &[u64] = &[1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600];

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders every metric.
pub(crate) async fn render(state: &AppState) -> Result<String, AppError> {
    let mut out = String::new();
    header(
        &mut out,
        "keepit_watch_build_info",
        "gauge",
        "Always 1; the version of keepit-watch serving these metrics is its label.",
    );
    let _ = writeln!(
        out,
        "keepit_watch_build_info{{version=\"{}\"}} 1",
        label(env!("CARGO_PKG_VERSION"))
    );

    let bounds: Vec<Duration> = SYNC_DURATION_BOUNDS_SECONDS
        .iter()
        .map(|seconds| Duration::from_secs(*seconds))
        .collect();
    let totals = state.store.sync_run_totals(&bounds).await?;
    header(
        &mut out,
        "keepit_watch_sync_runs_total",
        "counter",
        "Sync runs recorded in the database, by outcome (running: started and not finished).",
    );
    for outcome in [
        SyncOutcome::Running,
        SyncOutcome::Ok,
        SyncOutcome::Partial,
        SyncOutcome::Failed,
    ] {
        let count = totals
            .runs_by_outcome
            .get(outcome.as_str())
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "keepit_watch_sync_runs_total{{outcome=\"{}\"}} {count}",
            outcome.as_str()
        );
    }
    header(
        &mut out,
        "keepit_watch_sync_duration_seconds",
        "histogram",
        "How long finished sync runs took.",
    );
    for (bound, count) in &totals.durations.buckets {
        let _ = writeln!(
            out,
            "keepit_watch_sync_duration_seconds_bucket{{le=\"{}\"}} {count}",
            bound.as_secs()
        );
    }
    let _ = writeln!(
        out,
        "keepit_watch_sync_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        totals.durations.count
    );
    let _ = writeln!(
        out,
        "keepit_watch_sync_duration_seconds_sum {}",
        totals.durations.sum.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "keepit_watch_sync_duration_seconds_count {}",
        totals.durations.count
    );
    let latest = state.store.sync_runs(20).await?;
    let last_finished = latest
        .iter()
        .find_map(|run| Some((run.started_at, run.finished_at?)));
    // Each family's HELP and TYPE come right before its own samples: parsers read a
    // TYPE line as the start of that family.
    header(
        &mut out,
        "keepit_watch_last_sync_duration_seconds",
        "gauge",
        "Duration of the latest finished sync run.",
    );
    if let Some((started, finished)) = last_finished {
        let seconds = (finished - started).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(out, "keepit_watch_last_sync_duration_seconds {seconds}");
    }
    header(
        &mut out,
        "keepit_watch_last_sync_finished_timestamp_seconds",
        "gauge",
        "Unix time the latest sync run finished.",
    );
    if let Some((_, finished)) = last_finished {
        let _ = writeln!(
            out,
            "keepit_watch_last_sync_finished_timestamp_seconds {}",
            finished.timestamp()
        );
    }
    header(
        &mut out,
        "keepit_watch_keepit_requests_total",
        "counter",
        "Requests sync runs made to Keepit, retries included, by HTTP status (no_answer: the connection failed or timed out).",
    );
    for (status, count) in &totals.requests_by_status {
        let _ = writeln!(
            out,
            "keepit_watch_keepit_requests_total{{status=\"{}\"}} {count}",
            label(status)
        );
    }

    let connectors = state
        .store
        .connectors_with_status(&ConnectorFilter::default())
        .await?;
    let mut by_health: BTreeMap<String, u64> = BTreeMap::new();
    for (_, status) in &connectors {
        let health = status
            .as_ref()
            .map_or("unknown", |status| status.status.health.as_str());
        *by_health.entry(health.to_owned()).or_default() += 1;
    }
    header(
        &mut out,
        "keepit_watch_connectors",
        "gauge",
        "Connectors not removed from Keepit, by Keepit's health verdict (unknown: no status yet).",
    );
    for (health, count) in &by_health {
        let _ = writeln!(
            out,
            "keepit_watch_connectors{{health=\"{}\"}} {count}",
            label(health)
        );
    }

    let rules = state.store.alert_rules().await?;
    let alerts = state.store.alerts(&AlertFilter::default()).await?;
    header(
        &mut out,
        "keepit_watch_alerts_open",
        "gauge",
        "Open (pending or firing) alerts, by rule and state.",
    );
    for rule in &rules {
        for alert_state in ["pending", "firing"] {
            let count = alerts
                .iter()
                .filter(|alert| alert.rule == rule.rule.id && alert.state.as_str() == alert_state)
                .count();
            let _ = writeln!(
                out,
                "keepit_watch_alerts_open{{rule_id=\"{}\",rule=\"{}\",kind=\"{}\",state=\"{alert_state}\"}} {count}",
                rule.rule.id.0,
                label(&rule.rule.spec.name),
                rule.rule.spec.kind.as_str(),
            );
        }
    }
    Ok(out)
}
