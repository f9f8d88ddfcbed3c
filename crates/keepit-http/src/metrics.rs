//! The `/metrics` document, written by hand in the Prometheus text format.
//!
//! Every value is read from the store at scrape time, so several server processes
//! over one database report the same numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use keepit_store::{AlertFilter, ConnectorFilter, SyncOutcome};

use crate::AppState;
use crate::error::AppError;

/// How many recent sync runs the sync metrics cover.
const SYNC_RUN_WINDOW: u32 = 1000;

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

    let runs = state.store.sync_runs(SYNC_RUN_WINDOW).await?;
    let mut by_outcome: BTreeMap<&str, u64> = [
        SyncOutcome::Running,
        SyncOutcome::Ok,
        SyncOutcome::Partial,
        SyncOutcome::Failed,
    ]
    .into_iter()
    .map(|outcome| (outcome.as_str(), 0))
    .collect();
    let mut requests = 0u64;
    for run in &runs {
        *by_outcome.entry(run.summary.outcome.as_str()).or_default() += 1;
        requests = requests.saturating_add(run.summary.requests);
    }
    header(
        &mut out,
        "keepit_watch_sync_runs",
        "gauge",
        &format!("Sync runs among the latest {SYNC_RUN_WINDOW}, by outcome."),
    );
    for (outcome, count) in &by_outcome {
        let _ = writeln!(
            out,
            "keepit_watch_sync_runs{{outcome=\"{outcome}\"}} {count}"
        );
    }
    let last_finished = runs.iter().find(|run| run.finished_at.is_some());
    header(
        &mut out,
        "keepit_watch_last_sync_duration_seconds",
        "gauge",
        "Duration of the latest finished sync run.",
    );
    header(
        &mut out,
        "keepit_watch_last_sync_finished_timestamp_seconds",
        "gauge",
        "Unix time the latest sync run finished.",
    );
    if let Some(run) = last_finished
        && let Some(finished) = run.finished_at
    {
        let seconds = (finished - run.started_at).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(out, "keepit_watch_last_sync_duration_seconds {seconds}");
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
        &format!("Requests made to Keepit by the latest {SYNC_RUN_WINDOW} sync runs."),
    );
    let _ = writeln!(out, "keepit_watch_keepit_requests_total {requests}");

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
                .filter(|alert| alert.rule == rule.id && alert.state.as_str() == alert_state)
                .count();
            let _ = writeln!(
                out,
                "keepit_watch_alerts_open{{rule=\"{}\",kind=\"{}\",state=\"{alert_state}\"}} {count}",
                label(&rule.rule.name),
                rule.rule.kind.as_str(),
            );
        }
    }
    Ok(out)
}
