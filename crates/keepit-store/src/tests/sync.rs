//! The account-sync transaction, cursors, leases, runs, connectors, statuses, audit events.

use chrono::TimeDelta;
use keepit_domain::{Health, HealthReason, JobStatus};

use super::each_backend;
use super::fixtures::{account, at, audit, connector, connector_id, integration, job, status};
use crate::{
    AccountSyncBatch, AuditQuery, ConnectorFilter, CursorKey, CursorMove, LeaseGrant,
    RetentionConfig, SyncAccountError, SyncOutcome, SyncRunSummary, UpsertCounts,
};

fn cursor(integration: crate::IntegrationId, position: &str) -> CursorMove {
    CursorMove {
        key: CursorKey {
            integration,
            account: account(1),
            connector: None,
            stream: "audit".to_owned(),
        },
        position: position.to_owned(),
    }
}

#[tokio::test]
async fn a_failed_batch_changes_nothing_and_leaves_the_cursor_where_it_was() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let good = AccountSyncBatch {
            account: account(1),
            connectors: vec![connector(1, 1, "Mail")],
            connectors_complete: true,
            statuses: vec![status(1, Health::Healthy, at(0))],
            jobs: vec![job(1, 1, 0, JobStatus::Successful)],
            audit_events: vec![audit(1, 1, at(0))],
            cursors: vec![cursor(integration, "2026-01-01T00:00:00Z")],
            now: at(0),
        };
        let report = store.commit_account_sync(&good).await.unwrap();
        assert_eq!(report.connectors.inserted, 1);
        assert_eq!(report.jobs.inserted, 1);
        assert_eq!(report.audit_events.inserted, 1);
        assert_eq!(report.cursors_moved, 1);

        // The second batch stores a new connector and new jobs, then a status for a
        // connector that does not exist: the foreign key fails midway.
        let bad = AccountSyncBatch {
            connectors: vec![connector(1, 1, "Mail"), connector(2, 1, "Drive")],
            statuses: vec![
                status(2, Health::Critical, at(10)),
                status(99, Health::Healthy, at(10)),
            ],
            jobs: vec![job(2, 2, 100, JobStatus::Unsuccessful)],
            audit_events: vec![audit(2, 1, at(10))],
            cursors: vec![cursor(integration, "2026-01-01T00:10:00Z")],
            now: at(10),
            ..good.clone()
        };
        let error = store.commit_account_sync(&bad).await.unwrap_err();
        assert!(matches!(error, crate::Error::Database(_)), "{error:?}");
        let key = &good.cursors[0].key;
        assert_eq!(
            store.sync_cursor(key).await.unwrap().as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert!(store.connector(&connector_id(2)).await.unwrap().is_none());
        assert!(
            store
                .job(&super::fixtures::job_id(2))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .audit_events(&AuditQuery::default())
                .await
                .unwrap()
                .len(),
            1
        );

        // Fixed, the same batch commits and the cursor moves.
        let fixed = AccountSyncBatch {
            statuses: vec![status(2, Health::Critical, at(10))],
            ..bad
        };
        let report = store.commit_account_sync(&fixed).await.unwrap();
        assert_eq!(
            report.connectors,
            UpsertCounts {
                inserted: 1,
                changed: 0
            }
        );
        assert_eq!(report.jobs.inserted, 1);
        assert_eq!(
            store.sync_cursor(key).await.unwrap().as_deref(),
            Some("2026-01-01T00:10:00Z")
        );

        // Re-committing it writes nothing at all.
        let again = store.commit_account_sync(&fixed).await.unwrap();
        assert_eq!(again, crate::AccountSyncReport::default());

        // Cursors can also move on their own, and only when the position changes.
        let mut alone = cursor(integration, "2026-01-02T00:00:00Z");
        alone.key.connector = Some(connector_id(1));
        alone.key.stream = "jobs".to_owned();
        assert_eq!(
            store
                .move_sync_cursors(&[alone.clone()], at(20))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .move_sync_cursors(&[alone.clone()], at(21))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store.sync_cursor(&alone.key).await.unwrap().as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
        assert_eq!(
            store.sync_cursor(key).await.unwrap().as_deref(),
            Some("2026-01-01T00:10:00Z")
        );

        // A cursor of another account is refused before anything is written.
        let mut foreign = fixed.clone();
        foreign.cursors[0].key.account = account(2);
        assert!(matches!(
            store.commit_account_sync(&foreign).await,
            Err(crate::Error::InvalidInput { .. })
        ));
    })
    .await;
}

#[tokio::test]
async fn connectors_are_soft_deleted_and_seen_stamps_refresh_at_most_hourly() {
    each_backend(|store| async move {
        let listing = vec![connector(1, 1, "Mail"), connector(2, 1, "Drive")];
        assert_eq!(
            store
                .upsert_connectors(&listing, at(0))
                .await
                .unwrap()
                .inserted,
            2
        );
        assert_eq!(
            store.upsert_connectors(&listing, at(60)).await.unwrap(),
            UpsertCounts::default()
        );
        let stored = store.connector(&connector_id(1)).await.unwrap().unwrap();
        assert_eq!((stored.last_seen_at, stored.updated_at), (at(0), at(0)));
        // After an hour the stamp is refreshed, but the content did not change.
        assert_eq!(
            store.upsert_connectors(&listing, at(3700)).await.unwrap(),
            UpsertCounts::default()
        );
        let stored = store.connector(&connector_id(1)).await.unwrap().unwrap();
        assert_eq!((stored.last_seen_at, stored.updated_at), (at(3700), at(0)));
        assert!(stored.is_active());

        // Connector 2 disappears from the listing: it is kept, marked removed.
        let removed = store
            .mark_connectors_removed(&account(1), &[connector_id(1)], at(4000))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(
            store
                .connectors(&ConnectorFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
        let all = store
            .connectors(&ConnectorFilter {
                include_removed: true,
                ..ConnectorFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            !all.iter()
                .find(|c| c.record.connector == connector_id(2))
                .unwrap()
                .is_active()
        );
        // It comes back.
        assert_eq!(
            store
                .upsert_connectors(&listing, at(5000))
                .await
                .unwrap()
                .changed,
            1
        );
        assert_eq!(
            store
                .connectors(&ConnectorFilter::default())
                .await
                .unwrap()
                .len(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn statuses_are_written_only_when_they_change() {
    each_backend(|store| async move {
        store
            .upsert_connectors(&[connector(1, 1, "Mail")], at(0))
            .await
            .unwrap();
        let healthy = status(1, Health::Healthy, at(0));
        assert_eq!(
            store
                .upsert_connector_statuses(std::slice::from_ref(&healthy), at(0))
                .await
                .unwrap()
                .inserted,
            1
        );
        let later = status(1, Health::Healthy, at(600));
        assert_eq!(
            store
                .upsert_connector_statuses(&[later], at(600))
                .await
                .unwrap(),
            UpsertCounts::default()
        );
        let stored = store
            .connector_status(&connector_id(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, healthy);

        let mut broken = status(1, Health::Critical, at(900));
        broken.health_reason = Some(HealthReason::BadLogin);
        broken.error_code = Some(keepit_domain::ConnectorErrorCode::Login);
        broken.failure_reason = Some(keepit_domain::FailureReason::Unrecognized {
            raw: "E_WHATEVER".to_owned(),
        });
        assert_eq!(
            store
                .upsert_connector_statuses(&[broken.clone()], at(900))
                .await
                .unwrap()
                .changed,
            1
        );
        let stored = store
            .connector_status(&connector_id(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, broken);
        assert_eq!(stored.updated_at, at(900));

        let listed = store
            .connectors_with_status(&ConnectorFilter::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].1.as_ref().unwrap().status.health,
            Health::Critical
        );
    })
    .await;
}

#[tokio::test]
async fn audit_events_are_deduplicated_by_content_and_purged_after_retention() {
    each_backend(|store| async move {
        let events: Vec<_> = (0..5)
            .map(|n| audit(n, 1, at(i64::from(n) * 86_400 * 30)))
            .collect();
        assert_eq!(
            store
                .upsert_audit_events(&events, at(0))
                .await
                .unwrap()
                .inserted,
            5
        );
        // The overlapping window delivers the same records again, plus one new one.
        let mut overlap = events[2..].to_vec();
        overlap.push(audit(9, 1, at(10)));
        assert_eq!(
            store
                .upsert_audit_events(&overlap, at(1))
                .await
                .unwrap()
                .inserted,
            1
        );

        let stored = store.audit_events(&AuditQuery::default()).await.unwrap();
        assert_eq!(stored.len(), 6);
        assert_eq!(stored[0].time, at(4 * 86_400 * 30));
        assert_eq!(stored[0].client_network.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            stored[0].metadata,
            vec![("job".to_owned(), "j4".to_owned())]
        );
        assert_eq!(stored[0].content_hash, events[4].content_hash());

        // Filters: account, connector, category, time window.
        let other_account = audit(50, 2, at(20));
        store
            .upsert_audit_events(&[other_account], at(2))
            .await
            .unwrap();
        let of = |query: AuditQuery| {
            let store = store.clone();
            async move { store.audit_events(&query).await.unwrap().len() }
        };
        assert_eq!(
            of(AuditQuery {
                account: Some(account(2)),
                ..AuditQuery::default()
            })
            .await,
            1
        );
        assert_eq!(
            of(AuditQuery {
                connector: Some(connector_id(1)),
                ..AuditQuery::default()
            })
            .await,
            7
        );
        assert_eq!(
            of(AuditQuery {
                categories: vec![keepit_domain::AuditCategory::Security],
                ..AuditQuery::default()
            })
            .await,
            0
        );
        assert_eq!(
            of(AuditQuery {
                since: Some(at(86_400)),
                until: Some(at(86_400 * 61)),
                ..AuditQuery::default()
            })
            .await,
            2
        );
        assert_eq!(
            of(AuditQuery {
                limit: Some(2),
                ..AuditQuery::default()
            })
            .await,
            2
        );
        assert_eq!(
            store.purge_audit_events(at(15)).await.unwrap(),
            2,
            "the events at 0 and 10 s"
        );
        assert_eq!(store.purge_audit_events(at(15)).await.unwrap(), 0);

        // Default retention: 400 days before "now"; nothing here is that old.
        assert_eq!(
            RetentionConfig::default().audit_events,
            TimeDelta::days(400)
        );
        let now = at(4 * 86_400 * 30);
        let purged = store
            .purge_expired(&RetentionConfig::default(), now)
            .await
            .unwrap();
        assert_eq!(purged.audit_events, 0);
        // A retention below the 14-day audit window is raised to it.
        let custom = RetentionConfig {
            audit_events: TimeDelta::days(1),
        };
        let purged = store.purge_expired(&custom, now).await.unwrap();
        assert_eq!(purged.audit_events, 4, "the events more than 14 days old");
        assert_eq!(
            store
                .audit_events(&AuditQuery::default())
                .await
                .unwrap()
                .len(),
            1,
            "the event within the window stays"
        );

        // Finished sync runs go by the same retention; a running one stays.
        let old = store.start_sync_run(None, at(0)).await.unwrap();
        store
            .finish_sync_run(old, &SyncRunSummary::new(SyncOutcome::Ok), at(60))
            .await
            .unwrap();
        store.start_sync_run(None, at(30)).await.unwrap();
        let recent = store.start_sync_run(None, now).await.unwrap();
        store
            .finish_sync_run(recent, &SyncRunSummary::new(SyncOutcome::Ok), now)
            .await
            .unwrap();
        let purged = store.purge_expired(&custom, now).await.unwrap();
        assert_eq!(purged.sync_runs, 1);
        assert_eq!(store.sync_runs(10).await.unwrap().len(), 2);
    })
    .await;
}

#[test]
fn client_ips_are_reduced_to_their_network() {
    assert_eq!(
        crate::truncate_client_ip("198.51.100.23").as_deref(),
        Some("198.51.100.0/24")
    );
    assert_eq!(
        crate::truncate_client_ip("2001:db8:abcd:12::1").as_deref(),
        Some("2001:db8:abcd::/48")
    );
    assert_eq!(crate::truncate_client_ip("not an ip"), None);
    let mut a = audit(1, 1, at(0));
    let mut b = a.clone();
    b.client_ip = Some("203.0.113.1".to_owned());
    assert_eq!(
        a.content_hash(),
        b.content_hash(),
        "same network, same record"
    );
    a.message.push('!');
    assert_ne!(a.content_hash(), b.content_hash());
}

#[tokio::test]
async fn leases_are_exclusive_until_they_expire() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let ttl = TimeDelta::minutes(5);
        let acquire = |holder: &'static str, time: i64| {
            let store = store.clone();
            async move {
                store
                    .acquire_sync_lease(integration, holder, at(time), ttl)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(acquire("sync-a", 0).await, LeaseGrant::Acquired);
        // The refusal names the holder, not the caller.
        assert_eq!(
            acquire("sync-b", 60).await,
            LeaseGrant::Held {
                holder: "sync-a".into(),
                expires_at: at(300)
            }
        );
        // The holder may re-acquire and renew.
        assert_eq!(acquire("sync-a", 60).await, LeaseGrant::Acquired);
        assert!(
            store
                .renew_sync_lease(integration, "sync-a", at(120), ttl)
                .await
                .unwrap()
        );
        assert!(
            !store
                .renew_sync_lease(integration, "sync-b", at(120), ttl)
                .await
                .unwrap()
        );
        // Expired at 120 + 300: another process takes it over, and the old holder cannot renew.
        assert!(matches!(
            acquire("sync-b", 419).await,
            LeaseGrant::Held { .. }
        ));
        assert_eq!(acquire("sync-b", 420).await, LeaseGrant::Acquired);
        assert!(
            !store
                .renew_sync_lease(integration, "sync-a", at(421), ttl)
                .await
                .unwrap()
        );
        assert!(
            !store
                .release_sync_lease(integration, "sync-a")
                .await
                .unwrap()
        );
        assert!(
            store
                .release_sync_lease(integration, "sync-b")
                .await
                .unwrap()
        );
        assert_eq!(acquire("sync-a", 422).await, LeaseGrant::Acquired);
        // The lease row is new now (its id is no longer the integration's): the
        // refusal still finds and names the holder.
        assert_eq!(
            acquire("sync-b", 423).await,
            LeaseGrant::Held {
                holder: "sync-a".into(),
                expires_at: at(722)
            }
        );
        assert_eq!(
            store.sync_lease(integration).await.unwrap(),
            Some(("sync-a".to_owned(), at(722)))
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_holders_lease_is_taken_over_and_its_runs_closed() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let ttl = TimeDelta::minutes(2);
        assert_eq!(
            store
                .acquire_sync_lease(integration, "dead", at(0), ttl)
                .await
                .unwrap(),
            LeaseGrant::Acquired
        );
        let left_running = store
            .start_sync_run(Some(integration), at(0))
            .await
            .unwrap();
        // Taking over from a holder that is not the current one fails.
        assert!(matches!(
            store
                .take_over_sync_lease(integration, "someone-else", "new", at(10), ttl)
                .await
                .unwrap(),
            LeaseGrant::Held { holder, .. } if holder == "dead"
        ));
        assert_eq!(
            store
                .take_over_sync_lease(integration, "dead", "new", at(10), ttl)
                .await
                .unwrap(),
            LeaseGrant::Acquired
        );
        assert!(
            !store
                .renew_sync_lease(integration, "dead", at(11), ttl)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .close_abandoned_sync_runs(integration, at(10))
                .await
                .unwrap(),
            1
        );
        let run = store.sync_run(left_running).await.unwrap();
        assert_eq!(run.summary.outcome, SyncOutcome::Abandoned);
        assert_eq!(run.finished_at, Some(at(10)));
        // The worker that ran it finishing late changes nothing: the abandoned count
        // behind /metrics never goes down.
        store
            .finish_sync_run(left_running, &SyncRunSummary::new(SyncOutcome::Ok), at(11))
            .await
            .unwrap();
        let run = store.sync_run(left_running).await.unwrap();
        assert_eq!(run.summary.outcome, SyncOutcome::Abandoned);
        assert_eq!(run.finished_at, Some(at(10)));
        // Closing again finds nothing left.
        assert_eq!(
            store
                .close_abandoned_sync_runs(integration, at(20))
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn sync_runs_record_outcome_counts_and_errors() {
    each_backend(|store| async move {
        let integration = integration(&store).await;
        let first = store
            .start_sync_run(Some(integration), at(0))
            .await
            .unwrap();
        let running = store.sync_run(first).await.unwrap();
        assert_eq!(running.summary.outcome, SyncOutcome::Running);
        let summary = SyncRunSummary {
            accounts: 3,
            accounts_failed: 1,
            connectors: 7,
            jobs_new: 12,
            audit_events_new: 40,
            requests: 55,
            requests_by_status: [
                ("200".to_owned(), 50),
                ("401".to_owned(), 3),
                ("no_answer".to_owned(), 2),
            ]
            .into(),
            errors: vec![SyncAccountError {
                account: Some(account(2)),
                error: "unauthorized".to_owned(),
            }],
            ..SyncRunSummary::new(SyncOutcome::Partial)
        };
        store
            .finish_sync_run(first, &summary, at(30))
            .await
            .unwrap();
        let second = store.start_sync_run(None, at(60)).await.unwrap();
        let runs = store.sync_runs(10).await.unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![second, first]
        );
        assert_eq!(runs[1].summary, summary);
        assert_eq!(runs[1].finished_at, Some(at(30)));
        assert_eq!(runs[1].integration, Some(integration));
        assert!(matches!(
            store
                .finish_sync_run(crate::SyncRunId(999), &summary, at(0))
                .await,
            Err(crate::Error::NotFound { .. })
        ));

        // Totals for monitoring, over every run.
        let third = store.start_sync_run(None, at(100)).await.unwrap();
        let ok = SyncRunSummary {
            requests: 4,
            requests_by_status: [("200".to_owned(), 4)].into(),
            ..SyncRunSummary::new(SyncOutcome::Ok)
        };
        store.finish_sync_run(third, &ok, at(400)).await.unwrap();
        assert_eq!(store.sync_run(third).await.unwrap().summary, ok);
        let totals = store.sync_run_totals().await.unwrap();
        assert_eq!(
            totals.runs_by_outcome,
            [("ok".to_owned(), 1), ("partial".to_owned(), 1)].into()
        );
        assert_eq!(totals.running, 1, "the second run never finished");
        assert_eq!(
            totals.requests_by_status,
            [
                ("200".to_owned(), 54),
                ("401".to_owned(), 3),
                ("no_answer".to_owned(), 2)
            ]
            .into()
        );
        assert_eq!(totals.durations.count, 2, "the running one has no duration");
        assert_eq!(totals.durations.sum, std::time::Duration::from_secs(330));
        let bucket = |seconds: u64| {
            totals
                .durations
                .buckets
                .iter()
                .find(|(bound, _)| *bound == std::time::Duration::from_secs(seconds))
                .unwrap()
                .1
        };
        assert_eq!(
            (bucket(15), bucket(30), bucket(120), bucket(300)),
            (0, 1, 1, 2)
        );
        assert_eq!(
            totals.durations.buckets.len(),
            crate::SYNC_DURATION_BOUNDS.len()
        );

        // Retention deletes the finished runs, and the totals stay: counters made
        // from them never go down. A later run adds to what was folded.
        let purged = store.purge_sync_runs(at(1_000)).await.unwrap();
        assert_eq!(purged, 2, "both finished runs; the running one stays");
        assert_eq!(store.sync_run_totals().await.unwrap(), totals);
        let fourth = store.start_sync_run(None, at(2_000)).await.unwrap();
        let failed = SyncRunSummary {
            requests: 1,
            requests_by_status: [("200".to_owned(), 1)].into(),
            ..SyncRunSummary::new(SyncOutcome::Failed)
        };
        store
            .finish_sync_run(fourth, &failed, at(2_002))
            .await
            .unwrap();
        store.purge_sync_runs(at(3_000)).await.unwrap();
        let after = store.sync_run_totals().await.unwrap();
        assert_eq!(after.runs_by_outcome["ok"], 1);
        assert_eq!(after.runs_by_outcome["failed"], 1);
        assert_eq!(after.requests_by_status["200"], 55);
        assert_eq!(after.durations.count, 3);
        assert_eq!(after.durations.sum, std::time::Duration::from_secs(332));
        assert_eq!(after.running, 1);
        assert_eq!(store.sync_runs(10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn purges_racing_each_other_fold_every_run_once() {
    each_backend(|store| async move {
        let ok = SyncRunSummary {
            requests: 2,
            requests_by_status: [("200".to_owned(), 2)].into(),
            ..SyncRunSummary::new(SyncOutcome::Ok)
        };
        for n in 0..40 {
            let run = store.start_sync_run(None, at(n * 10)).await.unwrap();
            store
                .finish_sync_run(run, &ok, at(n * 10 + 5))
                .await
                .unwrap();
        }
        let before = store.sync_run_totals().await.unwrap();
        assert_eq!(before.runs_by_outcome["ok"], 40);
        // Two processes purging at the same moment: each run is deleted, and folded
        // into the totals, by exactly one of them.
        let (first, second) = tokio::join!(
            store.purge_sync_runs(at(10_000)),
            store.purge_sync_runs(at(10_000))
        );
        assert_eq!(first.unwrap() + second.unwrap(), 40);
        assert_eq!(store.sync_runs(100).await.unwrap().len(), 0);
        assert_eq!(store.sync_run_totals().await.unwrap(), before);
    })
    .await;
}
