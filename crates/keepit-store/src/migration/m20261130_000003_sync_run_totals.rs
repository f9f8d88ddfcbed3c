//! Totals of purged sync runs. Retention deletes old runs, but the monitoring counters
//! made from them (runs by outcome, Keepit requests by answer, the duration histogram)
//! must never go down: each purge adds what it deletes to these named totals first.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{big, index, name, pk, table, text};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000003_sync_run_totals"
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
                "sync_run_totals",
                vec![pk(), text("name"), big("value")],
                vec![],
            ))
            .await?;
        manager
            .create_index(index("sync_run_totals", &["name"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(name("sync_run_totals")).to_owned())
            .await
    }
}
