//! The Job Monitor: filters, pagination, CSV, reports, skipped items and bad input.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::support::{App, on_each_backend, send};

/// Every job of a query, following `next_cursor`.
async fn all(app: &App, query: &str) -> Vec<Value> {
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/jobs?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        jobs.extend(answer.json["jobs"].as_array().unwrap().iter().cloned());
        match answer.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return jobs,
        }
    }
}

fn guids(jobs: &[Value]) -> Vec<String> {
    jobs.iter()
        .map(|job| job["job_guid"].as_str().unwrap().to_owned())
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn pages_cover_every_job_once_newest_first() {
    on_each_backend(async |app: &App| {
        let everything = all(app, "limit=500").await;
        assert!(everything.len() > 20, "the fleet should have jobs");
        let paged = all(app, "limit=7").await;
        assert_eq!(guids(&paged), guids(&everything));
        let unique: HashSet<String> = guids(&paged).into_iter().collect();
        assert_eq!(unique.len(), paged.len(), "no job twice");
        for pair in paged.windows(2) {
            assert!(time(&pair[0]["sort_time"]) >= time(&pair[1]["sort_time"]));
        }
        let first = app.get("/api/v1/jobs").await;
        assert_eq!(
            first.json["jobs"].as_array().unwrap().len(),
            50,
            "default page size"
        );
    })
    .await;
}

#[tokio::test]
async fn each_filter_keeps_only_matching_jobs() {
    on_each_backend(async |app: &App| {
        let everything = all(app, "limit=500").await;

        let failed = all(app, "status=unsuccessful").await;
        assert!(!failed.is_empty());
        assert!(failed.iter().all(|j| j["status"] == "unsuccessful"));
        assert!(failed.iter().all(|j| j["needs_attention"] == true));
        assert_eq!(
            failed.len(),
            everything
                .iter()
                .filter(|j| j["status"] == "unsuccessful")
                .count()
        );

        // Repeated and comma-separated statuses mean the same.
        let repeated = all(app, "status=unsuccessful&status=incomplete").await;
        let comma = all(app, "status=unsuccessful,incomplete").await;
        assert_eq!(guids(&repeated), guids(&comma));
        assert!(
            repeated
                .iter()
                .all(|j| j["status"] == "unsuccessful" || j["status"] == "incomplete")
        );
        assert!(repeated.len() >= failed.len());

        let backups = all(app, "type=backup").await;
        assert!(!backups.is_empty());
        assert!(backups.iter().all(|j| j["type"] == "backup"));

        let sample = &everything[everything.len() / 2];
        let connector = sample["connector_guid"].as_str().unwrap();
        let by_connector = all(app, &format!("connector={connector}")).await;
        assert!(!by_connector.is_empty());
        assert!(
            by_connector
                .iter()
                .all(|j| j["connector_guid"] == connector)
        );

        let customer = sample["customer_id"]
            .as_i64()
            .expect("synced jobs have a customer");
        let by_customer = all(app, &format!("customer={customer}")).await;
        assert!(by_customer.iter().all(|j| j["customer_id"] == customer));
        assert!(by_customer.len() >= by_connector.len());

        let name = sample["connector_name"].as_str().unwrap();
        let by_text = all(app, &format!("q={}", urlencode(name))).await;
        assert!(guids(&by_text).contains(&sample["job_guid"].as_str().unwrap().to_owned()));

        let now = app.now();
        let last_day = all(app, "span=24h").await;
        assert!(!last_day.is_empty());
        assert!(last_day.len() < everything.len());
        assert!(
            last_day
                .iter()
                .all(|j| time(&j["sort_time"]) >= now - TimeDelta::hours(24))
        );

        let from = now - TimeDelta::days(3);
        let to = now - TimeDelta::days(1);
        let window = all(
            app,
            &format!(
                "from={}&to={}",
                urlencode(&from.to_rfc3339()),
                urlencode(&to.to_rfc3339())
            ),
        )
        .await;
        assert!(!window.is_empty());
        assert!(window.iter().all(|j| {
            let at = time(&j["sort_time"]);
            at >= from && at < to
        }));

        // Combined: every condition holds at once, and it is the intersection.
        let combined = all(
            app,
            &format!("customer={customer}&type=backup&status=successful&span=7d"),
        )
        .await;
        let expected: Vec<&Value> = by_customer
            .iter()
            .filter(|j| {
                j["type"] == "backup"
                    && j["status"] == "successful"
                    && time(&j["sort_time"]) >= now - TimeDelta::days(7)
            })
            .collect();
        assert_eq!(combined.len(), expected.len());
        assert!(!combined.is_empty());
    })
    .await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn csv_has_the_same_rows_as_json() {
    on_each_backend(async |app: &App| {
        let query = "status=unsuccessful,incomplete,successful&type=backup";
        let json = all(app, &format!("{query}&limit=3")).await;
        let answer = app.get(&format!("/api/v1/jobs.csv?{query}&limit=4")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(
            answer
                .content_type
                .as_deref()
                .unwrap()
                .starts_with("text/csv")
        );
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(&headers[0], "job_guid");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), json.len());
        for (row, job) in rows.iter().zip(&json) {
            assert_eq!(&row[0], job["job_guid"].as_str().unwrap());
            assert_eq!(&row[1], job["type"].as_str().unwrap());
            assert_eq!(&row[2], job["status"].as_str().unwrap());
            assert_eq!(&row[8], job["connector_name"].as_str().unwrap_or(""));
            assert_eq!(&row[12], job["sort_time"].as_str().unwrap());
            assert_eq!(&row[14], job["failure_summary"].as_str().unwrap_or(""));
        }
        let bad = app.get("/api/v1/jobs.csv?status=nope").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_are_named() {
    on_each_backend(async |app: &App| {
        for (query, parameter) in [
            ("status=bogus", "status"),
            ("status=successful,bogus", "status"),
            ("type=nonsense", "type"),
            ("from=yesterday", "from"),
            ("to=2024-13-01T00:00:00Z", "to"),
            ("span=forever", "span"),
            ("span=0h", "span"),
            ("span=24h&from=2024-01-01T00:00:00Z", "span"),
            ("from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z", "from"),
            ("cursor=not-a-cursor", "cursor"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=ten", "limit"),
            ("customer=acme", "customer"),
            ("limit=5&limit=6", "limit"),
            ("colour=blue", "colour"),
        ] {
            let answer = app.get(&format!("/api/v1/jobs?{query}")).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{query}: {}",
                answer.text
            );
            assert_eq!(answer.code(), "invalid_parameter", "{query}");
            assert!(
                answer.message().contains(parameter),
                "{query}: {} does not name {parameter}",
                answer.message()
            );
            assert_eq!(answer.json["error"]["parameter"], parameter, "{query}");
        }
    })
    .await;
}

/// Stores a copy of a synced job under a new GUID, changed by `edit`.
async fn stored_variant(
    app: &App,
    guid: &str,
    edit: impl FnOnce(&mut keepit_store::JobRecord),
) -> String {
    let original = app
        .store
        .jobs(&keepit_store::JobQuery {
            limit: Some(1),
            ..keepit_store::JobQuery::default()
        })
        .await
        .unwrap()
        .jobs
        .remove(0);
    let mut record = original.record;
    record.job = keepit_domain::JobId::new(guid).unwrap();
    edit(&mut record);
    app.store.upsert_jobs(&[record], app.now()).await.unwrap();
    guid.to_owned()
}

#[tokio::test]
async fn csv_quotes_awkward_text_and_ends_lines_in_crlf() {
    on_each_backend(async |app: &App| {
        let awkward = "Contoso, \"Nordic\" tenant\nsecond line";
        let guid = stored_variant(app, "quoted-aaaaaa-bbbbbb-cccccc", |job| {
            job.description = Some(awkward.to_owned());
        })
        .await;
        let answer = app.get("/api/v1/jobs.csv?q=nordic").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert!(answer.text.starts_with("job_guid,type,status,"));
        assert!(
            answer
                .text
                .contains("\"Contoso, \"\"Nordic\"\" tenant\nsecond line\"\r\n"),
            "RFC 4180 quoting: {}",
            answer.text
        );
        let lines_end_in_crlf = answer
            .text
            .split_inclusive('\n')
            .filter(|line| !line.contains("Nordic"))
            .all(|line| line.ends_with("\r\n"));
        assert!(lines_end_in_crlf, "{:?}", answer.text);
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][0], guid);
        assert_eq!(&rows[0][15], awkward);
    })
    .await;
}

#[tokio::test]
async fn skipped_items_of_a_running_job_are_409_and_keepit_down_is_502() {
    on_each_backend(async |app: &App| {
        let running = stored_variant(app, "running-aaaaaa-bbbbbb-cccccc", |job| {
            job.status = keepit_domain::JobStatus::InProgress;
            job.active = true;
            job.succeeded = None;
            job.failed = None;
            job.cancelled = None;
        })
        .await;
        let answer = app
            .get(&format!("/api/v1/jobs/{running}/skipped-items.csv"))
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
        assert_eq!(answer.code(), "conflict");

        let finished = &all(app, "status=successful&limit=1").await[0];
        let path = format!(
            "/api/v1/jobs/{}/skipped-items.csv",
            finished["job_guid"].as_str().unwrap()
        );
        // Keepit gone: the integration now points at a port nobody listens on.
        let moved = app
            .call(
                Method::PATCH,
                &format!("/api/v1/integrations/{}?verify=false", app.integration.0),
                Some(&app.admin),
                Some(serde_json::json!({ "base_url": "http://127.0.0.1:9" })),
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.text);
        assert_eq!(answer.code(), "upstream_failed");
        assert!(
            answer.message().contains("skipped items"),
            "{}",
            answer.message()
        );
    })
    .await;
}

#[tokio::test]
async fn a_report_explains_the_failure() {
    on_each_backend(async |app: &App| {
        let failed = all(app, "status=unsuccessful&type=backup").await;
        let job = failed
            .iter()
            .find(|j| !j["failure_reason"].is_null())
            .expect("a failed backup with a reason");
        let guid = job["job_guid"].as_str().unwrap();
        let report = app.get(&format!("/api/v1/jobs/{guid}")).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.text);
        assert_eq!(report.json["job"]["job_guid"], guid);
        assert_eq!(report.json["job"]["needs_attention"], true);
        let reason = &report.json["reason"];
        assert_eq!(reason["code"], job["failure_reason"]);
        if reason["known"] == true {
            assert!(!reason["title"].as_str().unwrap().is_empty());
            assert!(!reason["explanation"].as_str().unwrap().is_empty());
            assert!(!reason["resolution"].as_str().unwrap().is_empty());
        }
        let successful = &all(app, "status=successful&type=backup").await[0];
        let report = app
            .get(&format!(
                "/api/v1/jobs/{}",
                successful["job_guid"].as_str().unwrap()
            ))
            .await;
        assert!(report.json["reason"].is_null());
        assert_eq!(report.json["job"]["statistics"]["family"], "backup");

        let missing = app.get("/api/v1/jobs/va14e0-sa8c7o-giq88n-hsfgdx").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.code(), "not_found");
    })
    .await;
}

#[tokio::test]
async fn skipped_items_come_from_keepit_within_a_month_and_are_gone_after() {
    on_each_backend(async |app: &App| {
        let truth = app.fleet.ground_truth();
        let with_skips = truth
            .jobs
            .iter()
            .filter(|job| job.skipped_count() > 0)
            .map(|job| job.id.as_str().to_owned())
            .collect::<HashSet<_>>();
        let finished = all(app, "status=incomplete,unsuccessful,successful&limit=500").await;
        let job = finished
            .iter()
            .find(|j| with_skips.contains(j["job_guid"].as_str().unwrap()))
            .expect("a finished job with skipped items");
        let guid = job["job_guid"].as_str().unwrap();
        let path = format!("/api/v1/jobs/{guid}/skipped-items.csv");

        let answer = app.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let mut reader = csv::Reader::from_reader(answer.text.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            ["time", "account", "connector", "job", "message"]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|row| &row[3] == guid));

        // Two months later Keepit no longer keeps the log: 410 with a clear message.
        let later = app.at(app.now() + TimeDelta::days(62));
        let gone = send(&later, Method::GET, &path, Some(&app.admin), None).await;
        assert_eq!(gone.status, StatusCode::GONE, "{}", gone.text);
        assert_eq!(gone.code(), "gone");
        assert!(gone.message().contains("one month"), "{}", gone.message());
        let report = send(
            &later,
            Method::GET,
            &format!("/api/v1/jobs/{guid}"),
            Some(&app.admin),
            None,
        )
        .await;
        assert_eq!(report.json["skipped_items_available"], false);
    })
    .await;
}

#[tokio::test]
async fn skipped_items_without_a_master_key_is_503() {
    let app = App::start_with(false).await;
    let page = app.get("/api/v1/jobs?status=successful&limit=1").await;
    let job = &page.json["jobs"][0];
    let answer = app
        .get(&format!(
            "/api/v1/jobs/{}/skipped-items.csv",
            job["job_guid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "unavailable");
    assert!(
        answer.message().contains("master key"),
        "{}",
        answer.message()
    );
}
