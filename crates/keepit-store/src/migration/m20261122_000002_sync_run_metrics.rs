//! What `/metrics` needs from sync runs: each run's duration as a number the database
//! can bucket, and the Keepit requests of each run by how they were answered.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{big, big_null, fk, index, name, pk, table, text};

/// Adds `sync_runs.duration_ms` and the `sync_run_requests` table.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_sync_run_metrics"
    }
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Runs recorded before this migration keep no duration; they still count by
        // outcome, and are left out of the duration histogram.
        manager
            .alter_table(
                Table::alter()
                    .table(name("sync_runs"))
                    .add_column(big_null("duration_ms"))
                    .take(),
            )
            .await?;
        manager
            .create_table(table(
                "sync_run_requests",
                vec![
                    pk(),
                    big("sync_run_id"),
                    // An HTTP status such as "200" or "429", or "no_answer".
                    text("status"),
                    big("requests"),
                ],
                vec![fk(
                    "sync_run_requests",
                    "sync_run_id",
                    "sync_runs",
                    "id",
                    ForeignKeyAction::Cascade,
                )],
            ))
            .await?;
        manager
            .create_index(index("sync_run_requests", &["sync_run_id", "status"], true))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(name("sync_run_requests")).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("sync_runs"))
                    .drop_column(name("duration_ms"))
                    .take(),
            )
            .await?;
        Ok(())
    }
}
