//! What the subcommands print: tables for people, one JSON object for programs.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use keepit_domain::{ConnectorId, ReasonScope};
use keepit_ingest::SyncReport;
use keepit_store::{AlertFilter, ConnectorFilter, CustomerId, Store, SyncOutcome};
use serde_json::json;

use crate::cli::OutputFormat;

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The overall outcome of several integrations' passes.
fn combined(reports: &[SyncReport], expected: usize) -> SyncOutcome {
    let failed = reports
        .iter()
        .filter(|report| report.outcome == SyncOutcome::Failed)
        .count();
    let partial = reports
        .iter()
        .any(|report| report.outcome == SyncOutcome::Partial);
    if reports.is_empty() || failed == expected {
        SyncOutcome::Failed
    } else if failed > 0 || partial || reports.len() < expected {
        SyncOutcome::Partial
    } else {
        SyncOutcome::Ok
    }
}

pub(crate) fn print_run(
    reports: &[SyncReport],
    integrations: usize,
    elapsed: Duration,
    output: OutputFormat,
) -> SyncOutcome {
    let outcome = combined(reports, integrations);
    let sum = |field: fn(&SyncReport) -> u64| reports.iter().map(field).sum::<u64>();
    let errors: Vec<_> = reports
        .iter()
        .flat_map(|report| report.errors.iter())
        .map(|error| json!({ "account": error.account.as_ref().map(ToString::to_string), "error": error.error }))
        .collect();
    match output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "outcome": outcome.as_str(),
                "integrations": integrations,
                "accounts": sum(|r| r.accounts),
                "accounts_failed": sum(|r| r.accounts_failed),
                "connectors": sum(|r| r.connectors),
                "jobs_new": sum(|r| r.jobs_new),
                "audit_events_new": sum(|r| r.audit_events_new),
                "rows_written": sum(|r| r.rows_written),
                "requests": sum(|r| r.requests),
                "duration_ms": elapsed.as_millis() as u64,
                "errors": errors,
            })
        ),
        OutputFormat::Table => {
            println!(
                "Sync {}: {} integration(s), {} account(s) ({} failed), {} connector(s)",
                outcome.as_str(),
                integrations,
                sum(|r| r.accounts),
                sum(|r| r.accounts_failed),
                sum(|r| r.connectors)
            );
            println!(
                "New jobs: {}   new audit events: {}   Keepit requests: {}   time: {:.1}s",
                sum(|r| r.jobs_new),
                sum(|r| r.audit_events_new),
                sum(|r| r.requests),
                elapsed.as_secs_f64()
            );
            for report in reports {
                for error in &report.errors {
                    let account = error
                        .account
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "(whole pass)".into());
                    println!("  failed: {account}: {}", error.error);
                }
            }
        }
    }
    outcome
}

/// Open alerts with the names people know their connectors and customers by.
struct OpenAlerts {
    alerts: Vec<keepit_domain::Alert>,
    rule_kinds: HashMap<i64, String>,
    connectors: HashMap<ConnectorId, String>,
    customers: HashMap<CustomerId, String>,
}

async fn open_alerts(store: &Store) -> anyhow::Result<OpenAlerts> {
    let alerts = store.alerts(&AlertFilter::default()).await?;
    let rule_kinds = store
        .alert_rules()
        .await?
        .into_iter()
        .map(|record| (record.rule.id.0, record.rule.spec.kind.as_str().to_owned()))
        .collect();
    let connectors = store
        .connectors(&ConnectorFilter {
            include_removed: true,
            ..ConnectorFilter::default()
        })
        .await?
        .into_iter()
        .map(|connector| (connector.record.connector.clone(), connector.record.name))
        .collect();
    let customers = store
        .customers()
        .await?
        .into_iter()
        .map(|customer| (customer.id, customer.name))
        .collect();
    Ok(OpenAlerts {
        alerts,
        rule_kinds,
        connectors,
        customers,
    })
}

fn alert_state(alert: &keepit_domain::Alert, now: DateTime<Utc>) -> &'static str {
    if alert.acknowledged_at.is_some() {
        "acknowledged"
    } else if alert.silenced_until.is_some_and(|until| until > now) {
        "silenced"
    } else {
        alert.state.as_str()
    }
}

/// Which open alerts `status` shows; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusFilter {
    /// Customers whose name contains this, ignoring case.
    pub(crate) customer: Option<String>,
    /// `warning` or `critical`.
    pub(crate) severity: Option<String>,
    /// `pending`, `firing`, `acknowledged` or `silenced`.
    pub(crate) state: Option<String>,
    /// Opened within this long.
    pub(crate) since: Option<chrono::TimeDelta>,
}

/// What `status` read from, and how fresh it is.
pub(crate) struct Freshness {
    /// The database, its password redacted.
    pub(crate) database: String,
    /// When the latest ok or partial sync of any enabled integration finished.
    pub(crate) last_success: Option<DateTime<Utc>>,
    /// `fresh`, `stale` or `never_synced`.
    pub(crate) state: &'static str,
}

pub(crate) async fn print_status(
    store: &Store,
    now: DateTime<Utc>,
    filter: &StatusFilter,
    freshness: &Freshness,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let mut open = open_alerts(store).await?;
    let customer_name = |alert: &keepit_domain::Alert, customers: &HashMap<CustomerId, String>| {
        alert
            .customer
            .and_then(|id| customers.get(&id).cloned())
            .unwrap_or_else(|| alert.account.to_string())
    };
    let wanted_customer = filter.customer.as_ref().map(|text| text.to_lowercase());
    let customers = open.customers.clone();
    open.alerts.retain(|alert| {
        wanted_customer.as_ref().is_none_or(|text| {
            customer_name(alert, &customers)
                .to_lowercase()
                .contains(text)
        }) && filter
            .severity
            .as_deref()
            .is_none_or(|severity| alert.severity.as_str() == severity)
            && filter
                .state
                .as_deref()
                .is_none_or(|state| alert_state(alert, now) == state)
            && filter
                .since
                .is_none_or(|since| now - alert.opened_at <= since)
    });
    let customer_of = |alert: &keepit_domain::Alert| customer_name(alert, &open.customers);
    match output {
        OutputFormat::Json => {
            let alerts: Vec<_> = open
                .alerts
                .iter()
                .map(|alert| {
                    json!({
                        "id": alert.id.0,
                        "rule": open.rule_kinds.get(&alert.rule.0).cloned().unwrap_or_else(|| "unknown".into()),
                        "state": alert_state(alert, now),
                        "severity": alert.severity.as_str(),
                        "customer": customer_of(alert),
                        "account_guid": alert.account.to_string(),
                        "connector_guid": alert.connector.to_string(),
                        "connector_name": open.connectors.get(&alert.connector).cloned().unwrap_or_default(),
                        "reason_code": alert.reason.as_ref().map(|reason| reason.code()),
                        "reason_raw": alert.reason.as_ref().and_then(|reason| reason.raw()),
                        "last_success_at": alert.last_success_at.map(rfc3339),
                        "last_attempt_at": alert.last_attempt_at.map(rfc3339),
                        "since": rfc3339(alert.opened_at),
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "database": freshness.database,
                    "last_successful_sync_at": freshness.last_success.map(rfc3339),
                    "sync": freshness.state,
                    "alerts": alerts,
                })
            );
        }
        OutputFormat::Table => {
            println!(
                "Database {}; last successful sync {}.",
                freshness.database,
                freshness.last_success.map_or_else(
                    || "never".to_owned(),
                    |at| format!("{} ({} min ago)", rfc3339(at), (now - at).num_minutes())
                )
            );
            if open.alerts.is_empty() {
                let filtered = filter.customer.is_some()
                    || filter.severity.is_some()
                    || filter.state.is_some()
                    || filter.since.is_some();
                if filtered {
                    println!("No open alert matches these filters.");
                } else {
                    println!(
                        "No open alerts: every watched connector backed up within its thresholds."
                    );
                }
                return Ok(());
            }
            let mut by_customer: BTreeMap<String, Vec<&keepit_domain::Alert>> = BTreeMap::new();
            for alert in &open.alerts {
                by_customer
                    .entry(customer_of(alert))
                    .or_default()
                    .push(alert);
            }
            println!(
                "{} open alert(s) for {} customer(s)",
                open.alerts.len(),
                by_customer.len()
            );
            for (customer, alerts) in by_customer {
                println!("\n{customer}");
                for alert in alerts {
                    let rule = open
                        .rule_kinds
                        .get(&alert.rule.0)
                        .map(String::as_str)
                        .unwrap_or("unknown");
                    let reason = alert.reason.as_ref().map(|reason| {
                        match reason.entry(ReasonScope::Backup) {
                            Some(entry) => entry.title.to_owned(),
                            None => format!("unknown reason: {}", reason.raw().unwrap_or_default()),
                        }
                    });
                    println!(
                        "  #{:<5} {:<9} {:<13} {:<12} {:<36} last success {}{}",
                        alert.id.0,
                        alert.severity.as_str(),
                        rule,
                        alert_state(alert, now),
                        open.connectors
                            .get(&alert.connector)
                            .map(String::as_str)
                            .unwrap_or("?"),
                        alert
                            .last_success_at
                            .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "never".into()),
                        reason
                            .map(|reason| format!(" ({reason})"))
                            .unwrap_or_default(),
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(feature = "demo")]
pub(crate) async fn print_demo(
    store: &Store,
    report: &SyncReport,
    elapsed: Duration,
    database_url: &str,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let customers = store.customers().await?.len();
    let connectors = store
        .connectors_with_status(&ConnectorFilter::default())
        .await?;
    let mut by_kind: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for (connector, status) in &connectors {
        let health = status
            .as_ref()
            .map(|status| status.status.health.as_str())
            .unwrap_or("not watched");
        *by_kind
            .entry(connector.record.kind.display_name())
            .or_default()
            .entry(health)
            .or_default() += 1;
    }
    use keepit_domain::JobStatus;
    use keepit_store::JobQuery;
    let mut jobs_by_status: BTreeMap<&'static str, usize> = JobStatus::ALL
        .iter()
        .map(|status| (status.as_str(), 0))
        .collect();
    let mut query = JobQuery {
        limit: Some(JobQuery::MAX_LIMIT),
        ..JobQuery::default()
    };
    loop {
        let page = store.jobs(&query).await?;
        for job in &page.jobs {
            *jobs_by_status
                .entry(job.record.status.as_str())
                .or_default() += 1;
        }
        match page.next {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let open = open_alerts(store).await?;
    match output {
        OutputFormat::Json => {
            println!(
                "{}",
                json!({
                    "outcome": report.outcome.as_str(),
                    "database_url": database_url,
                    "customers": customers,
                    "connectors": connectors.len(),
                    "connectors_by_kind_and_health": by_kind,
                    "jobs_by_status": jobs_by_status,
                    "open_alerts": open.alerts.len(),
                    "requests": report.requests,
                    "duration_ms": elapsed.as_millis() as u64,
                })
            );
        }
        OutputFormat::Table => {
            println!("keepit-watch demo: a generated Keepit fleet, synced into {database_url}");
            println!(
                "Synced {} customer account(s) in {:.1}s with {} Keepit requests.\n",
                report.accounts,
                elapsed.as_secs_f64(),
                report.requests
            );
            println!("Customers: {customers}    Connectors: {}", connectors.len());
            println!("\nConnectors by kind and health:");
            for (kind, healths) in &by_kind {
                let text: Vec<String> = healths
                    .iter()
                    .map(|(health, count)| format!("{count} {health}"))
                    .collect();
                println!("  {kind:<26} {}", text.join(", "));
            }
            println!("\nJobs by status (last 14 days):");
            for (status, count) in &jobs_by_status {
                println!("  {:<14} {count}", status.replace('_', " "));
            }
            println!("\nStale and failing connectors:");
            if open.alerts.is_empty() {
                println!("  none");
            }
            for alert in &open.alerts {
                let rule = open
                    .rule_kinds
                    .get(&alert.rule.0)
                    .map(String::as_str)
                    .unwrap_or("unknown");
                let customer = alert
                    .customer
                    .and_then(|id| open.customers.get(&id).cloned())
                    .unwrap_or_default();
                let connector = open
                    .connectors
                    .get(&alert.connector)
                    .cloned()
                    .unwrap_or_default();
                println!(
                    "  [{}] {rule}: {customer} / {connector}",
                    alert.severity.as_str()
                );
                if let Some(reason) = &alert.reason {
                    match reason.entry(ReasonScope::Backup) {
                        Some(entry) => println!("      {}: {}", entry.title, entry.resolution),
                        None => println!(
                            "      Keepit reported: {}",
                            reason.raw().unwrap_or_default()
                        ),
                    }
                } else if let Some(success) = alert.last_success_at {
                    println!(
                        "      last successful backup {}",
                        success.format("%Y-%m-%d %H:%M UTC")
                    );
                } else {
                    println!("      never backed up successfully");
                }
            }
            println!(
                "\nNext: `keepit-sync status --database-url '{database_url}'` lists these alerts again,"
            );
            println!(
                "and `keepit-server serve --database-url '{database_url}'` serves them over HTTP."
            );
        }
    }
    Ok(())
}
