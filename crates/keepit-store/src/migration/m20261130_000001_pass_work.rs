//! The work list of a sync pass: one row per account the pass covers, so several sync
//! workers on one database can share a pass. A worker claims an account for a while
//! (a lease it renews), syncs it, and records what it did; an account whose worker died
//! is claimed again once its lease has expired.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{big, fk, index, int, name, pk, table, text, text_null, time_null};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000001_pass_work"
    }
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table(
                "sync_pass_accounts",
                vec![
                    pk(),
                    big("run_id"),
                    big("integration_id"),
                    text("account_id"),
                    text_null("parent_account_id"),
                    text("display_name"),
                    int("depth"),
                    big("position"),
                    text("state"),
                    text_null("holder"),
                    time_null("lease_expires_at"),
                    int("attempts"),
                    big("connectors"),
                    big("jobs_new"),
                    big("audit_events_new"),
                    big("rows_written"),
                    big("changes"),
                    text_null("error"),
                    time_null("finished_at"),
                ],
                vec![fk(
                    "sync_pass_accounts",
                    "run_id",
                    "sync_runs",
                    "id",
                    ForeignKeyAction::Cascade,
                )],
            ))
            .await?;
        manager
            .create_index(index("sync_pass_accounts", &["run_id", "account_id"], true))
            .await?;
        // Claims look for the next open account of a pass in list order.
        manager
            .create_index(index(
                "sync_pass_accounts",
                &["run_id", "state", "position"],
                false,
            ))
            .await?;
        manager
            .create_index(index(
                "sync_pass_accounts",
                &["integration_id", "state"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(name("sync_pass_accounts")).take())
            .await
    }
}
