//! Day-two operations: an integration shows how its latest sync ended, and holds a
//! "sync now" request until a daemon takes it.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{name, text_null, time_null};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000002_day_two"
    }
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            text_null("last_sync_outcome"),
            time_null("sync_requested_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(name("keepit_integrations"))
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["sync_requested_at", "last_sync_outcome"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(name("keepit_integrations"))
                        .drop_column(name(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
