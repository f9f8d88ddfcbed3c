//! Job upserts, the Job Monitor query and the customer timeline.

use keepit_domain::{JobStatus, JobType};
use sea_orm::ConnectionTrait;

use super::each_backend;
use super::fixtures::{account, at, audit, connector, connector_id, integration, job, job_id};
use crate::{
    CursorError, Error, JobCursor, JobQuery, JobRecord, KeepitAccountSighting, Store,
    TimelineCursor, TimelineEntry, UpsertCounts,
};

/// Every column of every job row, as text, ordered by GUID.
async fn job_rows(store: &Store) -> Vec<String> {
    let rows = store
        .db()
        .query_all_raw(sea_orm::Statement::from_string(
            store.db_backend(),
            "SELECT * FROM backup_jobs ORDER BY job_guid",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let columns = row.column_names();
            columns
                .iter()
                .map(|name| {
                    let value = row
                        .try_get::<Option<String>>("", name)
                        .map(|v| v.unwrap_or_default())
                        .or_else(|_| {
                            row.try_get::<Option<i64>>("", name)
                                .map(|v| format!("{v:?}"))
                        })
                        .or_else(|_| {
                            row.try_get::<Option<f64>>("", name)
                                .map(|v| format!("{v:?}"))
                        })
                        .or_else(|_| {
                            row.try_get::<Option<bool>>("", name)
                                .map(|v| format!("{v:?}"))
                        })
                        .or_else(|_| {
                            row.try_get::<Option<chrono::DateTime<chrono::Utc>>>("", name)
                                .map(|v| format!("{v:?}"))
                        })
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// The GUIDs of the first page of `query`, sorted.
async fn sorted_guids(store: &Store, query: JobQuery) -> Vec<String> {
    let mut guids: Vec<String> = store
        .jobs(&query)
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.record.job.to_string())
        .collect();
    guids.sort();
    guids
}

/// Customer "Contoso" (account 1) with connectors 1 and 2.
async fn seed(store: &Store) {
    seed_customer(
        store,
        1,
        "Contoso",
        &[(1, "Exchange mail"), (2, "SharePoint")],
    )
    .await;
}

/// A customer seen by a sync as account `account_n`, with connectors `(n, name)`.
async fn seed_customer(store: &Store, account_n: u32, company: &str, connectors: &[(u32, &str)]) {
    let integration = integration(store).await;
    store
        .sync_customer(&KeepitAccountSighting {
            integration,
            account: account(account_n),
            parent: None,
            company_name: company.to_owned(),
            seen_at: at(0),
        })
        .await
        .unwrap();
    let records: Vec<_> = connectors
        .iter()
        .map(|(n, name)| connector(*n, account_n, name))
        .collect();
    store.upsert_connectors(&records, at(0)).await.unwrap();
}

#[tokio::test]
async fn the_same_batch_twice_leaves_identical_rows_and_counts_nothing() {
    each_backend(|store| async move {
        seed(&store).await;
        let batch: Vec<_> = (0..25)
            .map(|n| {
                job(
                    n,
                    1 + n % 2,
                    i64::from(n) * 3600,
                    if n % 5 == 0 {
                        JobStatus::Unsuccessful
                    } else {
                        JobStatus::Successful
                    },
                )
            })
            .collect();
        let first = store.upsert_jobs(&batch, at(10)).await.unwrap();
        assert_eq!(
            first,
            UpsertCounts {
                inserted: 25,
                changed: 0
            }
        );
        let rows = job_rows(&store).await;
        let second = store.upsert_jobs(&batch, at(20)).await.unwrap();
        assert_eq!(second, UpsertCounts::default());
        assert_eq!(
            job_rows(&store).await,
            rows,
            "an unchanged re-sync must not rewrite rows"
        );

        // One job changes: exactly one row is rewritten and only it gets a new updated_at.
        let mut changed = batch.clone();
        changed[3].status = JobStatus::Incomplete;
        changed[3].progress = Some(0.5);
        let third = store.upsert_jobs(&changed, at(30)).await.unwrap();
        assert_eq!(
            third,
            UpsertCounts {
                inserted: 0,
                changed: 1
            }
        );
        let stored = store.job(&job_id(3)).await.unwrap().unwrap();
        assert_eq!(stored.record.status, JobStatus::Incomplete);
        assert_eq!(stored.updated_at, at(30));
        assert_eq!(stored.first_seen_at, at(10));
        assert_eq!(
            store.job(&job_id(4)).await.unwrap().unwrap().updated_at,
            at(10)
        );
        // Round trip of every field.
        let mut expected = changed[3].clone();
        expected.started = expected.started.map(crate::convert::micros);
        assert_eq!(stored.record, expected);
        assert_eq!(stored.connector_name.as_deref(), Some("SharePoint"));
        assert_eq!(stored.customer_name.as_deref(), Some("Contoso"));

        // Duplicates inside one batch: the last one wins.
        let mut duplicated = vec![
            job(100, 1, 10, JobStatus::Scheduled),
            job(100, 1, 10, JobStatus::InProgress),
        ];
        duplicated[1].active = true;
        assert_eq!(
            store
                .upsert_jobs(&duplicated, at(40))
                .await
                .unwrap()
                .inserted,
            1
        );
        assert_eq!(
            store
                .job(&job_id(100))
                .await
                .unwrap()
                .unwrap()
                .record
                .status,
            JobStatus::InProgress
        );
    })
    .await;
}

#[tokio::test]
async fn raw_statistics_are_kept_as_sent_and_a_change_rewrites_the_row() {
    each_backend(|store| async move {
        seed(&store).await;
        let mut record = job(1, 1, 3600, JobStatus::Successful);
        record.raw_stats = vec![
            ("added-count".to_owned(), "12".to_owned()),
            ("dedup-ratio".to_owned(), "0.83".to_owned()),
        ];
        store
            .upsert_jobs(std::slice::from_ref(&record), at(10))
            .await
            .unwrap();
        let stored = store.job(&record.job).await.unwrap().expect("stored");
        assert_eq!(
            stored.record.raw_stats, record.raw_stats,
            "an unknown name is not lost"
        );
        record
            .raw_stats
            .push(("quota-left".to_owned(), "7".to_owned()));
        let counts = store
            .upsert_jobs(std::slice::from_ref(&record), at(20))
            .await
            .unwrap();
        assert_eq!(counts.changed, 1);
        let stored = store.job(&record.job).await.unwrap().expect("stored");
        assert_eq!(stored.record.raw_stats.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn job_monitor_filters_orders_newest_first_and_pages() {
    each_backend(|store| async move {
        seed(&store).await;
        let mut batch: Vec<_> = (0..30)
            .map(|n| {
                let status = match n % 3 {
                    0 => JobStatus::Successful,
                    1 => JobStatus::Unsuccessful,
                    _ => JobStatus::InProgress,
                };
                job(n, 1 + n % 2, i64::from(n % 10) * 60, status)
            })
            .collect();
        batch[7].job_type = JobType::Restore;
        batch[7].description = Some("Restore of 100% mail_box".to_owned());
        store.upsert_jobs(&batch, at(0)).await.unwrap();

        // Paging through everything with small pages returns each job once, in order.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .jobs(&JobQuery {
                    limit: Some(7),
                    cursor,
                    ..JobQuery::default()
                })
                .await
                .unwrap();
            seen.extend(page.jobs.iter().map(|j| (j.sort_time, j.id)));
            match page.next {
                Some(next) => cursor = Some(JobCursor::decode(&next.encode()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 30);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, ties by id descending");

        let only = |query: JobQuery| {
            let store = store.clone();
            async move { sorted_guids(&store, query).await }
        };
        let failed = only(JobQuery {
            statuses: vec![JobStatus::Unsuccessful],
            ..JobQuery::default()
        })
        .await;
        assert_eq!(failed.len(), 10);
        let conn2_failed = only(JobQuery {
            statuses: vec![JobStatus::Unsuccessful],
            connector: Some(connector_id(2)),
            ..JobQuery::default()
        })
        .await;
        assert_eq!(conn2_failed.len(), 5);
        let restores = only(JobQuery {
            types: vec![JobType::Restore],
            ..JobQuery::default()
        })
        .await;
        assert_eq!(restores, vec![job_id(7).to_string()]);
        let window = only(JobQuery {
            from: Some(at(120)),
            to: Some(at(240)),
            ..JobQuery::default()
        })
        .await;
        assert_eq!(window.len(), 6, "sort times 120 and 180, three jobs each");
        let customer = store
            .keepit_account(&account(1))
            .await
            .unwrap()
            .unwrap()
            .customer;
        assert_eq!(
            only(JobQuery {
                customer,
                ..JobQuery::default()
            })
            .await
            .len(),
            30
        );

        // Free text: description (with LIKE metacharacters taken literally), reason, names.
        assert_eq!(
            only(JobQuery {
                text: Some("100% MAIL_box".to_owned()),
                ..JobQuery::default()
            })
            .await
            .len(),
            1
        );
        assert_eq!(
            only(JobQuery {
                text: Some("0% x".to_owned()),
                ..JobQuery::default()
            })
            .await
            .len(),
            0
        );
        assert_eq!(
            only(JobQuery {
                text: Some("authentication".to_owned()),
                ..JobQuery::default()
            })
            .await
            .len(),
            10
        );
        assert_eq!(
            only(JobQuery {
                text: Some("sharepoint".to_owned()),
                ..JobQuery::default()
            })
            .await
            .len(),
            15
        );
        assert_eq!(
            only(JobQuery {
                text: Some("CONTOSO".to_owned()),
                ..JobQuery::default()
            })
            .await
            .len(),
            30
        );

        // Limits are clamped.
        let page = store
            .jobs(&JobQuery {
                limit: Some(10_000),
                ..JobQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.jobs.len(), 30);
        assert!(page.next.is_none());
        assert_eq!(
            store.jobs(&JobQuery::default()).await.unwrap().jobs.len(),
            30
        );
    })
    .await;
}

#[tokio::test]
async fn several_statuses_page_like_one_filter_without_gaps_or_repeats() {
    each_backend(|store| async move {
        seed(&store).await;
        // Many ties on sort_time, statuses of very different frequency, two connectors.
        let batch: Vec<_> = (0..60)
            .map(|n| {
                let status = match n % 10 {
                    0 => JobStatus::Cancelled,
                    1 | 2 => JobStatus::Unsuccessful,
                    3 => JobStatus::Incomplete,
                    _ => JobStatus::Successful,
                };
                job(n, 1 + n % 2, i64::from(n % 6) * 60, status)
            })
            .collect();
        store.upsert_jobs(&batch, at(0)).await.unwrap();
        let customer = store
            .keepit_account(&account(1))
            .await
            .unwrap()
            .unwrap()
            .customer;

        for (statuses, connector) in [
            (vec![JobStatus::Cancelled, JobStatus::Successful], None),
            (
                vec![
                    JobStatus::Unsuccessful,
                    JobStatus::Incomplete,
                    JobStatus::Cancelled,
                ],
                None,
            ),
            (
                vec![JobStatus::Successful, JobStatus::Unsuccessful],
                Some(connector_id(2)),
            ),
            (vec![JobStatus::Incomplete, JobStatus::Incomplete], None),
        ] {
            // Everything matching, newest first, as the database should page it.
            let mut expected: Vec<String> = {
                let mut all: Vec<_> = store
                    .jobs(&JobQuery {
                        limit: Some(JobQuery::MAX_LIMIT),
                        customer,
                        ..JobQuery::default()
                    })
                    .await
                    .unwrap()
                    .jobs
                    .into_iter()
                    .filter(|j| statuses.contains(&j.record.status))
                    .filter(|j| connector.as_ref().is_none_or(|c| &j.record.connector == c))
                    .collect();
                all.sort_by_key(|job| std::cmp::Reverse((job.sort_time, job.id)));
                all.into_iter().map(|j| j.record.job.to_string()).collect()
            };
            assert!(!expected.is_empty(), "{statuses:?} matches something");
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = store
                    .jobs(&JobQuery {
                        customer,
                        connector: connector.clone(),
                        statuses: statuses.clone(),
                        limit: Some(4),
                        cursor,
                        ..JobQuery::default()
                    })
                    .await
                    .unwrap();
                assert!(page.jobs.len() <= 4);
                seen.extend(page.jobs.iter().map(|j| j.record.job.to_string()));
                assert!(
                    page.jobs.iter().all(|j| j.connector_name.is_some()),
                    "names are attached on the union path too"
                );
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, expected, "{statuses:?} on {connector:?}");
            expected.dedup();
            assert_eq!(seen.len(), expected.len(), "no job twice");
        }
    })
    .await;
}

#[tokio::test]
async fn free_text_finds_names_whatever_their_case_and_alphabet() {
    each_backend(|store| async move {
        seed_customer(
            &store,
            2,
            "Øresund Vand A/S",
            &[(3, "Ærø postkasse"), (4, "SharePoint")],
        )
        .await;
        let mut batch = vec![
            job(1, 3, 0, JobStatus::Successful),
            job(2, 4, 60, JobStatus::Successful),
        ];
        for record in &mut batch {
            record.account = account(2);
        }
        store.upsert_jobs(&batch, at(0)).await.unwrap();
        let found = |text: &'static str| {
            let store = store.clone();
            async move {
                let query = JobQuery {
                    text: Some(text.to_owned()),
                    ..JobQuery::default()
                };
                sorted_guids(&store, query).await
            }
        };
        let both = vec![job_id(1).to_string(), job_id(2).to_string()];
        // SQLite's lower() would leave "Ø" and "Æ" alone; the names match anyway.
        assert_eq!(found("ØRESUND").await, both);
        assert_eq!(found("øresund vand").await, both);
        assert_eq!(found("ÆRØ").await, vec![job_id(1).to_string()]);
        assert_eq!(found("ærø POST").await, vec![job_id(1).to_string()]);
        assert!(found("Öresund").await.is_empty(), "Ö is not Ø");
    })
    .await;
}

#[tokio::test]
async fn free_text_matching_a_thousand_names_still_works() {
    each_backend(|store| async move {
        // More names match than are passed as parameters: the database compares them.
        let fleet: Vec<(u32, String)> = (10..1_015)
            .map(|n| (n, format!("Fleet mailbox {n}")))
            .collect();
        let fleet: Vec<(u32, &str)> = fleet.iter().map(|(n, name)| (*n, name.as_str())).collect();
        seed_customer(&store, 1, "Contoso", &fleet).await;
        store
            .upsert_connectors(&[connector(1, 1, "Exchange mail")], at(0))
            .await
            .unwrap();
        store
            .upsert_jobs(
                &[
                    job(1, 10, 0, JobStatus::Successful),
                    job(2, 1_014, 60, JobStatus::Unsuccessful),
                    job(3, 1, 120, JobStatus::Successful),
                ],
                at(0),
            )
            .await
            .unwrap();
        let page = store
            .jobs(&JobQuery {
                text: Some("FLEET".to_owned()),
                statuses: vec![JobStatus::Successful, JobStatus::Unsuccessful],
                ..JobQuery::default()
            })
            .await
            .unwrap();
        let guids: Vec<String> = page.jobs.iter().map(|j| j.record.job.to_string()).collect();
        assert_eq!(guids, vec![job_id(2).to_string(), job_id(1).to_string()]);
    })
    .await;
}

#[test]
fn cursors_decode_with_typed_errors() {
    let cursor = JobCursor {
        sort_time: at(5),
        id: 42,
    };
    assert_eq!(JobCursor::decode(&cursor.encode()), Ok(cursor));
    assert_eq!(
        JobCursor::decode("%%%"),
        Err(CursorError::Invalid("not base64url"))
    );
    let timeline = TimelineCursor {
        time: at(1),
        source: 1,
        id: 3,
    };
    assert_eq!(TimelineCursor::decode(&timeline.encode()), Ok(timeline));
    assert_eq!(
        JobCursor::decode(&timeline.encode()),
        Err(CursorError::WrongListing)
    );
    let error: Error = JobCursor::decode("aGVsbG8").unwrap_err().into();
    assert_eq!(error.to_string(), "invalid cursor: unknown cursor kind");
}

#[tokio::test]
async fn customer_timeline_merges_jobs_and_audit_events_newest_first() {
    each_backend(|store| async move {
        seed(&store).await;
        let customer = store
            .keepit_account(&account(1))
            .await
            .unwrap()
            .unwrap()
            .customer
            .unwrap();
        // Jobs end at 600, 1200+600, ...; audit events every 500 s; one at the same time as a job.
        let jobs: Vec<_> = (0..4)
            .map(|n| job(n, 1, i64::from(n) * 1200, JobStatus::Successful))
            .collect();
        let mut running = job(9, 1, 10_000, JobStatus::InProgress);
        running.active = true;
        store
            .upsert_jobs(&[jobs.clone(), vec![running]].concat(), at(0))
            .await
            .unwrap();
        let events: Vec<_> = (0..8)
            .map(|n| audit(n, 1, at(i64::from(n) * 500)))
            .collect();
        store.upsert_audit_events(&events, at(0)).await.unwrap();
        // An event of another account must not appear.
        store
            .upsert_audit_events(&[audit(99, 2, at(1))], at(0))
            .await
            .unwrap();

        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .customer_timeline(customer, Some(3), cursor)
                .await
                .unwrap();
            all.extend(page.entries);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            all.len(),
            12,
            "4 finished jobs and 8 events; the running job is not an outcome"
        );
        let positions: Vec<_> = all.iter().map(TimelineEntry::position).collect();
        let mut sorted = positions.clone();
        sorted.sort_by_key(|p| std::cmp::Reverse((p.time, p.source, p.id)));
        assert_eq!(positions, sorted);
        // At 3000 s a job ended and an event happened: the job comes first.
        let at_3000: Vec<bool> = all
            .iter()
            .filter(|e| e.position().time == at(3000))
            .map(|e| matches!(e, TimelineEntry::Job(_)))
            .collect();
        assert_eq!(at_3000, vec![true, false]);
    })
    .await;
}

#[tokio::test]
async fn finished_backups_are_every_backup_that_ended_since_and_nothing_else() {
    each_backend(|store| async move {
        seed(&store).await;
        let day = 86_400;
        let mut batch: Vec<JobRecord> = (0..40)
            .map(|n| {
                job(
                    n,
                    1 + n % 2,
                    i64::from(n) * day / 2,
                    if n % 4 == 0 {
                        JobStatus::Unsuccessful
                    } else {
                        JobStatus::Successful
                    },
                )
            })
            .collect();
        // A long backup that started six days before the window and ended in it.
        let mut long = job(100, 1, 5 * day, JobStatus::Successful);
        long.succeeded = Some(at(12 * day));
        batch.push(long);
        // Neither a running backup, a cancelled one nor a restore counts.
        batch.push(job(101, 1, 15 * day, JobStatus::InProgress));
        let mut cancelled = job(102, 1, 15 * day, JobStatus::Cancelled);
        cancelled.cancelled = Some(at(15 * day + 60));
        batch.push(cancelled);
        let mut restore = job(103, 1, 15 * day, JobStatus::Successful);
        restore.job_type = JobType::Restore;
        batch.push(restore);
        store.upsert_jobs(&batch, at(0)).await.unwrap();

        let since = at(11 * day);
        let now = at(20 * day);
        let mut found: Vec<(String, String)> = store
            .finished_backups(since, now)
            .await
            .unwrap()
            .into_iter()
            .map(|backup| {
                assert!(backup.ended_at >= since);
                let reason = backup.failure_reason.as_ref().map(|r| r.code().to_owned());
                assert_eq!(
                    reason.is_some(),
                    backup.status == JobStatus::Unsuccessful,
                    "{backup:?}"
                );
                (backup.job.to_string(), backup.status.as_str().to_owned())
            })
            .collect();
        found.sort();
        let mut expected: Vec<(String, String)> = batch
            .iter()
            .filter(|job| job.job_type == JobType::Backup)
            .filter(|job| {
                matches!(
                    job.status,
                    JobStatus::Successful | JobStatus::Unsuccessful | JobStatus::Incomplete
                )
            })
            .filter(|job| job.ended_at().is_some_and(|end| end >= since))
            .map(|job| (job.job.to_string(), job.status.as_str().to_owned()))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
        assert!(found.iter().any(|(job, _)| *job == job_id(100).to_string()));
        // `now` only balances the reads: jobs after it are found too.
        let early = store.finished_backups(since, at(12 * day)).await.unwrap();
        assert_eq!(early.len(), expected.len());
    })
    .await;
}
