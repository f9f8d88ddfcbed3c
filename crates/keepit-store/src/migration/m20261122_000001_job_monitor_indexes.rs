//! Job Monitor indexes that serve a filter, the newest-first order and the cursor from
//! one index range.
//!
//! The first release indexed each filter column with `sort_time` only. SQLite appends
//! the row id to every index, but PostgreSQL does not, so a page had to be sorted again
//! by `id`; and a customer plus status filter, the Job Monitor's most common view, had
//! to pick one of the two indexes and read past every row of the other's values. These
//! indexes end in `(sort_time, id)`, and customer plus status gets its own.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{index, index_name, name};

/// Replaces the Job Monitor indexes of the first release.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_job_monitor_indexes"
    }
}

const TABLE: &str = "backup_jobs";

/// The first release's indexes that this migration replaces.
const REPLACED: &[&[&str]] = &[
    &["customer_id", "sort_time"],
    &["connector_guid", "sort_time"],
    &["account_guid", "sort_time"],
    &["status", "sort_time"],
    &["job_type", "sort_time"],
];

/// The new ones: every filter prefix followed by the full sort key.
const CREATED: &[&[&str]] = &[
    &["customer_id", "status", "sort_time", "id"],
    &["customer_id", "sort_time", "id"],
    &["connector_guid", "sort_time", "id"],
    &["account_guid", "sort_time", "id"],
    &["status", "sort_time", "id"],
    &["job_type", "sort_time", "id"],
];

fn drop(columns: &[&str]) -> IndexDropStatement {
    Index::drop()
        .name(index_name(TABLE, columns, false))
        .table(name(TABLE))
        .to_owned()
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for columns in CREATED {
            manager.create_index(index(TABLE, columns, false)).await?;
        }
        for columns in REPLACED {
            manager.drop_index(drop(columns)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for columns in REPLACED {
            manager.create_index(index(TABLE, columns, false)).await?;
        }
        for columns in CREATED {
            manager.drop_index(drop(columns)).await?;
        }
        Ok(())
    }
}
