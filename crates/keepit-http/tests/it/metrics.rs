//! `/metrics`: both exposition formats, read back by a parser; counters that survive
//! retention; per-customer gauges that agree with the store.

use std::collections::{BTreeMap, HashSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use keepit_store::AlertFilter;

use crate::support::{Answer, App, answer, on_each_backend};

async fn scrape(app: &App, accept: Option<&str>) -> Answer {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri("/metrics")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin));
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let answer = answer(&app.router, request.body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer
}

/// Samples by (name, sorted labels).
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The samples of a page in the Prometheus text format, as a Prometheus server reads
/// them: (name, sorted labels) to value. Histogram buckets come as `NAME_bucket` with
/// an `le` label.
fn parse(text: &str) -> Samples {
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap();
    let mut samples = BTreeMap::new();
    for sample in scrape.samples {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        match sample.value {
            prometheus_parse::Value::Counter(value)
            | prometheus_parse::Value::Gauge(value)
            | prometheus_parse::Value::Untyped(value) => {
                samples.insert((sample.metric, labels), value);
            }
            prometheus_parse::Value::Histogram(buckets) => {
                for bucket in buckets {
                    let mut labels = labels.clone();
                    let le = if bucket.less_than.is_infinite() {
                        "+Inf".to_owned()
                    } else {
                        bucket.less_than.to_string()
                    };
                    labels.push(("le".to_owned(), le));
                    labels.sort();
                    samples.insert((format!("{}_bucket", sample.metric), labels), bucket.count);
                }
            }
            prometheus_parse::Value::Summary(_) => panic!("no summaries are exported"),
        }
    }
    samples
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    samples.get(&(name.to_owned(), labels)).copied()
}

/// The text format's grammar, which the lenient parser does not check: every sample
/// belongs to the family whose TYPE line came last, a family's samples are not
/// interrupted by another TYPE, and HELP comes with TYPE.
fn check_families(text: &str, openmetrics: bool) {
    let mut family = String::new();
    let mut kind = String::new();
    let mut seen = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split(' ');
            family = words.next().unwrap().to_owned();
            kind = words.next().unwrap().to_owned();
            assert!(seen.insert(family.clone()), "{family} declared twice");
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(!rest.is_empty());
        } else if !line.starts_with('#') {
            assert!(!line.is_empty(), "no blank lines");
            let name = line.split(['{', ' ']).next().unwrap();
            let suffixes: &[&str] = match (kind.as_str(), openmetrics) {
                ("histogram", _) => &["_bucket", "_sum", "_count"],
                ("counter", true) => &["_total"],
                ("info", true) => &["_info"],
                _ => &[""],
            };
            assert!(
                suffixes
                    .iter()
                    .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str())),
                "sample {line:?} outside its family {family} ({kind})"
            );
        }
    }
}

#[tokio::test]
async fn metrics_parse_in_both_formats_and_agree_with_the_store() {
    on_each_backend(async |app: &App| {
        crate::alerts::open_alert(app).await;
        let page = scrape(app, None).await;
        assert_eq!(
            page.content_type.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        check_families(&page.text, false);
        let samples = parse(&page.text);

        let build = samples
            .keys()
            .find(|(name, _)| name == "keepit_watch_build_info")
            .expect("build info");
        assert!(
            build
                .1
                .contains(&("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()))
        );
        assert!(build.1.iter().any(|(k, _)| k == "commit"));

        let runs = app.get("/api/v1/sync-runs").await;
        let ok_requests = runs.json[0]["requests_by_status"]["200"].as_f64().unwrap();
        assert_eq!(
            value(&samples, "keepit_watch_sync_runs_total", &[("outcome", "ok")]),
            Some(1.0)
        );
        for outcome in ["partial", "failed", "abandoned"] {
            assert_eq!(
                value(&samples, "keepit_watch_sync_runs_total", &[("outcome", outcome)]),
                Some(0.0),
                "every outcome has a series from the start, so rate() sees its first run"
            );
        }
        assert_eq!(
            value(&samples, "keepit_watch_sync_runs_running", &[]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &samples,
                "keepit_watch_keepit_requests_total",
                &[("status", "200")]
            ),
            Some(ok_requests)
        );
        assert_eq!(
            value(
                &samples,
                "keepit_watch_sync_duration_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&samples, "keepit_watch_sync_duration_seconds_count", &[]),
            Some(1.0)
        );
        assert!(value(&samples, "keepit_watch_last_sync_duration_seconds", &[]).is_some());

        // Per customer: open alerts by severity, stale connectors, hours since the
        // least recent success; each agrees with what the store holds.
        let alerts = app.store.alerts(&AlertFilter::default()).await.unwrap();
        let open: Vec<_> = alerts.iter().filter(|a| a.state.is_open()).collect();
        assert!(!open.is_empty(), "the test fleet has open alerts");
        let customers = app.store.customers().await.unwrap();
        let mut checked = 0;
        for customer in &customers {
            let id = customer.id.0.to_string();
            let labels = |severity: &'static str| {
                vec![
                    ("customer_id", id.as_str()),
                    ("customer", customer.name.as_str()),
                    ("severity", severity),
                ]
            };
            for severity in ["warning", "critical"] {
                let expected = open
                    .iter()
                    .filter(|a| a.customer == Some(customer.id) && a.severity.as_str() == severity)
                    .count() as f64;
                if let Some(got) = value(
                    &samples,
                    "keepit_watch_customer_alerts_open",
                    &labels(severity),
                ) {
                    assert_eq!(got, expected, "{} {severity}", customer.name);
                    checked += 1;
                } else {
                    assert_eq!(expected, 0.0, "{} has alerts but no series", customer.name);
                }
            }
        }
        assert!(checked > 0, "some customer has a series");
        let total_open: f64 = samples
            .iter()
            .filter(|((name, _), _)| name == "keepit_watch_customer_alerts_open")
            .map(|(_, value)| value)
            .sum();
        assert_eq!(total_open, open.len() as f64, "every open alert is counted once");
        let stale: f64 = samples
            .iter()
            .filter(|((name, _), _)| name == "keepit_watch_customer_connectors_stale")
            .map(|(_, value)| value)
            .sum();
        let stale_rules: Vec<_> = app
            .store
            .alert_rules()
            .await
            .unwrap()
            .into_iter()
            .filter(|rule| rule.rule.spec.kind == keepit_domain::RuleKind::BackupStale)
            .map(|rule| rule.rule.id)
            .collect();
        let stale_connectors: HashSet<_> = open
            .iter()
            .filter(|a| stale_rules.contains(&a.rule))
            .map(|a| a.connector.as_str())
            .collect();
        assert_eq!(stale, stale_connectors.len() as f64);
        assert!(stale > 0.0);
        assert!(samples.iter().any(|((name, _), hours)| {
            name == "keepit_watch_customer_hours_since_last_success" && *hours > 0.0
        }));

        // OpenMetrics when asked for, as Prometheus asks.
        let open_page = scrape(
            app,
            Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
        )
        .await;
        assert_eq!(
            open_page.content_type.as_deref(),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(open_page.text.ends_with("# EOF\n"));
        check_families(&open_page.text, true);
        for line in [
            "# TYPE keepit_watch_sync_runs counter",
            "# TYPE keepit_watch_build info",
            "# UNIT keepit_watch_sync_duration_seconds seconds",
            "# TYPE keepit_watch_sync_duration_seconds histogram",
        ] {
            assert!(
                open_page.text.lines().any(|l| l == line),
                "{line} missing in\n{}",
                open_page.text
            );
        }
    })
    .await;
}

#[tokio::test]
async fn counters_never_go_down_when_retention_purges_runs() {
    on_each_backend(async |app: &App| {
        let counters = |text: &str| -> Vec<(String, f64)> {
            parse(text)
                .into_iter()
                .filter(|((name, _), _)| {
                    name.ends_with("_total")
                        || name.starts_with("keepit_watch_sync_duration_seconds")
                })
                .map(|((name, labels), value)| (format!("{name}{labels:?}"), value))
                .collect()
        };
        let before = counters(&scrape(app, None).await.text);
        assert!(before.len() > 5, "{before:?}");
        let far_future = app.state.clock.now() + chrono::TimeDelta::days(10_000);
        assert_eq!(app.store.purge_sync_runs(far_future).await.unwrap(), 1);
        assert_eq!(
            app.get("/api/v1/sync-runs").await.json,
            serde_json::json!([])
        );
        let after = counters(&scrape(app, None).await.text);
        assert_eq!(before, after);
    })
    .await;
}
