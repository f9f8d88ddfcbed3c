//! The `/metrics` document, encoded by `prometheus-client` in either exposition format:
//! OpenMetrics when the scraper asks for it (Prometheus does by default), the Prometheus
//! text format 0.0.4 otherwise.
//!
//! Every value is read from the store at scrape time, so several server processes over
//! one database report the same numbers, and a restart resets nothing. The counters
//! (runs, requests, the duration histogram) include the runs retention has purged
//! (`sync_run_totals`), so they never go down.
//!
//! Label cardinality is bounded by the fleet: the per-customer families have one series
//! per customer (times two severities for open alerts), `keepit_watch_alerts_open` one
//! per alert rule and state, and the rest a handful each.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keepit_domain::{AlertState, RuleKind, Severity};
use keepit_store::{SyncOutcome, SyncRunTotals};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::AppState;
use crate::error::AppError;

/// The `Content-Type` of an OpenMetrics answer.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of a Prometheus text format answer.
pub(crate) const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The label set of one sample: names are ours, values may be anything (escaped by the
/// encoder).
type Labels = Vec<(&'static str, String)>;

/// One customer's figures.
#[derive(Debug)]
struct CustomerFigures {
    /// The customer's id, empty for connectors not linked to a customer.
    id: String,
    /// Its name (`unlinked` for connectors not linked to one).
    name: String,
    /// Open (pending or firing) alerts by severity.
    open_alerts: BTreeMap<Severity, u64>,
    /// Connectors with an open backup-stale alert.
    stale_connectors: u64,
    /// Hours since the oldest "last successful backup" of its watched connectors
    /// (connectors that never had one are counted by the stale alerts instead).
    hours_since_last_success: Option<f64>,
}

/// Everything one scrape reports, read from the store.
#[derive(Debug)]
struct Figures {
    version: String,
    commit: String,
    totals: SyncRunTotals,
    /// Duration and end of the latest finished run.
    last_finished: Option<(f64, f64)>,
    connectors_by_health: BTreeMap<String, u64>,
    /// Open alerts by rule (id, name, kind) and state.
    alerts_open: Vec<(Labels, u64)>,
    customers: Vec<CustomerFigures>,
    /// Whether the per-customer families carry the customer's name. Not when
    /// `/metrics` answers without a token: anyone who reaches it could read the MSP's
    /// customer list; `customer_id` alone still tells series apart.
    names_shown: bool,
}

/// A whole number as a sample value (the encoders take `i64` for gauges).
fn whole(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

impl Figures {
    async fn load(state: &AppState) -> Result<Figures, AppError> {
        let store = &state.store;
        let now = state.clock.now();
        let mut totals = store.sync_run_totals().await?;
        // Every finished outcome has a series from the start, so `rate()` and
        // `increase()` see the first run of each.
        for outcome in SyncOutcome::ALL {
            if outcome != SyncOutcome::Running {
                totals
                    .runs_by_outcome
                    .entry(outcome.as_str().to_owned())
                    .or_default();
            }
        }
        let last_finished = store
            .sync_runs(20)
            .await?
            .iter()
            .find_map(|run| Some((run.started_at, run.finished_at?)))
            .map(|(started, finished)| {
                (
                    seconds_between(started, finished),
                    finished.timestamp_millis() as f64 / 1000.0,
                )
            });

        // The fleet as the dashboard reads it: kept between requests and read again
        // only when a sync or a person changed something, so a scrape of a large fleet
        // does not read every connector each time.
        let snapshot = state.web.snapshots.get(store).await?;
        let connectors: Vec<_> = snapshot
            .connectors
            .iter()
            .filter(|(connector, _)| {
                snapshot
                    .watched
                    .contains(connector.record.connector.as_str())
            })
            .collect();
        let mut connectors_by_health: BTreeMap<String, u64> = BTreeMap::new();
        for (_, status) in &connectors {
            let health = status
                .as_ref()
                .map_or("unknown", |status| status.status.health.as_str());
            *connectors_by_health.entry(health.to_owned()).or_default() += 1;
        }

        let mut rules: Vec<(i64, &(String, RuleKind))> = snapshot
            .rules
            .iter()
            .map(|(id, rule)| (*id, rule))
            .collect();
        rules.sort_by_key(|(id, _)| *id);
        let open: Vec<&keepit_domain::Alert> = snapshot
            .open_alerts
            .iter()
            .filter(|alert| alert.state.is_open())
            .collect();
        let mut alerts_open = Vec::new();
        for (id, (name, kind)) in &rules {
            for alert_state in [AlertState::Pending, AlertState::Firing] {
                let count = open
                    .iter()
                    .filter(|alert| alert.rule.0 == *id && alert.state == alert_state)
                    .count();
                alerts_open.push((
                    vec![
                        ("rule_id", id.to_string()),
                        ("rule", name.clone()),
                        ("kind", kind.as_str().to_owned()),
                        ("state", alert_state.as_str().to_owned()),
                    ],
                    count as u64,
                ));
            }
        }

        // Per customer: every customer with a watched connector, plus "unlinked" when
        // some watched connector has no customer.
        let stale_rules: Vec<i64> = rules
            .iter()
            .filter(|(_, (_, kind))| *kind == RuleKind::BackupStale)
            .map(|(id, _)| *id)
            .collect();
        let names = &snapshot.customers;
        let mut by_customer: BTreeMap<Option<i64>, CustomerFigures> = BTreeMap::new();
        let figures_of = |customer: Option<i64>| CustomerFigures {
            id: customer.map(|id| id.to_string()).unwrap_or_default(),
            name: customer
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| "unlinked".to_owned()),
            open_alerts: Severity::ALL
                .iter()
                .map(|severity| (*severity, 0))
                .collect(),
            stale_connectors: 0,
            hours_since_last_success: None,
        };
        for (connector, status) in &connectors {
            let customer = connector.customer.map(|id| id.0);
            let figures = by_customer
                .entry(customer)
                .or_insert_with(|| figures_of(customer));
            if let Some(success) = status
                .as_ref()
                .and_then(|status| status.status.last_successful_backup_at)
            {
                let hours = seconds_between(success, now).max(0.0) / 3600.0;
                figures.hours_since_last_success = Some(
                    figures
                        .hours_since_last_success
                        .map_or(hours, |worst| worst.max(hours)),
                );
            }
        }
        let mut stale: BTreeMap<Option<i64>, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for alert in &open {
            let customer = alert.customer.map(|id| id.0);
            let figures = by_customer
                .entry(customer)
                .or_insert_with(|| figures_of(customer));
            *figures.open_alerts.entry(alert.severity).or_default() += 1;
            if stale_rules.contains(&alert.rule.0) {
                stale
                    .entry(customer)
                    .or_default()
                    .insert(alert.connector.as_str());
            }
        }
        for (customer, connectors) in stale {
            if let Some(figures) = by_customer.get_mut(&customer) {
                figures.stale_connectors = connectors.len() as u64;
            }
        }
        Ok(Figures {
            version: state.build.version.clone(),
            commit: state.build.commit.clone(),
            totals,
            last_finished,
            connectors_by_health,
            alerts_open,
            customers: by_customer.into_values().collect(),
            names_shown: !state.metrics_public,
        })
    }
}

/// Writes one counter or gauge family, a sample per label set.
fn family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric_type: MetricType,
    samples: impl IntoIterator<Item = (Labels, Sample)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, value) in samples {
        let mut sample = metric.encode_family(&labels)?;
        match value {
            Sample::Count(value) => {
                sample.encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
            Sample::Whole(value) => sample.encode_gauge(&value)?,
            Sample::Fraction(value) => sample.encode_gauge(&value)?,
        }
    }
    Ok(())
}

/// A sample's value.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// A counter's.
    Count(u64),
    /// A whole gauge's.
    Whole(i64),
    /// A gauge with fractions.
    Fraction(f64),
}

fn no_labels() -> Labels {
    Vec::new()
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let seconds = Unit::Seconds;
        encoder
            .encode_descriptor(
                "keepit_watch_build",
                "The version and git commit of the keepit-watch serving these metrics",
                None,
                MetricType::Info,
            )?
            .encode_info(&[
                ("version", self.version.as_str()),
                ("commit", self.commit.as_str()),
            ])?;
        family(
            &mut encoder,
            "keepit_watch_sync_runs",
            "Finished sync runs, by outcome (purged runs included)",
            None,
            MetricType::Counter,
            self.totals
                .runs_by_outcome
                .iter()
                .map(|(outcome, n)| (vec![("outcome", outcome.clone())], Sample::Count(*n))),
        )?;
        family(
            &mut encoder,
            "keepit_watch_sync_runs_running",
            "Sync runs started and not finished",
            None,
            MetricType::Gauge,
            [(no_labels(), Sample::Whole(whole(self.totals.running)))],
        )?;
        let durations = &self.totals.durations;
        // The store's buckets are cumulative; the encoder takes each bucket's own count
        // and adds them up again.
        let mut buckets = Vec::with_capacity(durations.buckets.len() + 1);
        let mut below = 0;
        for (bound, cumulative) in &durations.buckets {
            buckets.push((bound.as_secs_f64(), cumulative.saturating_sub(below)));
            below = *cumulative;
        }
        buckets.push((f64::INFINITY, durations.count.saturating_sub(below)));
        encoder
            .encode_descriptor(
                "keepit_watch_sync_duration",
                "How long finished sync runs took",
                Some(&seconds),
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                durations.sum.as_secs_f64(),
                durations.count,
                &buckets,
                None,
            )?;
        family(
            &mut encoder,
            "keepit_watch_last_sync_duration",
            "How long the latest finished sync run took",
            Some(&seconds),
            MetricType::Gauge,
            self.last_finished
                .map(|(took, _)| (no_labels(), Sample::Fraction(took))),
        )?;
        family(
            &mut encoder,
            "keepit_watch_last_sync_finished_timestamp",
            "Unix time the latest sync run finished",
            Some(&seconds),
            MetricType::Gauge,
            self.last_finished
                .map(|(_, at)| (no_labels(), Sample::Fraction(at))),
        )?;
        family(
            &mut encoder,
            "keepit_watch_keepit_requests",
            "Requests sync runs made to Keepit, retries included, by HTTP status (no_answer: the connection failed or timed out)",
            None,
            MetricType::Counter,
            self.totals
                .requests_by_status
                .iter()
                .map(|(status, n)| (vec![("status", status.clone())], Sample::Count(*n))),
        )?;
        family(
            &mut encoder,
            "keepit_watch_connectors",
            "Watched connectors, by Keepit's health verdict (unknown: no status yet)",
            None,
            MetricType::Gauge,
            self.connectors_by_health
                .iter()
                .map(|(health, n)| (vec![("health", health.clone())], Sample::Whole(whole(*n)))),
        )?;
        family(
            &mut encoder,
            "keepit_watch_alerts_open",
            "Open (pending or firing) alerts, by rule and state",
            None,
            MetricType::Gauge,
            self.alerts_open
                .iter()
                .map(|(labels, n)| (labels.clone(), Sample::Whole(whole(*n)))),
        )?;
        let customer = |figures: &CustomerFigures| -> Labels {
            let mut labels = vec![("customer_id", figures.id.clone())];
            if self.names_shown {
                labels.push(("customer", figures.name.clone()));
            }
            labels
        };
        family(
            &mut encoder,
            "keepit_watch_customer_alerts_open",
            "Open (pending or firing) alerts of a customer, by severity",
            None,
            MetricType::Gauge,
            self.customers.iter().flat_map(|figures| {
                figures.open_alerts.iter().map(move |(severity, n)| {
                    let mut labels = customer(figures);
                    labels.push(("severity", severity.as_str().to_owned()));
                    (labels, Sample::Whole(whole(*n)))
                })
            }),
        )?;
        family(
            &mut encoder,
            "keepit_watch_customer_connectors_stale",
            "Connectors of a customer with an open backup-stale alert",
            None,
            MetricType::Gauge,
            self.customers.iter().map(|figures| {
                (
                    customer(figures),
                    Sample::Whole(whole(figures.stale_connectors)),
                )
            }),
        )?;
        family(
            &mut encoder,
            "keepit_watch_customer_hours_since_last_success",
            "Hours since the least recent last successful backup among a customer's watched connectors",
            None,
            MetricType::Gauge,
            self.customers.iter().filter_map(|figures| {
                Some((
                    customer(figures),
                    Sample::Fraction(figures.hours_since_last_success?),
                ))
            }),
        )?;
        Ok(())
    }
}

/// Renders every metric: OpenMetrics when `openmetrics`, else the Prometheus text
/// format.
pub(crate) async fn render(state: &AppState, openmetrics: bool) -> Result<String, AppError> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Figures::load(state).await?));
    let mut out = String::new();
    let encoded = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    encoded.map_err(|error| AppError::Internal(Box::new(error)))?;
    Ok(out)
}

/// Whether an `Accept` header asks for OpenMetrics (Prometheus sends it first, with
/// the text format as a fallback).
pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            parts
                .next()
                .is_some_and(|media| media.eq_ignore_ascii_case("application/openmetrics-text"))
                && !parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::wants_openmetrics;

    #[test]
    fn openmetrics_is_served_to_scrapers_that_ask_for_it() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(wants_openmetrics(Some("Application/OpenMetrics-Text")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text; q=0.0"
        )));
        assert!(!wants_openmetrics(None));
    }
}
