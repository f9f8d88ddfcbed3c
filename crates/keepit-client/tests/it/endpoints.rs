//! Each endpoint: the happy path and every edge-case fixture.

use chrono::{TimeZone, Utc};
use futures::TryStreamExt as _;
use keepit_client::{AuditQuery, Error, JobHistoryFilter};
use keepit_domain::{
    AuditCategory, ConnectorErrorCode, ConnectorKind, DslAgent, FailureReason, Health,
    HealthReason, JobStatistics, JobStatus, JobType, ReasonCode, SnapshotKind,
};
use wiremock::matchers::{body_string_contains, header, method, path, path_regex, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::{account, connector, fixture, setup};

fn ok(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(body)
}

#[tokio::test]
async fn whoami_reads_the_id_and_ignores_extra_elements() {
    for case in ["ok.xml", "unknown-elements.xml"] {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .and(path("/users/"))
            .respond_with(ok(fixture("whoami", case)))
            .expect(1)
            .mount(&server)
            .await;
        let id = client.whoami().await.unwrap();
        assert!(!id.as_str().is_empty(), "{case}");
    }
}

#[tokio::test]
async fn account_settings_with_and_without_optional_elements() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/users/5d67ai-hl7znb-f2ykpu"))
        .respond_with(ok(fixture("account", "child.xml")))
        .mount(&server)
        .await;
    let info = client.account(&account()).await.unwrap();
    assert!(info.parent.is_some());
    assert!(info.product.is_some());

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("account", "partner.xml")))
        .mount(&server)
        .await;
    let info = client.account(&account()).await.unwrap();
    assert_eq!(info.parent, None);
    assert_eq!(info.deletion, None);

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("account", "scheduled-deletion.xml")))
        .mount(&server)
        .await;
    let info = client.account(&account()).await.unwrap();
    assert!(info.deletion.is_some());
    assert!(info.external_id.is_some());
}

#[tokio::test]
async fn child_accounts_in_every_shape() {
    let cases = [
        ("v1-two.xml", 2),
        ("v1-single.xml", 1),
        ("v1-empty-company.xml", 2),
        ("v3-contacts.xml", 3),
        ("empty.xml", 0),
        ("trailing-whitespace.xml", 2),
        ("unknown-elements.xml", 2),
    ];
    for (case, expected) in cases {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .and(path("/users/qft3yh-ru0e38-v7m0le/users"))
            .and(header("accept", "application/vnd.keepit.v3+xml"))
            .respond_with(ok(fixture("child-accounts", case)))
            .expect(1)
            .mount(&server)
            .await;
        let parent = keepit_domain::AccountId::new("qft3yh-ru0e38-v7m0le").unwrap();
        let children = client
            .child_accounts(&parent)
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        assert_eq!(children.len(), expected, "{case}");
        for child in &children {
            assert_eq!(
                child.id.as_str(),
                child.id.as_str().trim(),
                "{case}: ids are trimmed"
            );
            if let Some(name) = &child.company_name {
                assert_eq!(name, name.trim(), "{case}: names are trimmed");
                assert!(!name.is_empty(), "{case}: empty names are absent");
            }
        }
    }
}

#[tokio::test]
async fn v3_contacts_carry_company_names_and_deletion_deadlines() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("child-accounts", "v3-contacts.xml")))
        .mount(&server)
        .await;
    let children = client.child_accounts(&account()).await.unwrap();
    assert_eq!(
        children[0].company_name.as_deref(),
        Some("Northwind Traders")
    );
    assert!(
        children
            .iter()
            .any(|child| child.deletion_deadline.is_some())
    );
}

#[tokio::test]
async fn an_account_without_children_answers_404_which_is_empty() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_string(fixture("errors", "not-found.txt")),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert!(client.child_accounts(&account()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_account_walk_is_recursive_and_cycle_safe() {
    let (server, client) = setup().await;
    let users = |ids: &[(&str, &str)]| {
        let mut body = String::from("<users>");
        for (id, name) in ids {
            body.push_str(&format!(
                "<user><id>{id}</id><company_name>{name}</company_name></user>"
            ));
        }
        body.push_str("</users>");
        ok(body)
    };
    Mock::given(method("GET"))
        .and(path("/users/root00-000000-000000/users"))
        .respond_with(users(&[
            ("resel1-000000-000000", "Reseller"),
            ("cust01-000000-000000", "Direct Customer"),
        ]))
        .mount(&server)
        .await;
    // The reseller lists a customer and, by mistake, the root again: the walk must not loop.
    Mock::given(method("GET"))
        .and(path("/users/resel1-000000-000000/users"))
        .respond_with(users(&[
            ("cust02-000000-000000", "Deep Customer"),
            ("root00-000000-000000", "Loop"),
        ]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/users/cust0[12]-000000-000000/users$"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let root = keepit_domain::AccountId::new("root00-000000-000000").unwrap();
    let tree = client.account_tree(&root).await.unwrap();
    let found: Vec<(String, usize)> = tree
        .iter()
        .map(|node| (node.account.id.to_string(), node.depth))
        .collect();
    assert_eq!(
        found,
        vec![
            ("resel1-000000-000000".to_owned(), 1),
            ("cust01-000000-000000".to_owned(), 1),
            ("cust02-000000-000000".to_owned(), 2)
        ]
    );

    Mock::given(method("GET"))
        .and(path("/users/"))
        .respond_with(ok("<user><id>root00-000000-000000</id></user>".into()))
        .mount(&server)
        .await;
    let report = client.test_connection().await.unwrap();
    assert_eq!(report.account, root);
    assert_eq!(report.customer_accounts, 3);
}

#[tokio::test]
async fn connectors_of_every_kind_including_dsl_agents() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/users/5d67ai-hl7znb-f2ykpu/devices"))
        .and(query_param("all", "1"))
        .and(header("accept", "application/vnd.keepit.v4+xml"))
        .respond_with(ok(fixture("devices", "mixed.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let connectors = client.connectors(&account(), true).await.unwrap();
    assert_eq!(connectors.len(), 19);
    for kind in ConnectorKind::known() {
        assert!(
            connectors.iter().any(|connector| connector.kind == kind),
            "{kind:?} missing from the mixed fixture"
        );
    }
}

#[tokio::test]
async fn connector_edge_cases() {
    let cases: [(&str, usize); 6] = [
        ("single.xml", 1),
        ("empty.xml", 0),
        ("inaccessible-and-deleted.xml", 0),
        ("unknown-type.xml", 2),
        ("trailing-whitespace.xml", 0),
        ("device-element.xml", 0),
    ];
    for (case, minimum) in cases {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .respond_with(ok(fixture("devices", case)))
            .mount(&server)
            .await;
        let connectors = client
            .connectors(&account(), false)
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        assert!(connectors.len() >= minimum, "{case}");
        match case {
            "inaccessible-and-deleted.xml" => {
                assert!(
                    connectors.iter().any(|connector| !connector.accessible),
                    "{case}"
                );
                assert!(
                    connectors
                        .iter()
                        .any(|connector| connector.deletion_deadline.is_some()),
                    "{case}"
                );
                assert!(
                    connectors
                        .iter()
                        .all(|connector| !connector.state().is_active() || connector.accessible)
                );
            }
            "unknown-type.xml" => {
                assert!(
                    connectors.iter().any(|connector| connector.kind
                        == ConnectorKind::Other("slack-enterprise".into()))
                );
                assert!(connectors.iter().any(|connector| connector.kind
                    == ConnectorKind::Dsl(DslAgent::Other("figma".into()))));
            }
            "device-element.xml" => {
                let body = fixture("devices", case);
                let expected = body.matches("<cloud>").count() + body.matches("<device>").count();
                assert_eq!(
                    connectors.len(),
                    expected,
                    "{case}: <device> entries are listed too"
                );
            }
            "trailing-whitespace.xml" => {
                for connector in &connectors {
                    assert_eq!(connector.name, connector.name.trim());
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn health_with_reasons_known_and_unknown() {
    let cases = [
        ("healthy.xml", Health::Healthy, None),
        (
            "critical-badlogin.xml",
            Health::Critical,
            Some(HealthReason::BadLogin),
        ),
        (
            "unhealthy-nocheckin.xml",
            Health::Unhealthy,
            Some(HealthReason::NoCheckIn),
        ),
        (
            "capitalised.xml",
            Health::Critical,
            Some(HealthReason::QuotaViolated),
        ),
        (
            "unknown-value.xml",
            Health::Unknown,
            Some(HealthReason::Other("SOMETHINGNEW".into())),
        ),
    ];
    for (case, health, reason) in cases {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .and(path(
                "/users/5d67ai-hl7znb-f2ykpu/devices/sjoyv2-t978ok-rot9nv/health",
            ))
            .and(query_param("reason", "true"))
            .respond_with(ok(fixture("health", case)))
            .mount(&server)
            .await;
        let got = client
            .connector_health(&account(), &connector())
            .await
            .unwrap();
        assert_eq!(got.health, health, "{case}");
        if reason.is_some() || case != "healthy.xml" {
            assert_eq!(got.reason, reason, "{case}");
        }
    }
}

#[tokio::test]
async fn device_status_error_codes() {
    let cases = [
        ("login-error.xml", Some(ConnectorErrorCode::Login)),
        ("ok.xml", None),
        ("empty.xml", None),
        ("quota.xml", Some(ConnectorErrorCode::Quota)),
    ];
    for (case, code) in cases {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .respond_with(ok(fixture("device-status", case)))
            .mount(&server)
            .await;
        let status = client
            .connector_status(&account(), &connector())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.error_code(), code.as_ref(), "{case}");
    }
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("device-status", "login-error.xml")))
        .mount(&server)
        .await;
    let status = client
        .connector_status(&account(), &connector())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.current_status(), Some(5));
    assert_eq!(status.entries[0].objects_uploaded, Some(874));

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    assert_eq!(
        client
            .connector_status(&account(), &connector())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn latest_snapshot_shapes_and_404() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path_regex("/history/latest$"))
        .respond_with(ok(fixture("latest-snapshot", "partial.xml")))
        .mount(&server)
        .await;
    let snapshot = client
        .latest_snapshot(&account(), &connector())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.kind, SnapshotKind::Partial);
    assert_eq!(snapshot.size, Some(5_317_990_012));
    assert_eq!(
        snapshot.taken_at,
        Utc.with_ymd_and_hms(2026, 1, 7, 10, 2, 51).unwrap()
    );
    assert_eq!(
        snapshot.account.as_ref().map(|account| account.as_str()),
        Some("5d67ai-hl7znb-f2ykpu")
    );

    for case in ["complete.xml", "with-id.xml"] {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .respond_with(ok(fixture("latest-snapshot", case)))
            .mount(&server)
            .await;
        let snapshot = client
            .latest_snapshot(&account(), &connector())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            snapshot.kind == SnapshotKind::Complete,
            case == "complete.xml" || snapshot.kind == SnapshotKind::Complete
        );
        if case == "with-id.xml" {
            assert!(snapshot.id.is_some());
        }
    }

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path_regex("/history/latest_imported$"))
        .and(header("accept", "application/vnd.keepit.v1+xml"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        client
            .latest_imported_snapshot(&account(), &connector())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn snapshot_range_pages_until_a_short_page() {
    let (server, client) = setup().await;
    let page = |first_hour: i64, count: usize| {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut body = String::from("<history>");
        for index in 0..count {
            let time = start + chrono::Duration::minutes(first_hour * 60 + index as i64);
            body.push_str(&format!(
                "<backup><tstamp>{}</tstamp><type>c</type><size>1</size></backup>",
                time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        body.push_str("</history>");
        ok(body)
    };
    Mock::given(method("PUT"))
        .and(path_regex("/history/range$"))
        .and(body_string_contains("<start>2026-01-01T00:00:00Z</start>"))
        .respond_with(page(0, 99))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("/history/range$"))
        .and(body_string_contains("<start>2026-01-01T01:38:01Z</start>"))
        .respond_with(page(2, 5))
        .expect(1)
        .mount(&server)
        .await;
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let snapshots: Vec<_> = client
        .snapshots(account(), connector(), from, to)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(snapshots.len(), 104);
    assert!(
        snapshots
            .windows(2)
            .all(|pair| pair[0].taken_at < pair[1].taken_at)
    );

    for (case, expected) in [("page-full.xml", 3), ("page-last.xml", 1), ("empty.xml", 0)] {
        let (server, client) = setup().await;
        Mock::given(method("PUT"))
            .respond_with(ok(fixture("snapshot-range", case)))
            .mount(&server)
            .await;
        let page = client
            .snapshot_page(
                &account(),
                &connector(),
                from,
                std::time::Duration::from_secs(86_400),
                3,
            )
            .await
            .unwrap();
        assert_eq!(page.len(), expected, "{case}");
    }
}

#[tokio::test]
async fn backup_summary_at_account_level() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(
            "/users/5d67ai-hl7znb-f2ykpu/monitoring/backup/summary",
        ))
        .respond_with(ok(fixture("backup-summary", "two-devices.xml")))
        .mount(&server)
        .await;
    let summary = client.backup_summary(&account()).await.unwrap();
    assert_eq!(summary.len(), 2);
    assert!(
        summary
            .iter()
            .any(|entry| entry.last_complete_snapshot_at.is_none())
    );

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("backup-summary", "empty.xml")))
        .mount(&server)
        .await;
    assert!(client.backup_summary(&account()).await.unwrap().is_empty());

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    assert!(client.backup_summary(&account()).await.unwrap().is_empty());
}

#[tokio::test]
async fn job_history_decides_every_status() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path(
            "/users/5d67ai-hl7znb-f2ykpu/devices/sjoyv2-t978ok-rot9nv/jobs",
        ))
        .and(body_string_contains(
            "<from-time>2026-01-06T00:00:00Z</from-time>",
        ))
        .and(body_string_contains("<active-only>false</active-only>"))
        .respond_with(ok(fixture("jobs-history", "mixed.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let from = Utc.with_ymd_and_hms(2026, 1, 6, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap();
    let jobs = client
        .job_history(
            &account(),
            &connector(),
            &JobHistoryFilter::finished_between(from, to),
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 7);
    let now = to;
    let by_id = |id: &str| jobs.iter().find(|job| job.id.as_str() == id).unwrap();
    assert_eq!(
        by_id("s4jjbj-v4ylys-xxnjt1-sc508a").status(now),
        JobStatus::Successful
    );
    let failed = by_id("sd8031-4m4n13-mgrv28-bf7nfj");
    assert_eq!(
        failed.summary.as_deref(),
        Some("Authentication with the SaaS application failed")
    );
    assert_eq!(failed.status(now), JobStatus::Unsuccessful);
    assert_eq!(
        failed.failure_reason(now),
        Some(FailureReason::Known(ReasonCode::AuthenticationFailed))
    );
    assert_eq!(
        by_id("golsh0-4l69o0-1sc93v-x15dg2").status(now),
        JobStatus::Cancelled
    );
    assert_eq!(
        by_id("z4t5zk-1j98uy-p3osv1-dblom8").job_type,
        JobType::PstDownload
    );
    assert_eq!(
        by_id("zvdia7-fh4k74-yhy0bl-gd9puc").job_type,
        JobType::Other("pmrestore".into())
    );
}

#[tokio::test]
async fn job_history_edge_cases() {
    for (case, expected) in [
        ("single.xml", 1),
        ("empty.xml", 0),
        ("empty-self-closing.xml", 0),
        ("trailing-whitespace.xml", 1),
        ("escaped-execsummary.xml", 1),
        ("stats.xml", 2),
    ] {
        let (server, client) = setup().await;
        Mock::given(method("PUT"))
            .respond_with(ok(fixture("jobs-history", case)))
            .mount(&server)
            .await;
        let from = Utc.with_ymd_and_hms(2026, 1, 6, 0, 0, 0).unwrap();
        let jobs = client
            .job_history(
                &account(),
                &connector(),
                &JobHistoryFilter::finished_between(from, from),
            )
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        assert!(jobs.len() >= expected, "{case}: {} jobs", jobs.len());
        match case {
            "escaped-execsummary.xml" => {
                assert_eq!(
                    jobs[0].summary.as_deref(),
                    Some("Backup stopped: the R&D site could not be read")
                );
                assert_eq!(jobs[0].status(from), JobStatus::Incomplete);
            }
            "stats.xml" => {
                let Some(JobStatistics::Backup(backup)) = jobs[0].statistics else {
                    panic!("backup statistics expected")
                };
                assert_eq!(backup.added.count, 1843);
                assert_eq!(backup.skipped.bytes, 5_368_709_120);
                let Some(JobStatistics::Restore(restore)) = jobs[1].statistics else {
                    panic!("restore statistics expected")
                };
                assert_eq!(restore.restored.count, 640);
                assert_eq!(restore.skipped.count, 3);
                assert_eq!(
                    jobs[1].status(from),
                    JobStatus::Incomplete,
                    "a restore with skipped items is incomplete"
                );
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn job_history_windows_yield_each_job_once() {
    let (server, client) = setup().await;
    // Every window answers with the same job: it must come out once.
    Mock::given(method("PUT"))
        .respond_with(ok(fixture("jobs-history", "single.xml")))
        .expect(3)
        .mount(&server)
        .await;
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = from + chrono::Duration::days(3);
    let jobs: Vec<_> = client
        .job_history_windows(
            account(),
            connector(),
            from,
            to,
            std::time::Duration::from_secs(86_400),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
}

#[tokio::test]
async fn active_jobs_use_the_header_switch() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path_regex("/jobs$"))
        .and(header("active-jobs-only", "true"))
        .respond_with(ok(fixture("jobs-active", "one-running.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let jobs = client.active_jobs(&account(), &connector()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].active);
    assert_eq!(jobs[0].status(Utc::now()), JobStatus::InProgress);

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("jobs-active", "empty.xml")))
        .mount(&server)
        .await;
    assert!(
        client
            .active_jobs(&account(), &connector())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn one_job_with_its_report() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path_regex("/jobs/[a-z0-9-]+$"))
        .respond_with(ok(fixture("job", "restore-failed.xml")))
        .mount(&server)
        .await;
    let id = keepit_domain::JobId::new("aaaaaa-bbbbbb-cccccc-dddddd").unwrap();
    let job = client.job(&account(), &connector(), &id).await.unwrap();
    assert!(job.failed.is_some());
    assert!(job.summary.is_some());
    assert!(job.snapshot_time.is_some());
}

#[tokio::test]
async fn skipped_items_csv() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path("/users/5d67ai-hl7znb-f2ykpu/log/filter"))
        .and(header("accept", "text/csv"))
        .and(body_string_contains(
            "<arg>5t5l5t-z16rg0-w7vu0w-520qzz</arg>",
        ))
        .respond_with(ok(fixture("skipped-items", "restore.csv")))
        .mount(&server)
        .await;
    let job = keepit_domain::JobId::new("5t5l5t-z16rg0-w7vu0w-520qzz").unwrap();
    let started = Utc.with_ymd_and_hms(2026, 1, 7, 14, 0, 0).unwrap();
    let items = client
        .skipped_items(
            &account(),
            &job,
            started,
            started + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items[1].message.contains("Budget, draft v2.xlsx"),
        "quoted commas survive"
    );
    assert!(items.iter().all(|item| item.time.is_some()));

    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .respond_with(ok(fixture("skipped-items", "empty.csv")))
        .mount(&server)
        .await;
    assert!(
        client
            .skipped_items(&account(), &job, started, started)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn audit_pages_follow_next_offset_and_yield_each_record_once() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .and(path("/audit/filter/pretty"))
        .and(query_param("offset", "0"))
        .and(body_string_contains(
            "<account>5d67ai-hl7znb-f2ykpu</account>",
        ))
        .respond_with(ok(fixture("audit", "page1.xml")).insert_header("next-offset", "3"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/audit/filter/pretty"))
        .and(query_param("offset", "3"))
        .respond_with(ok(fixture("audit", "page2.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let query = AuditQuery::between(account(), from, from + chrono::Duration::days(14));
    let records: Vec<_> = client.audit_log(query, 3).try_collect().await.unwrap();
    assert_eq!(records.len(), 5);
    let mut keys: Vec<_> = records
        .iter()
        .map(|record| (record.time, record.message.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 5, "no record twice");
}

#[tokio::test]
async fn audit_edge_cases_and_categories() {
    for (case, expected) in [
        ("empty.xml", 0),
        ("single.xml", 1),
        ("unknown-elements.xml", 1),
        ("metadata-empty.xml", 3),
        ("categories.xml", 16),
    ] {
        let (server, client) = setup().await;
        Mock::given(method("PUT"))
            .respond_with(ok(fixture("audit", case)))
            .mount(&server)
            .await;
        let page = client
            .audit_page(
                &AuditQuery::between(account(), Utc::now(), Utc::now()),
                0,
                500,
            )
            .await
            .unwrap_or_else(|err| panic!("{case}: {err}"));
        assert!(
            page.records.len() >= expected,
            "{case}: {}",
            page.records.len()
        );
        assert_eq!(page.next_offset, None);
        if case == "categories.xml" {
            let categories: std::collections::HashSet<AuditCategory> = page
                .records
                .iter()
                .map(|record| record.category())
                .collect();
            for category in [
                AuditCategory::User,
                AuditCategory::Account,
                AuditCategory::Connector,
                AuditCategory::Connection,
                AuditCategory::Recovery,
                AuditCategory::Reporting,
                AuditCategory::Security,
                AuditCategory::Compliance,
                AuditCategory::Other,
            ] {
                assert!(categories.contains(&category), "{category} missing");
            }
        }
    }
}

#[tokio::test]
async fn malformed_and_non_xml_bodies_are_decode_errors_naming_the_endpoint() {
    for case in ["malformed.xml", "not-xml.html"] {
        let (server, client) = setup().await;
        Mock::given(method("GET"))
            .respond_with(ok(fixture("errors", case)))
            .mount(&server)
            .await;
        let error = client.connectors(&account(), false).await.unwrap_err();
        match &error {
            Error::Decode {
                endpoint, snippet, ..
            } => {
                assert_eq!(*endpoint, "GET /users/{a}/devices", "{case}");
                assert!(snippet.chars().count() <= 161, "{case}: snippet is short");
            }
            other => panic!("{case}: expected a decode error, got {other:?}"),
        }
        assert!(error.to_string().contains("GET /users/{a}/devices"));
    }
}

#[tokio::test]
async fn error_bodies_in_xml_and_plain_text() {
    let (server, client) = setup().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(409).set_body_string(fixture("errors", "running-job.xml")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let job = keepit_domain::JobId::new("aaaaaa-bbbbbb-cccccc-dddddd").unwrap();
    match client
        .cancel_job(&account(), &connector(), &job)
        .await
        .unwrap_err()
    {
        Error::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(status, 409);
            assert_eq!(code.as_deref(), Some("RUNNING_JOB"));
            assert!(message.contains("Another backup"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string("Bad things\nhappened to admin@contoso.example"),
        )
        .mount(&server)
        .await;
    match client.connectors(&account(), false).await.unwrap_err() {
        Error::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(status, 400);
            assert_eq!(code, None);
            assert_eq!(message, "Bad things happened to ***@***");
        }
        other => panic!("expected an API error, got {other:?}"),
    }

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_string(fixture("errors", "account-not-found.txt")),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        client.account(&account()).await,
        Err(Error::NotFound {
            endpoint: "GET /users/{a}"
        })
    ));
}

#[tokio::test]
async fn wrong_shapes_in_fields_that_matter_are_decode_errors() {
    let (server, client) = setup().await;
    Mock::given(method("PUT")).respond_with(ok("<jobs><job><guid>abc-def</guid><type>backup</type><started>yesterday</started></job></jobs>".into())).mount(&server).await;
    let from = Utc::now();
    let error = client
        .job_history(
            &account(),
            &connector(),
            &JobHistoryFilter::finished_between(from, from),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Decode { reason, .. } if reason.contains("<started>") && reason.contains("yesterday")),
        "{error}"
    );

    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .respond_with(ok(
            "<devices><cloud><name>No id</name><type>gsuite</type></cloud></devices>".into(),
        ))
        .mount(&server)
        .await;
    let error = client.connectors(&account(), false).await.unwrap_err();
    assert!(
        matches!(&error, Error::Decode { reason, .. } if reason.contains("<guid>")),
        "{error}"
    );
}
