//! Tests of a served fleet over HTTP: every endpoint against the ground truth.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{
    AccountId, BackupStatistics, ConnectorKind, JobObservation, JobStatistics, JobStatus, JobType,
    RestoreStatistics, Volume, decide_status,
};

use crate::test_support::{Http, http, well_formed};
use crate::xml::{self, Element, timestamp};
use crate::*;

const V4: (&str, &str) = ("accept", "application/vnd.keepit.v4+xml");

async fn served(spec: &FleetSpec) -> (MockKeepit, FleetServer, Http) {
    let fleet = Fleet::generate(spec).expect("valid spec");
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    let caller = http(&mock);
    (mock, served, caller)
}

fn parse(body: &str) -> Element {
    xml::parse(body.as_bytes()).unwrap_or_else(|error| panic!("{error}: {body}"))
}

/// The text of `field` in every `item` child of the root.
fn column(root: &Element, item: &str, field: &str) -> Vec<String> {
    root.children
        .iter()
        .filter(|child| child.name == item)
        .map(|child| child.child_text(field).unwrap_or_default().to_owned())
        .collect()
}

fn time(raw: &str) -> DateTime<Utc> {
    xml::parse_time(raw).unwrap_or_else(|| panic!("not a time: {raw}"))
}

#[tokio::test]
async fn whoami_and_account_settings_come_from_the_tree() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let whoami = parse(&caller.get("/users/").await.body);
    assert_eq!(whoami.child_text("id"), Some(truth.parent.as_str()));

    let top = parse(&caller.get(&format!("/users/{}", truth.parent)).await.body);
    assert_eq!(top.child_text("parent"), None);
    let customer = truth.customers().next().unwrap();
    let settings = parse(&caller.get(&format!("/users/{}", customer.id)).await.body);
    assert_eq!(
        settings.child_text("parent"),
        customer.parent.as_ref().map(AccountId::as_str)
    );
    assert_eq!(
        settings.child_text("created"),
        Some(timestamp(customer.created).as_str())
    );

    let unknown = caller.get("/users/nobody-000000-000000").await;
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, "Account not found.")
    );
    let unknown_path = caller.get("/users/nobody-000000-000000/whatever").await;
    assert_eq!(unknown_path.status, 404);
    let elsewhere = caller.get("/other/path").await;
    assert_eq!(elsewhere.status, 404);
    assert!(
        elsewhere.body.contains("GET /other/path"),
        "the catch-all names it"
    );
}

#[tokio::test]
async fn child_accounts_follow_the_accept_version_and_404_when_there_are_none() {
    let (mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let parent = truth.account(&truth.parent).unwrap();
    let path = format!("/users/{}/users", parent.id);
    let expected: Vec<String> = parent.children.iter().map(ToString::to_string).collect();

    let v1 = parse(
        &caller
            .get_with(&path, &[("accept", "application/vnd.keepit.v1+xml")])
            .await
            .body,
    );
    assert_eq!(column(&v1, "user", "id"), expected);
    let names: Vec<String> = parent
        .children
        .iter()
        .map(|id| truth.account(id).unwrap().company_name.clone())
        .collect();
    assert_eq!(column(&v1, "user", "company_name"), names);
    assert!(
        column(&v1, "user", "parent_id")
            .iter()
            .all(|p| p == parent.id.as_str())
    );

    let v0 = parse(&caller.get(&path).await.body);
    let ids: Vec<String> = v0
        .children
        .iter()
        .map(|child| child.text.trim().to_owned())
        .collect();
    assert_eq!(ids, expected);

    let v3 = caller
        .get_with(
            &format!("{path}?all=1&include_contact_details=1"),
            &[("accept", "application/vnd.keepit.v3")],
        )
        .await;
    assert_eq!(
        v3.header("x-total-count"),
        Some(expected.len().to_string().as_str())
    );
    let v3 = parse(&v3.body);
    let companies: Vec<String> = v3
        .children
        .iter()
        .map(|user| {
            user.child("contact")
                .unwrap()
                .child_text("companyname")
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(companies, names);

    let customer = truth.customers().next().unwrap();
    let none = caller.get(&format!("/users/{}/users", customer.id)).await;
    assert_eq!(
        (none.status, none.body),
        (404, fixture("errors", "not-found"))
    );

    // Walking the tree from the top finds every account once.
    let mut seen = vec![truth.parent.to_string()];
    let mut index = 0;
    while index < seen.len() {
        let answer = caller
            .get_with(
                &format!("/users/{}/users", seen[index]),
                &[("accept", "application/vnd.keepit.v1+xml")],
            )
            .await;
        if answer.status == 200 {
            seen.extend(column(&parse(&answer.body), "user", "id"));
        }
        index += 1;
    }
    let all: Vec<String> = truth.accounts.iter().map(|a| a.id.to_string()).collect();
    assert_eq!(seen.len(), all.len());
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        all.iter().collect::<HashSet<_>>()
    );
    assert_eq!(
        mock.accept_headers("GET /users/{a}/users"),
        // reqwest sends `*/*` when no Accept header is set.
        [
            "application/vnd.keepit.v1+xml",
            "*/*",
            "application/vnd.keepit.v3"
        ]
    );
}

#[tokio::test]
async fn devices_hide_deletion_pending_connectors_unless_all_is_asked_for() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let mut saw_hidden = false;
    let mut saw_agent = false;
    for customer in truth.customers() {
        let path = format!("/users/{}/devices", customer.id);
        let listed = column(
            &parse(&caller.get_with(&path, &[V4]).await.body),
            "cloud",
            "guid",
        );
        let all = parse(&caller.get_with(&format!("{path}?all=1"), &[V4]).await.body);
        let connectors: Vec<&TruthConnector> = customer
            .connectors
            .iter()
            .map(|id| truth.connector(id).unwrap())
            .collect();
        let active: Vec<String> = connectors
            .iter()
            .filter(|c| c.deletion_deadline.is_none())
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(listed, active);
        assert_eq!(
            column(&all, "cloud", "guid"),
            connectors
                .iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
        );
        saw_hidden |= listed.len() < connectors.len();
        for (cloud, connector) in all.children.iter().zip(&connectors) {
            let kind = ConnectorKind::from_wire(
                cloud.child_text("type").unwrap(),
                cloud.child_text("agent-type"),
            );
            assert_eq!(kind, connector.kind);
            assert_eq!(cloud.child_text("name"), Some(connector.name.as_str()));
            assert_eq!(
                cloud.child_text("accessible") == Some("true"),
                connector.accessible
            );
            assert_eq!(
                cloud.child_text("deletion-deadline").map(time),
                connector.deletion_deadline
            );
            saw_agent |= cloud.child_text("agent-type").is_some();
        }
        // Without v4 there is no agent-type, as Keepit's older versions.
        let old = caller.get(&format!("{path}?all=1")).await.body;
        assert!(!old.contains("<agent-type>"));
    }
    assert!(saw_hidden && saw_agent);
}

#[tokio::test]
async fn connector_endpoints_serve_the_truth() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    for connector in &truth.connectors {
        let base = format!("/users/{}/devices/{}", connector.account, connector.id);
        let health = parse(
            &caller
                .get_with(&format!("{base}/health?reason=true"), &[V4])
                .await
                .body,
        );
        assert_eq!(health.child_text("health"), Some(connector.health.as_str()));
        assert_eq!(
            health.child_text("reason"),
            Some(connector.health_reason.as_str())
        );
        let bare = parse(&caller.get(&format!("{base}/health")).await.body);
        assert_eq!(bare.child_text("reason"), None);

        let status = parse(&caller.get(&format!("{base}/status")).await.body);
        let entries: Vec<&Element> = status.children.iter().collect();
        let first_ecode = entries[0]
            .child("adata")
            .and_then(|adata| adata.child_text("ecode"));
        assert_eq!(first_ecode, connector.ecode.as_deref());
        let last = entries.last().unwrap();
        assert_eq!(
            last.child_text("status"),
            Some(connector.status_code.to_string().as_str())
        );

        let latest = caller.get(&format!("{base}/history/latest")).await;
        match connector.latest_snapshot() {
            Some(snapshot) => {
                let backup = parse(&latest.body);
                let backup = backup.child("backup").unwrap();
                assert_eq!(backup.child_text("tstamp").map(time), Some(snapshot.tstamp));
                assert_eq!(backup.child_text("root"), Some(snapshot.root.as_str()));
                assert_eq!(backup.child_text("type"), Some(snapshot.kind.as_str()));
                assert_eq!(
                    backup.child_text("size"),
                    Some(snapshot.size.to_string().as_str())
                );
                assert_eq!(
                    backup.child_text("account"),
                    Some(connector.account.as_str())
                );
            }
            None => assert_eq!(latest.status, 404),
        }
    }
    let never = truth
        .connectors
        .iter()
        .find(|c| c.scenario == ConnectorScenario::InitialConfigurationPending)
        .unwrap();
    let answer = caller
        .get(&format!(
            "/users/{}/devices/{}/history/latest",
            never.account, never.id
        ))
        .await;
    assert_eq!(answer.status, 404);
    // A connector asked for under another account does not exist there.
    let connector = &truth.connectors[0];
    let other = truth
        .customers()
        .find(|a| a.id != connector.account)
        .unwrap();
    let wrong = caller
        .get(&format!(
            "/users/{}/devices/{}/health",
            other.id, connector.id
        ))
        .await;
    assert_eq!(
        (wrong.status, wrong.body.as_str()),
        (404, "Requested resource not found")
    );
}

#[tokio::test]
async fn the_backup_summary_has_one_device_per_connector_with_a_snapshot() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    for customer in truth.customers() {
        let summary = parse(
            &caller
                .get(&format!("/users/{}/monitoring/backup/summary", customer.id))
                .await
                .body,
        );
        let expected: Vec<&TruthConnector> = customer
            .connectors
            .iter()
            .map(|id| truth.connector(id).unwrap())
            .filter(|c| c.accessible && c.deletion_deadline.is_none() && !c.snapshots.is_empty())
            .collect();
        assert_eq!(
            column(&summary, "device", "guid"),
            expected
                .iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
        );
        for (device, connector) in summary.children.iter().zip(expected) {
            let latest = connector.latest_snapshot().unwrap();
            assert_eq!(
                device.child_text("last-snapshot-time").map(time),
                Some(latest.tstamp)
            );
            assert_eq!(
                device.child_text("last-complete-snapshot-time").map(time),
                connector.last_success()
            );
        }
    }
}

#[tokio::test]
async fn per_connector_monitoring_summaries_follow_the_backups() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    for connector in truth.connectors.iter().take(20) {
        let base = format!(
            "/users/{}/devices/{}/monitoring",
            connector.account, connector.id
        );
        let summary = caller.get(&format!("{base}/backup/summary")).await;
        match connector.latest_snapshot() {
            Some(latest) => {
                let summary = parse(&summary.body);
                assert_eq!(
                    summary.child_text("last-snapshot-time").map(time),
                    Some(latest.tstamp)
                );
            }
            None => assert_eq!(summary.status, 404),
        }
        let from = truth.now - TimeDelta::days(3);
        let window = format!(
            "{base}/summary?from={}&to={}",
            timestamp(from),
            timestamp(truth.now)
        );
        let changes = parse(&caller.get(&window).await.body);
        let added: u64 = truth
            .jobs_of(&connector.id)
            .iter()
            .filter(|job| *job.job_type() == JobType::Backup)
            .filter(|job| {
                job.ended_at()
                    .is_some_and(|end| end >= from && end < truth.now)
            })
            .filter_map(|job| match job.statistics() {
                Some(JobStatistics::Backup(stats)) => Some(stats.added.count),
                _ => None,
            })
            .sum();
        let counted = changes.child("count").unwrap().child_text("added").unwrap();
        assert_eq!(counted, added.to_string());
    }
}

#[tokio::test]
async fn snapshot_ranges_page_by_restarting_after_the_last_tstamp() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let connector = truth
        .connectors
        .iter()
        .filter(|c| c.scenario == ConnectorScenario::Healthy)
        .max_by_key(|c| c.snapshots.len())
        .unwrap();
    let path = format!(
        "/users/{}/devices/{}/history/range",
        connector.account, connector.id
    );
    let mut start = truth.now - TimeDelta::days(20);
    let mut collected = Vec::new();
    loop {
        let body = format!(
            "<range><start>{}</start><span>P30D</span><count>3</count></range>",
            timestamp(start)
        );
        let page = parse(&caller.put(&path, &body).await.body);
        let tstamps: Vec<DateTime<Utc>> = column(&page, "backup", "tstamp")
            .iter()
            .map(|t| time(t))
            .collect();
        collected.extend(tstamps.iter().copied());
        if tstamps.len() < 3 {
            break;
        }
        start = *tstamps.last().unwrap() + TimeDelta::seconds(1);
    }
    let expected: Vec<DateTime<Utc>> = connector.snapshots.iter().map(|s| s.tstamp).collect();
    assert_eq!(collected, expected);

    let reverse = format!(
        "<range><start>{}</start><span>P2D</span><count>1</count><reverse/></range>",
        timestamp(truth.now)
    );
    let newest = parse(&caller.put(&path, &reverse).await.body);
    assert_eq!(
        column(&newest, "backup", "tstamp"),
        [timestamp(connector.latest_snapshot().unwrap().tstamp)]
    );

    let count_path = path.replace("/range", "/count");
    let count = format!(
        "<range><start>{}</start><span>P30D</span></range>",
        timestamp(truth.now - TimeDelta::days(20))
    );
    let counted = parse(&caller.put(&count_path, &count).await.body);
    assert_eq!(
        counted.child_text("count"),
        Some(expected.len().to_string().as_str())
    );

    for bad in [
        "<range><start>2026-01-01T00:00:00Z</start><span>P1D</span><count>100</count></range>",
        "<range><span>P1D</span><count>5</count></range>",
        "<range><start>2026-01-01T00:00:00Z</start><span>one day</span><count>5</count></range>",
        "<filter/>",
        "<range><start>",
    ] {
        let answer = caller.put(&path, bad).await;
        assert_eq!(answer.status, 400, "{bad}");
        let error = parse(&answer.body);
        assert_eq!(error.name, "error");
        assert_eq!(error.child_text("code"), Some("BAD_REQUEST"));
    }
}

/// Rebuilds what the domain needs from a served `<job>`, as a client would.
fn observation_of(job: &Element) -> JobObservation {
    let at = |name: &str| job.child_text(name).map(time);
    let mut observation = JobObservation::new(JobType::from_wire(job.child_text("type").unwrap()));
    observation.active = job.child_text("active") == Some("true");
    observation.scheduled = at("scheduled");
    observation.start = at("start");
    observation.started = at("started");
    observation.succeeded = at("succeeded");
    observation.failed = at("failed");
    observation.cancelled = at("cancelled");
    observation.progress = job.child_text("progress").map(|p| p.parse().unwrap());
    if let Some(stats) = job.child("stats") {
        let value = |name: &str| {
            stats
                .children
                .iter()
                .find(|stat| stat.child_text("name") == Some(name))
                .and_then(|stat| stat.child_text("value"))
                .map(|value| value.parse::<u64>().unwrap())
                .unwrap_or(0)
        };
        let volume = |prefix: &str| Volume {
            count: value(&format!("{prefix}-count")),
            bytes: value(&format!("{prefix}-size")),
        };
        let restore = stats
            .children
            .iter()
            .any(|stat| stat.child_text("name") == Some("restored-count"));
        observation.statistics = Some(if restore {
            JobStatistics::Restore(RestoreStatistics {
                restored: volume("restored"),
                overwritten: volume("overwritten"),
                skipped: volume("skipped"),
            })
        } else {
            JobStatistics::Backup(BackupStatistics {
                added: volume("added"),
                removed: volume("removed"),
                skipped: volume("skipped"),
            })
        });
    }
    // The execution summary is escaped XML inside the element's text.
    observation.failure_summary = job
        .child_text("execsummary")
        .map(|inner| parse(inner).child_text("summary").unwrap().to_owned());
    observation
}

#[tokio::test]
async fn served_jobs_carry_everything_their_status_is_decided_from() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let from = timestamp(truth.now - TimeDelta::days(30));
    let mut statuses = BTreeSet::new();
    for connector in &truth.connectors {
        let path = format!("/users/{}/devices/{}/jobs", connector.account, connector.id);
        let body = format!("<filter><from-time>{from}</from-time></filter>");
        let jobs = parse(
            &caller
                .send("PUT", &path, &[V4], Some(&body))
                .await
                .unwrap()
                .body,
        );
        let served_ids = column(&jobs, "job", "guid");
        let expected = truth.jobs_of(&connector.id);
        assert_eq!(
            served_ids,
            expected
                .iter()
                .map(|j| j.id.to_string())
                .collect::<Vec<_>>()
        );
        for (element, job) in jobs.children.iter().zip(expected) {
            let observation = observation_of(element);
            assert_eq!(observation, job.observation, "{}", job.id);
            assert_eq!(decide_status(&observation, truth.now), job.status);
            assert_eq!(
                element.child_text("description"),
                Some(job.description.as_str())
            );
            statuses.insert(job.status);
        }
    }
    assert_eq!(statuses, JobStatus::ALL.into_iter().collect());
}

#[tokio::test]
async fn job_history_windows_partition_the_finished_jobs() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let window_start = truth.now - TimeDelta::days(15);
    for connector in truth
        .connectors
        .iter()
        .filter(|c| !truth.jobs_of(&c.id).is_empty())
        .take(8)
    {
        let path = format!("/users/{}/devices/{}/jobs", connector.account, connector.id);
        let query = |from: DateTime<Utc>, to: DateTime<Utc>, extra: &str| {
            format!(
                "<filter><from-time>{}</from-time><to-time>{}</to-time>{extra}</filter>",
                timestamp(from),
                timestamp(to)
            )
        };
        let finished: Vec<String> = truth
            .jobs_of(&connector.id)
            .iter()
            .filter(|job| job.is_finished())
            .map(|job| job.id.to_string())
            .collect();
        let whole = parse(
            &caller
                .put(
                    &path,
                    &query(window_start, truth.now, "<active-only>false</active-only>"),
                )
                .await
                .body,
        );
        assert_eq!(column(&whole, "job", "guid"), finished);
        // Day-sized chunks see every finished job exactly once.
        let mut chunked = Vec::new();
        let mut from = window_start;
        while from < truth.now {
            let to = (from + TimeDelta::days(1)).min(truth.now);
            let chunk = parse(
                &caller
                    .put(&path, &query(from, to, "<active-only>false</active-only>"))
                    .await
                    .body,
            );
            chunked.extend(column(&chunk, "job", "guid"));
            from = to;
        }
        assert_eq!(chunked, finished);

        let unfinished: Vec<String> = truth
            .jobs_of(&connector.id)
            .iter()
            .filter(|job| !job.is_finished())
            .map(|job| job.id.to_string())
            .collect();
        let active = parse(
            &caller
                .put(
                    &path,
                    &query(window_start, truth.now, "<active-only>true</active-only>"),
                )
                .await
                .body,
        );
        assert_eq!(column(&active, "job", "guid"), unfinished);
        let running = parse(
            &caller
                .get_with(&path, &[("active-jobs-only", "true"), V4])
                .await
                .body,
        );
        assert_eq!(column(&running, "job", "guid"), unfinished);

        let limited = parse(
            &caller
                .put(
                    &path,
                    &query(
                        window_start,
                        truth.now,
                        "<active-only>false</active-only><limit>2</limit><reverse/>",
                    ),
                )
                .await
                .body,
        );
        let newest_two: Vec<String> = finished.iter().rev().take(2).cloned().collect();
        assert_eq!(column(&limited, "job", "guid"), newest_two);

        if let Some(first) = finished.first() {
            let one = caller.get_with(&format!("{path}/{first}"), &[V4]).await;
            assert_eq!(parse(&one.body).child_text("guid"), Some(first.as_str()));
        }
    }
    let connector = &truth.connectors[0];
    let path = format!("/users/{}/devices/{}/jobs", connector.account, connector.id);
    assert_eq!(
        caller
            .get(&format!("{path}/nojob0-000000-000000-000000"))
            .await
            .status,
        404
    );
    assert_eq!(
        caller
            .put(
                &path,
                "<filter><to-time>2026-01-01T00:00:00Z</to-time></filter>"
            )
            .await
            .status,
        400
    );
    assert_eq!(
        caller
            .put(&path, "<filter><from-time>soon</from-time></filter>")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn cancelling_a_running_job_is_recorded_and_takes_effect() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let job = truth
        .jobs
        .iter()
        .find(|job| job.status == JobStatus::InProgress)
        .unwrap();
    let path = format!(
        "/users/{}/devices/{}/jobs/{}",
        job.account, job.connector, job.id
    );
    let at = truth.now;
    let answer = caller
        .put(
            &path,
            &format!("<job><cancelled>{}</cancelled></job>", timestamp(at)),
        )
        .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    assert_eq!(
        served.cancellations(),
        [Cancellation {
            job: job.id.clone(),
            at,
            took_effect: true
        }]
    );
    assert_eq!(
        served.ground_truth().job(&job.id).unwrap().status,
        JobStatus::Cancelled
    );
    let served_job = parse(&caller.get(&path).await.body);
    assert_eq!(served_job.child_text("cancelled").map(time), Some(at));
    assert_eq!(served_job.child_text("active"), Some("false"));

    let finished = truth
        .jobs
        .iter()
        .find(|job| job.status == JobStatus::Successful)
        .unwrap();
    let finished_path = format!(
        "/users/{}/devices/{}/jobs/{}",
        finished.account, finished.connector, finished.id
    );
    assert_eq!(caller.put(&finished_path, "").await.status, 200);
    assert!(!served.cancellations()[1].took_effect);
    assert_eq!(caller.put(&finished_path, "<job>").await.status, 400);
    let unknown = format!(
        "/users/{}/devices/{}/jobs/nojob0-000000-000000-000000",
        job.account, job.connector
    );
    assert_eq!(caller.put(&unknown, "").await.status, 404);
}

#[tokio::test]
async fn skipped_items_are_served_as_csv_for_the_job_in_the_predicate() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let job = truth
        .jobs
        .iter()
        .find(|job| job.skipped_count() > 0)
        .unwrap();
    let predicate = |id: &str| {
        format!(
            "<and><contains><arg>job</arg><arg>{id}</arg></contains><equal><arg>path</arg><arg>/uservisiblemsg</arg></equal></and>"
        )
    };
    let path = format!("/users/{}/log/filter", job.account);
    let answer = caller
        .send(
            "PUT",
            &path,
            &[("accept", "text/csv")],
            Some(&predicate(job.id.as_str())),
        )
        .await
        .unwrap();
    assert_eq!(answer.header("content-type"), Some("text/csv"));
    let items = served.with_fleet(|fleet| fleet.skipped_items(&job.id));
    assert!(!items.is_empty());
    let mut lines = answer.body.lines();
    assert_eq!(lines.next(), Some("time,account,device,job,message"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(&items) {
        assert!(row.starts_with(&format!(
            "{},{},{},{},",
            timestamp(item.time),
            item.account,
            item.device,
            item.job
        )));
        let message = &row[row.match_indices(',').nth(3).unwrap().0 + 1..];
        let unquoted = if message.starts_with('"') {
            message[1..message.len() - 1].replace("\"\"", "\"")
        } else {
            message.to_owned()
        };
        assert_eq!(unquoted, item.message);
    }
    let clean = truth
        .jobs
        .iter()
        .find(|j| j.skipped_count() == 0 && j.account == job.account)
        .unwrap();
    let empty = caller.put(&path, &predicate(clean.id.as_str())).await;
    assert_eq!(empty.body, "time,account,device,job,message\n");
    let elsewhere = truth.customers().find(|a| a.id != job.account).unwrap();
    let other = caller
        .put(
            &format!("/users/{}/log/filter", elsewhere.id),
            &predicate(job.id.as_str()),
        )
        .await;
    assert_eq!(
        other.body, "time,account,device,job,message\n",
        "a job of another account"
    );
    assert_eq!(caller.put(&path, "<and>").await.status, 400);
}

async fn drain_audit(caller: &Http, filter: &str, limit: usize) -> (Vec<Element>, usize) {
    let mut records = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let answer = caller
            .send(
                "PUT",
                &format!("/audit/filter/pretty?limit={limit}&offset={offset}"),
                &[V4],
                Some(filter),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        pages += 1;
        records.extend(parse(&answer.body).children);
        match answer.header("next-offset") {
            Some(next) => offset = next.parse().unwrap(),
            None => break,
        }
    }
    (records, pages)
}

fn same_events(records: &[Element], events: &[&TruthAuditEvent]) {
    assert_eq!(records.len(), events.len());
    for (record, event) in records.iter().zip(events) {
        assert_eq!(record.child_text("time").map(time), Some(event.time));
        assert_eq!(record.child_text("account"), Some(event.account.as_str()));
        assert_eq!(record.child_text("company"), Some(event.company.as_str()));
        assert_eq!(record.child_text("token"), Some(event.token.as_str()));
        assert_eq!(record.child_text("message"), Some(event.message.as_str()));
        assert_eq!(
            record.child_text("device"),
            event.device.as_ref().map(|d| d.as_str())
        );
        let metadata: Vec<(String, String)> = record
            .child("metadata")
            .unwrap()
            .children
            .iter()
            .map(|p| {
                (
                    p.child_text("key").unwrap().to_owned(),
                    p.child_text("value").unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(metadata, event.metadata);
    }
}

#[tokio::test]
async fn audit_paging_yields_every_record_once_oldest_first() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let from = truth.now - TimeDelta::days(14);
    let window = |account: &AccountId, recursive: bool| {
        format!(
            "<filter><account>{account}</account><from>{}</from><to>{}</to><recursive>{recursive}</recursive></filter>",
            timestamp(from),
            timestamp(truth.now + TimeDelta::seconds(1))
        )
    };
    let everything: Vec<&TruthAuditEvent> = truth
        .audit_events_of(&truth.parent, true)
        .into_iter()
        .filter(|e| e.time >= from)
        .collect();
    let (records, pages) = drain_audit(&caller, &window(&truth.parent, true), 97).await;
    assert_eq!(pages, everything.len().div_ceil(97));
    same_events(&records, &everything);

    let customer = truth.customers().nth(2).unwrap();
    let own: Vec<&TruthAuditEvent> = truth
        .audit_events_of(&customer.id, false)
        .into_iter()
        .filter(|e| e.time >= from)
        .collect();
    let (records, _) = drain_audit(&caller, &window(&customer.id, false), 10).await;
    same_events(&records, &own);

    // A reseller's recursive log holds its own events and its customers'.
    let reseller = truth
        .accounts
        .iter()
        .find(|a| a.role == AccountRole::SubPartner)
        .unwrap();
    let subtree: Vec<&TruthAuditEvent> = truth
        .audit_events_of(&reseller.id, true)
        .into_iter()
        .filter(|e| e.time >= from)
        .collect();
    let (records, _) = drain_audit(&caller, &window(&reseller.id, true), 500).await;
    same_events(&records, &subtree);
    let (not_recursive, _) = drain_audit(&caller, &window(&reseller.id, false), 500).await;
    assert!(not_recursive.len() < records.len());

    // The window is [from, to): an event exactly at `to` belongs to the next window.
    let first = everything[0];
    let narrow = format!(
        "<filter><account>{}</account><from>{}</from><to>{}</to><recursive>true</recursive></filter>",
        truth.parent,
        timestamp(first.time),
        timestamp(first.time)
    );
    let (empty, _) = drain_audit(&caller, &narrow, 50).await;
    assert!(empty.is_empty());

    let area = format!(
        "<filter><account>{}</account><area>User events</area><recursive>true</recursive></filter>",
        truth.parent
    );
    let (users, _) = drain_audit(&caller, &area, 500).await;
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|r| r.child_text("area") == Some("User events"))
    );

    let unknown = caller
        .put(
            "/audit/filter/pretty",
            "<filter><account>nobody-000000-000000</account></filter>",
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        caller
            .put("/audit/filter/pretty?limit=0", "<filter/>")
            .await
            .status,
        400
    );
    assert_eq!(
        caller
            .put("/audit/filter/pretty", "<filter><from>then</from></filter>")
            .await
            .status,
        400
    );
}

/// Paths that exercise every read endpoint of a fleet.
fn tour(truth: &GroundTruth) -> Vec<(&'static str, String, Option<String>)> {
    let mut out = vec![("GET", "/users/".to_owned(), None)];
    let from = timestamp(truth.now - TimeDelta::days(15));
    for account in truth.accounts.iter().take(12) {
        out.push(("GET", format!("/users/{}", account.id), None));
        out.push(("GET", format!("/users/{}/users", account.id), None));
        out.push(("GET", format!("/users/{}/devices?all=1", account.id), None));
        out.push((
            "GET",
            format!("/users/{}/monitoring/backup/summary", account.id),
            None,
        ));
        for connector in account.connectors.iter().take(3) {
            let base = format!("/users/{}/devices/{connector}", account.id);
            out.push(("GET", format!("{base}/health?reason=true"), None));
            out.push(("GET", format!("{base}/status"), None));
            out.push(("GET", format!("{base}/history/latest"), None));
            out.push(("GET", format!("{base}/jobs"), None));
            out.push((
                "PUT",
                format!("{base}/jobs"),
                Some(format!("<filter><from-time>{from}</from-time></filter>")),
            ));
            out.push((
                "PUT",
                format!("{base}/history/range"),
                Some(format!(
                    "<range><start>{from}</start><span>P30D</span><count>50</count></range>"
                )),
            ));
        }
    }
    out.push((
        "PUT",
        "/audit/filter/pretty?limit=200".to_owned(),
        Some(format!(
            "<filter><account>{}</account><recursive>true</recursive></filter>",
            truth.parent
        )),
    ));
    out
}

#[tokio::test]
async fn the_same_seed_serves_the_same_bytes_and_every_body_is_well_formed() {
    let spec = FleetSpec::seeded(99);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (mock, served, caller) = served(&spec).await;
        let truth = served.ground_truth();
        let mut bodies = Vec::new();
        for (method, path, body) in tour(&truth) {
            let answer = caller
                .send(method, &path, &[V4], body.as_deref())
                .await
                .unwrap();
            if answer.header("content-type") == Some("application/xml") {
                assert!(
                    well_formed(&answer.body),
                    "{method} {path}: {}",
                    answer.body
                );
            }
            bodies.push((
                answer.status,
                answer.header("next-offset").map(str::to_owned),
                answer.body,
            ));
        }
        assert!(mock.unmatched_requests().is_empty());
        runs.push(bodies);
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn changes_between_two_syncs_show_up_in_the_next_queries() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let before = served.ground_truth();
    let customer = before
        .customers()
        .find(|c| !c.connectors.is_empty())
        .unwrap()
        .clone();
    let connector = before.connector(&customer.connectors[0]).unwrap().clone();
    let last_sync = before.now;

    served.advance_clock(Duration::from_secs(3_600));
    let job = served
        .push_job(&connector.id, JobOutcome::backup(JobStatus::Successful))
        .unwrap();
    let events = served.push_audit_events(&customer.id, 4).unwrap();
    let added = served
        .add_connector(
            &customer.id,
            ConnectorKind::Dsl(keepit_domain::DslAgent::Okta),
        )
        .unwrap();
    let removed = customer.connectors.last().unwrap().clone();
    served.remove_connector(&removed).unwrap();

    let jobs_path = format!("/users/{}/devices/{}/jobs", customer.id, connector.id);
    let since = format!(
        "<filter><from-time>{}</from-time><active-only>false</active-only></filter>",
        timestamp(last_sync)
    );
    let new_jobs = parse(&caller.put(&jobs_path, &since).await.body);
    assert_eq!(column(&new_jobs, "job", "guid"), [job.id.to_string()]);

    let audit = format!(
        "<filter><account>{}</account><from>{}</from></filter>",
        customer.id,
        timestamp(last_sync)
    );
    let (records, _) = drain_audit(&caller, &audit, 100).await;
    assert_eq!(records.len(), 4);
    assert_eq!(
        column(
            &Element {
                children: records,
                ..Element::default()
            },
            "record",
            "message"
        ),
        events.iter().map(|e| e.message.clone()).collect::<Vec<_>>()
    );

    let devices = parse(
        &caller
            .get(&format!("/users/{}/devices?all=1", customer.id))
            .await
            .body,
    );
    let listed = column(&devices, "cloud", "guid");
    assert!(listed.contains(&added.to_string()));
    assert!(!listed.contains(&removed.to_string()));
    let gone = caller
        .get(&format!("/users/{}/devices/{removed}/health", customer.id))
        .await;
    assert_eq!(gone.status, 404);

    let latest = parse(
        &caller
            .get(&format!(
                "/users/{}/devices/{}/history/latest",
                customer.id, connector.id
            ))
            .await
            .body,
    );
    assert_eq!(
        latest
            .child("backup")
            .unwrap()
            .child_text("tstamp")
            .map(time),
        job.observation.succeeded
    );
    let after = served.ground_truth();
    assert_eq!(after.now, last_sync + TimeDelta::hours(1));
    assert!(after.job(&job.id).is_some());
}

#[tokio::test]
async fn fleet_requests_are_counted_and_can_be_faulted_per_account() {
    let (mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let customers: Vec<&TruthAccount> = truth.customers().take(3).collect();
    mock.set_faults(
        Faults::none()
            .with_malformed_xml_for(customers[0].id.clone())
            .with_unauthorized_for(customers[1].id.clone()),
    );
    let broken = caller
        .get(&format!("/users/{}/devices", customers[0].id))
        .await;
    assert_eq!(broken.status, 200);
    assert!(!well_formed(&broken.body));
    let denied = caller
        .get(&format!("/users/{}/devices", customers[1].id))
        .await;
    assert_eq!(denied.status, 401);
    let fine = caller
        .get(&format!("/users/{}/devices", customers[2].id))
        .await;
    assert!(well_formed(&fine.body));
    caller.get("/users/").await;
    let refused = caller
        .as_user(Some("someone@else.example"), "nope")
        .get("/users/")
        .await;
    assert_eq!(refused.status, 401);

    let stats = mock.request_stats();
    assert_eq!(stats.total, 5);
    assert_eq!(stats.by_endpoint.get("GET /users/{a}/devices"), Some(&3));
    assert_eq!(stats.by_endpoint.get("GET /users/"), Some(&2));
    assert_eq!(stats.by_status.get(&401), Some(&2));
    assert_eq!(stats.faults.get(&FaultKind::Malformed), Some(&1));
    assert_eq!(stats.faults.get(&FaultKind::Unauthorized), Some(&1));
}

#[tokio::test]
async fn odd_windows_get_empty_answers_or_a_400_never_a_dropped_connection() {
    let (_mock, served, caller) = served(&FleetSpec::default()).await;
    let truth = served.ground_truth();
    let connector = truth
        .connectors
        .iter()
        .find(|c| !c.snapshots.is_empty())
        .unwrap();
    let base = format!("/users/{}/devices/{}", connector.account, connector.id);
    let reversed = "<filter><from-time>2026-01-07T00:00:00Z</from-time><to-time>2026-01-01T00:00:00Z</to-time></filter>";
    let jobs = caller.put(&format!("{base}/jobs"), reversed).await;
    assert_eq!((jobs.status, jobs.body.as_str()), (200, "<jobs/>\n"));
    let audit = format!(
        "<filter><account>{}</account><from>2026-01-07T00:00:00Z</from><to>2026-01-01T00:00:00Z</to></filter>",
        truth.parent
    );
    assert_eq!(
        caller.put("/audit/filter/pretty", &audit).await.body,
        "<audit/>\n"
    );
    let huge = "<range><start>2026-01-01T00:00:00Z</start><span>P999999999999D</span><count>5</count></range>";
    assert_eq!(
        caller
            .put(&format!("{base}/history/range"), huge)
            .await
            .status,
        400
    );
    let far_back = "<range><start>2026-01-01T00:00:00Z</start><span>P99999999D</span><count>5</count><reverse/></range>";
    assert_eq!(
        caller
            .put(&format!("{base}/history/range"), far_back)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn fixtures_mounted_after_a_fleet_take_precedence() {
    let (mock, served, caller) = served(&FleetSpec::default()).await;
    let customer = served.ground_truth().customers().next().unwrap().id.clone();
    let path = format!("/users/{customer}/devices");
    assert!(caller.get(&path).await.body.contains("<cloud>"));
    mock.error("GET", &path, 503, "server-error").await;
    let overridden = caller.get(&path).await;
    assert_eq!(
        (overridden.status, overridden.body),
        (503, fixture("errors", "server-error"))
    );
    // Everything else still comes from the fleet.
    assert_eq!(
        parse(&caller.get("/users/").await.body).child_text("id"),
        Some(served.parent().as_str())
    );
}
