//! The work list of a sync pass, shared by every sync worker on the database.
//!
//! The worker that holds an integration's sync lease walks the account tree, starts the
//! run and publishes its accounts here. Every worker (that one included) then claims
//! accounts one at a time: a claim is a lease on one account for one pass, renewed while
//! the account is synced, and taken over by another worker once it has expired (its
//! holder died or stalled). On PostgreSQL a claim skips rows other workers are claiming
//! at that instant (`FOR UPDATE SKIP LOCKED`), so workers never wait on each other;
//! SQLite has one writer, so a claim is atomic there by construction.
//!
//! An account's data and cursors are committed in one transaction of their own
//! (`commit_account_sync`); the row here only records who synced it and what that did,
//! so a worker that dies between the two costs a second sync of one account, never a
//! duplicate or a lost row.

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::AccountId;
use sea_orm::sea_query::{Expr, ExprTrait as _, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::convert::{account_id, micros, rows_per_statement, to_i64, to_u64};
use crate::entity::{sync_pass_account as row, sync_run};
use crate::error::Result;
use crate::ids::{IntegrationId, SyncRunId};
use crate::store::Store;
use crate::sync::SyncOutcome;

const TABLE: &str = "sync_pass_accounts";

/// An account a pass covers, as the tree walk found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassAccount {
    /// The Keepit account.
    pub account: AccountId,
    /// Its parent account.
    pub parent: Option<AccountId>,
    /// The name it is shown under (company, else contact, else GUID).
    pub name: String,
    /// How deep below the integration's parent account it sits (1 for direct children).
    pub depth: u32,
}

/// An account a worker has claimed for a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedAccount {
    /// The pass.
    pub run: SyncRunId,
    /// The account.
    pub account: PassAccount,
    /// 1 for the first claim; more when a worker died or stalled holding it.
    pub attempt: u32,
}

/// What syncing one account of a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassAccountResult {
    /// Connectors seen.
    pub connectors: u64,
    /// Jobs stored for the first time.
    pub jobs_new: u64,
    /// Audit events stored for the first time.
    pub audit_events_new: u64,
    /// Rows inserted or changed.
    pub rows_written: u64,
    /// Changes found (already turned into messages by the worker that found them).
    pub changes: u64,
    /// Why the account failed; `None` when it was synced.
    pub error: Option<String>,
}

/// Where an account of a pass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassAccountState {
    /// Nobody has claimed it yet.
    Pending,
    /// A worker holds it (or held it, until its lease expires).
    Claimed,
    /// Synced.
    Done,
    /// Its sync failed; the error is recorded.
    Failed,
}

impl PassAccountState {
    fn as_str(self) -> &'static str {
        match self {
            PassAccountState::Pending => "pending",
            PassAccountState::Claimed => "claimed",
            PassAccountState::Done => "done",
            PassAccountState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<PassAccountState> {
        Some(match text {
            "pending" => PassAccountState::Pending,
            "claimed" => PassAccountState::Claimed,
            "done" => PassAccountState::Done,
            "failed" => PassAccountState::Failed,
            _ => return None,
        })
    }
}

/// One account of a pass as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassAccountRecord {
    /// The account.
    pub account: AccountId,
    /// Where it stands.
    pub state: PassAccountState,
    /// The worker that holds or finished it.
    pub holder: Option<String>,
    /// How many times it was claimed.
    pub attempts: u32,
    /// What its sync did, once finished.
    pub result: PassAccountResult,
}

impl Store {
    /// Publishes the accounts of a pass, in the order workers should take them.
    pub async fn publish_pass_accounts(
        &self,
        run: SyncRunId,
        integration: IntegrationId,
        accounts: &[PassAccount],
    ) -> Result<()> {
        let conn = self.db();
        let chunk = rows_per_statement(conn.get_database_backend(), 19);
        for (start, slice) in accounts.chunks(chunk).enumerate() {
            let models = slice
                .iter()
                .enumerate()
                .map(|(offset, account)| row::ActiveModel {
                    run_id: Set(run.0),
                    integration_id: Set(integration.0),
                    account_id: Set(account.account.to_string()),
                    parent_account_id: Set(account.parent.as_ref().map(ToString::to_string)),
                    display_name: Set(account.name.clone()),
                    depth: Set(i32::try_from(account.depth).unwrap_or(i32::MAX)),
                    position: Set(to_i64((start * chunk + offset) as u64)),
                    state: Set(PassAccountState::Pending.as_str().to_owned()),
                    holder: Set(None),
                    lease_expires_at: Set(None),
                    attempts: Set(0),
                    connectors: Set(0),
                    jobs_new: Set(0),
                    audit_events_new: Set(0),
                    rows_written: Set(0),
                    changes: Set(0),
                    error: Set(None),
                    finished_at: Set(None),
                    ..Default::default()
                });
            row::Entity::insert_many(models)
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }

    /// Claims the next open account of a pass for `holder` until `now + ttl`: one
    /// nobody has claimed, or one whose claim expired. `None` when every account is
    /// finished or held.
    pub async fn claim_pass_account(
        &self,
        run: SyncRunId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<Option<ClaimedAccount>> {
        let now = micros(now);
        let next = Query::select()
            .column(row::Column::Id)
            .from(row::Entity)
            .and_where(row::Column::RunId.eq(run.0))
            .cond_where(claimable(now))
            .order_by(row::Column::Position, sea_orm::Order::Asc)
            .limit(1)
            // Ignored on SQLite, whose single writer makes the update atomic anyway.
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let claimed = row::Entity::update_many()
            .col_expr(
                row::Column::State,
                Expr::value(PassAccountState::Claimed.as_str()),
            )
            .col_expr(row::Column::Holder, Expr::value(holder.to_owned()))
            .col_expr(row::Column::LeaseExpiresAt, Expr::value(now + ttl))
            .col_expr(
                row::Column::Attempts,
                Expr::col(row::Column::Attempts).add(Expr::value(1)),
            )
            .filter(row::Column::Id.in_subquery(next))
            .exec_with_returning(self.db())
            .await?;
        let Some(model) = claimed.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(ClaimedAccount {
            run,
            attempt: u32::try_from(model.attempts).unwrap_or(0),
            account: PassAccount {
                account: account_id(TABLE, "account_id", &model.account_id)?,
                parent: model
                    .parent_account_id
                    .as_deref()
                    .map(|parent| account_id(TABLE, "parent_account_id", parent))
                    .transpose()?,
                name: model.display_name,
                depth: u32::try_from(model.depth).unwrap_or(0),
            },
        }))
    }

    /// Extends every claim `holder` has on the accounts of a pass. Returns how many.
    pub async fn renew_pass_accounts(
        &self,
        run: SyncRunId,
        holder: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<u64> {
        let result = row::Entity::update_many()
            .col_expr(row::Column::LeaseExpiresAt, Expr::value(micros(now) + ttl))
            .filter(row::Column::RunId.eq(run.0))
            .filter(row::Column::Holder.eq(holder))
            .filter(row::Column::State.eq(PassAccountState::Claimed.as_str()))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }

    /// Records what syncing a claimed account did. Returns `false` when `holder` no
    /// longer held the claim (it expired and another worker took the account over);
    /// the result is then left to that worker.
    pub async fn finish_pass_account(
        &self,
        run: SyncRunId,
        account: &AccountId,
        holder: &str,
        result: &PassAccountResult,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let state = match result.error {
            Some(_) => PassAccountState::Failed,
            None => PassAccountState::Done,
        };
        let updated = row::Entity::update_many()
            .col_expr(row::Column::State, Expr::value(state.as_str()))
            .col_expr(
                row::Column::LeaseExpiresAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(
                row::Column::Connectors,
                Expr::value(to_i64(result.connectors)),
            )
            .col_expr(row::Column::JobsNew, Expr::value(to_i64(result.jobs_new)))
            .col_expr(
                row::Column::AuditEventsNew,
                Expr::value(to_i64(result.audit_events_new)),
            )
            .col_expr(
                row::Column::RowsWritten,
                Expr::value(to_i64(result.rows_written)),
            )
            .col_expr(row::Column::Changes, Expr::value(to_i64(result.changes)))
            .col_expr(row::Column::Error, Expr::value(result.error.clone()))
            .col_expr(row::Column::FinishedAt, Expr::value(micros(now)))
            .filter(row::Column::RunId.eq(run.0))
            .filter(row::Column::AccountId.eq(account.to_string()))
            .filter(row::Column::Holder.eq(holder))
            .filter(row::Column::State.eq(PassAccountState::Claimed.as_str()))
            .exec(self.db())
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Every account of a pass, in list order.
    pub async fn pass_accounts(&self, run: SyncRunId) -> Result<Vec<PassAccountRecord>> {
        row::Entity::find()
            .filter(row::Column::RunId.eq(run.0))
            .order_by_asc(row::Column::Position)
            .all(self.db())
            .await?
            .into_iter()
            .map(|model| {
                Ok(PassAccountRecord {
                    account: account_id(TABLE, "account_id", &model.account_id)?,
                    state: PassAccountState::parse(&model.state).ok_or_else(|| {
                        crate::Error::corrupt(TABLE, "state", &model.state, "unknown state")
                    })?,
                    holder: model.holder,
                    attempts: u32::try_from(model.attempts).unwrap_or(0),
                    result: PassAccountResult {
                        connectors: to_u64(model.connectors),
                        jobs_new: to_u64(model.jobs_new),
                        audit_events_new: to_u64(model.audit_events_new),
                        rows_written: to_u64(model.rows_written),
                        changes: to_u64(model.changes),
                        error: model.error,
                    },
                })
            })
            .collect()
    }

    /// How many accounts of a pass are not finished yet (unclaimed or held).
    pub async fn unfinished_pass_accounts(&self, run: SyncRunId) -> Result<u64> {
        let count = row::Entity::find()
            .filter(row::Column::RunId.eq(run.0))
            .filter(row::Column::State.is_in([
                PassAccountState::Pending.as_str(),
                PassAccountState::Claimed.as_str(),
            ]))
            .count(self.db())
            .await?;
        Ok(count)
    }

    /// A pass of the integration with an account a worker could claim now, if any.
    pub async fn open_pass(
        &self,
        integration: IntegrationId,
        now: DateTime<Utc>,
    ) -> Result<Option<SyncRunId>> {
        // Only a running pass: a leader that stopped without clearing its list leaves
        // nothing anybody should pick up.
        let running = Query::select()
            .column(sync_run::Column::Id)
            .from(sync_run::Entity)
            .and_where(sync_run::Column::IntegrationId.eq(integration.0))
            .and_where(sync_run::Column::Outcome.eq(SyncOutcome::Running.as_str()))
            .to_owned();
        Ok(row::Entity::find()
            .select_only()
            .column(row::Column::RunId)
            .filter(row::Column::IntegrationId.eq(integration.0))
            .filter(row::Column::RunId.in_subquery(running))
            .filter(claimable(micros(now)))
            .limit(1)
            .into_tuple::<i64>()
            .one(self.reader())
            .await?
            .map(SyncRunId))
    }

    /// Takes the accounts nobody has claimed off a pass (it is stopping early); claimed
    /// ones stay, so their workers can still record what they did. Returns how many.
    pub async fn withdraw_pass_accounts(&self, run: SyncRunId) -> Result<u64> {
        let result = row::Entity::delete_many()
            .filter(row::Column::RunId.eq(run.0))
            .filter(row::Column::State.eq(PassAccountState::Pending.as_str()))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }

    /// Forgets the work list of a finished pass.
    pub async fn clear_pass_accounts(&self, run: SyncRunId) -> Result<u64> {
        let result = row::Entity::delete_many()
            .filter(row::Column::RunId.eq(run.0))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected)
    }
}

/// Forgets the work lists of an integration's passes; called with its runs left
/// running by a dead process, which no worker must pick up again.
pub(crate) async fn clear_integration_passes(
    conn: &impl sea_orm::ConnectionTrait,
    integration: IntegrationId,
) -> Result<u64> {
    let result = row::Entity::delete_many()
        .filter(row::Column::IntegrationId.eq(integration.0))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Accounts a worker may claim at `now`: unclaimed, or claimed under an expired lease.
fn claimable(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(row::Column::State.eq(PassAccountState::Pending.as_str()))
        .add(
            sea_orm::Condition::all()
                .add(row::Column::State.eq(PassAccountState::Claimed.as_str()))
                .add(row::Column::LeaseExpiresAt.lte(now)),
        )
}
