//! Day-two operations: an integration shows how its latest sync ended, holds a
//! "sync now" request until a daemon takes it, and carries its own connection
//! settings (requests in flight, time per request).

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{name, text_null, time_null};

/// The settings' values for integrations that existed before them, the same as the
/// defaults of `IntegrationSettings`.
const CONCURRENCY: i32 = 5;
const REQUEST_TIMEOUT_SECS: i32 = 30;

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
            ColumnDef::new(name("concurrency"))
                .integer()
                .not_null()
                .default(CONCURRENCY)
                .take(),
            ColumnDef::new(name("request_timeout_secs"))
                .integer()
                .not_null()
                .default(REQUEST_TIMEOUT_SECS)
                .take(),
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
        for column in [
            "request_timeout_secs",
            "concurrency",
            "sync_requested_at",
            "last_sync_outcome",
        ] {
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
