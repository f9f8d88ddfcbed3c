//! Claiming and syncing the accounts of a pass, for the worker that leads it and for
//! any other worker on the same database that helps (see `keepit_store`'s work list).

use chrono::Utc;
use keepit_alerts::ChangeEvent;
use keepit_store::{ClaimedAccount, PassAccountResult, SyncRunId};

use crate::error::{Error, chain};
use crate::hook::PassHook;
use crate::schedule::Shutdown;

use super::account::Pass;
use super::rows;

/// Whose pass the accounts belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// This worker leads the pass: it keeps the changes for its end-of-pass hook.
    Lead,
    /// Another worker leads it: changes become messages as each account is done.
    Help,
}

/// What one worker did in a pass.
#[derive(Debug, Default)]
pub(super) struct Worked {
    /// Accounts this worker synced (failed ones included).
    pub(super) accounts: u64,
    /// Of those, the ones that failed.
    pub(super) failed: u64,
    /// Changes found, kept for the hook when leading.
    pub(super) changes: Vec<ChangeEvent>,
}

impl Pass<'_> {
    /// Claims and syncs accounts of `run` until none is left to claim or shutdown is
    /// requested; claims are renewed all the while. What was done comes back even when
    /// the database could not be asked for more work (the error beside it); a failed
    /// account is recorded in the work list instead.
    pub(super) async fn work<H: PassHook>(
        &self,
        run: SyncRunId,
        hook: &H,
        role: Role,
        shutdown: &Shutdown,
    ) -> (Worked, Option<Error>) {
        let holder = self.config.holder.stored();
        let holder = holder.as_str();
        // Each slot claims an account, syncs it, and claims the next, so a slow worker
        // never sits on accounts a faster one could sync. The claim is awaited inside
        // its slot, beside the other slots' syncs: a claim that waits for a database
        // connection never stops a sync that holds one from finishing.
        let slots = (0..self.config.account_concurrency.max(1))
            .map(|_| self.slot(run, holder, hook, role, shutdown));
        let work = async {
            let mut worked = Worked::default();
            let mut failure = None;
            for (slot, error) in futures::future::join_all(slots).await {
                worked.accounts += slot.accounts;
                worked.failed += slot.failed;
                worked.changes.extend(slot.changes);
                failure = failure.or(error);
            }
            (worked, failure)
        };
        let (worked, failure) = tokio::select! {
            biased;
            done = work => done,
            never = self.renew_claims(run, holder) => match never {},
        };
        (worked, failure)
    }

    /// One slot of [`Pass::work`]: claim, sync, repeat, until nothing is left to claim.
    /// Claims run on the wall clock, not the pass's: a claim's lease is about how long
    /// a worker has been silent.
    async fn slot<H: PassHook>(
        &self,
        run: SyncRunId,
        holder: &str,
        hook: &H,
        role: Role,
        shutdown: &Shutdown,
    ) -> (Worked, Option<Error>) {
        let mut worked = Worked::default();
        while !shutdown.is_requested() {
            let claim = match self
                .store
                .claim_pass_account(run, holder, Utc::now(), self.config.lease_ttl)
                .await
            {
                Ok(Some(claim)) => claim,
                Ok(None) => break,
                Err(error) => return (worked, Some(error.into())),
            };
            let Synced { failed, changes } = self.claimed(claim, holder, hook, role).await;
            worked.accounts += 1;
            worked.failed += u64::from(failed);
            worked.changes.extend(changes);
        }
        (worked, None)
    }

    /// Syncs one claimed account and records what it did.
    async fn claimed<H: PassHook>(
        &self,
        claim: ClaimedAccount,
        holder: &str,
        hook: &H,
        role: Role,
    ) -> Synced {
        let account = &claim.account.account;
        if claim.attempt > 1 {
            tracing::warn!(%account, attempt = claim.attempt, "account taken over from a worker that stopped renewing its claim");
        }
        let (result, changes) = match self.account(&claim.account).await {
            Ok(done) => (
                PassAccountResult {
                    connectors: done.connectors_seen,
                    jobs_new: done.report.jobs.inserted,
                    audit_events_new: done.report.audit_events.inserted,
                    rows_written: rows(&done.report),
                    changes: done.changes.len() as u64,
                    error: None,
                },
                done.changes,
            ),
            Err(error) => {
                tracing::warn!(%account, error = %chain(&error), "account sync failed");
                (
                    PassAccountResult {
                        error: Some(chain(&error)),
                        ..PassAccountResult::default()
                    },
                    Vec::new(),
                )
            }
        };
        let failed = result.error.is_some();
        self.config.progress.account_done();
        let changes = match role {
            Role::Lead => changes,
            Role::Help => {
                if !changes.is_empty()
                    && let Err(error) = hook.record_changes(self.store, &changes, self.now).await
                {
                    tracing::warn!(%account, error = %chain(&error), "could not store the messages for this account's changes");
                }
                Vec::new()
            }
        };
        match self
            .store
            .finish_pass_account(claim.run, account, holder, &result, Utc::now())
            .await
        {
            Ok(true) => {}
            // The data is committed either way; the other worker records its own sync.
            Ok(false) => tracing::warn!(
                %account,
                "this worker's claim on the account expired before it finished; the worker that took it over records it"
            ),
            Err(error) => tracing::warn!(
                %account,
                error = %chain(&error),
                "could not record the account as synced; it is synced again once the claim expires"
            ),
        }
        Synced { failed, changes }
    }

    /// Renews this worker's claims on `run` every third of their lifetime, forever. A
    /// renewal that fails is retried at the next tick: a claim outlives two missed ones.
    async fn renew_claims(&self, run: SyncRunId, holder: &str) -> std::convert::Infallible {
        let mut ticks = super::renewals(self.config.lease_ttl);
        loop {
            ticks.tick().await;
            if let Err(error) = self
                .store
                .renew_pass_accounts(run, holder, Utc::now(), self.config.lease_ttl)
                .await
            {
                tracing::warn!(error = %chain(&error), "could not renew this worker's account claims; trying again");
            }
        }
    }
}

/// One account's sync, as the worker's loop counts it.
struct Synced {
    failed: bool,
    changes: Vec<ChangeEvent>,
}
