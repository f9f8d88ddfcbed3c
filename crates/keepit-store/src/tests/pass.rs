//! The shared work list of a sync pass: claims, expiry, results, clean-up.

use std::collections::HashMap;

use chrono::TimeDelta;

use super::each_backend;
use super::fixtures::{account, at, integration};
use crate::{PassAccount, PassAccountResult, PassAccountState, Store, SyncRunId};

fn accounts(count: u32) -> Vec<PassAccount> {
    (1..=count)
        .map(|n| PassAccount {
            account: account(n),
            parent: None,
            name: format!("Customer {n}"),
            depth: 1,
        })
        .collect()
}

async fn pass(store: &Store, count: u32) -> (crate::IntegrationId, SyncRunId) {
    let integration = integration(store).await;
    let run = store
        .start_sync_run(Some(integration), at(0))
        .await
        .unwrap();
    store
        .publish_pass_accounts(run, integration, &accounts(count))
        .await
        .unwrap();
    (integration, run)
}

#[tokio::test]
async fn accounts_are_claimed_in_order_once_each_and_again_only_after_a_claim_expires() {
    each_backend(|store| async move {
        let (integration, run) = pass(&store, 3).await;
        let ttl = TimeDelta::seconds(60);
        assert_eq!(
            store.open_pass(integration, at(0)).await.unwrap(),
            Some(run)
        );

        let first = store
            .claim_pass_account(run, "a", at(0), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.account.account, account(1));
        assert_eq!(first.account.name, "Customer 1");
        assert_eq!(first.attempt, 1);
        let second = store
            .claim_pass_account(run, "b", at(1), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.account.account, account(2));
        let third = store
            .claim_pass_account(run, "a", at(2), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(third.account.account, account(3));
        assert_eq!(
            store
                .claim_pass_account(run, "c", at(3), ttl)
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.open_pass(integration, at(3)).await.unwrap(), None);

        // "a" finishes its first account and keeps its second alive; "b" goes silent.
        let done = PassAccountResult {
            connectors: 4,
            jobs_new: 7,
            audit_events_new: 2,
            rows_written: 20,
            changes: 1,
            error: None,
        };
        assert!(
            store
                .finish_pass_account(run, &account(1), "a", &done, at(10))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .renew_pass_accounts(run, "a", at(50), ttl)
                .await
                .unwrap(),
            1
        );
        // b's claim (taken at 1 for 60 s) has expired; a's renewed one has not.
        let taken_over = store
            .claim_pass_account(run, "c", at(61), ttl)
            .await
            .unwrap();
        assert_eq!(
            taken_over.map(|claim| (claim.account.account, claim.attempt)),
            Some((account(2), 2))
        );
        // "b" comes back too late: the account is "c"'s now, and "b" cannot record it.
        let late = PassAccountResult {
            error: Some("slow".to_owned()),
            ..PassAccountResult::default()
        };
        assert!(
            !store
                .finish_pass_account(run, &account(2), "b", &late, at(61))
                .await
                .unwrap()
        );
        let failed = PassAccountResult {
            error: Some("HTTP 500".to_owned()),
            ..PassAccountResult::default()
        };
        assert!(
            store
                .finish_pass_account(run, &account(2), "c", &failed, at(62))
                .await
                .unwrap()
        );
        // A finished account is never claimed again.
        assert!(
            !store
                .finish_pass_account(run, &account(1), "a", &done, at(63))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .claim_pass_account(run, "c", at(500), ttl)
                .await
                .unwrap()
                .map(|c| c.account.account),
            Some(account(3)),
            "a's renewed claim expired at 110"
        );

        let rows = store.pass_accounts(run).await.unwrap();
        let by_account: HashMap<_, _> = rows.iter().map(|row| (row.account.clone(), row)).collect();
        assert_eq!(by_account[&account(1)].state, PassAccountState::Done);
        assert_eq!(by_account[&account(1)].result, done);
        assert_eq!(by_account[&account(1)].holder.as_deref(), Some("a"));
        assert_eq!(by_account[&account(2)].state, PassAccountState::Failed);
        assert_eq!(by_account[&account(2)].attempts, 2);
        assert_eq!(
            by_account[&account(2)].result.error.as_deref(),
            Some("HTTP 500")
        );
        assert_eq!(by_account[&account(3)].state, PassAccountState::Claimed);
        assert_eq!(by_account[&account(3)].holder.as_deref(), Some("c"));

        assert_eq!(store.clear_pass_accounts(run).await.unwrap(), 3);
        assert!(store.pass_accounts(run).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn workers_claiming_at_once_never_get_the_same_account() {
    each_backend(|store| async move {
        let (_, run) = pass(&store, 40).await;
        let ttl = TimeDelta::seconds(60);
        let workers = (0..6).map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let holder = format!("worker-{worker}");
                let mut mine = Vec::new();
                while let Some(claim) = store
                    .claim_pass_account(run, &holder, at(0), ttl)
                    .await
                    .unwrap()
                {
                    mine.push(claim.account.account);
                    tokio::task::yield_now().await;
                }
                mine
            })
        });
        let mut claimed: Vec<_> = Vec::new();
        for worker in workers {
            claimed.extend(worker.await.unwrap());
        }
        let total = claimed.len();
        claimed.sort();
        claimed.dedup();
        assert_eq!(total, 40, "every account claimed");
        assert_eq!(claimed.len(), 40, "no account claimed twice");
        assert!(
            store
                .pass_accounts(run)
                .await
                .unwrap()
                .iter()
                .all(|row| row.attempts == 1)
        );
    })
    .await;
}

#[tokio::test]
async fn a_stopping_pass_withdraws_what_nobody_holds_and_abandoned_passes_leave_no_work() {
    each_backend(|store| async move {
        let (integration, run) = pass(&store, 4).await;
        let ttl = TimeDelta::seconds(60);
        store
            .claim_pass_account(run, "a", at(0), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.withdraw_pass_accounts(run).await.unwrap(), 3);
        assert_eq!(store.pass_accounts(run).await.unwrap().len(), 1);
        // The process died: the next lease holder closes the run, and its work is gone
        // with it, expired claim or not.
        assert_eq!(
            store
                .close_abandoned_sync_runs(integration, at(600))
                .await
                .unwrap(),
            1
        );
        assert!(store.pass_accounts(run).await.unwrap().is_empty());
        assert_eq!(store.open_pass(integration, at(600)).await.unwrap(), None);
    })
    .await;
}
