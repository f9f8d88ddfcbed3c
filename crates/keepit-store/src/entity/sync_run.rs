//! Entity of the `sync_runs` table: one sync pass and what it did.

use sea_orm::entity::prelude::*;

/// One sync pass and what it did.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: Option<i64>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub outcome: String,
    pub accounts: i64,
    pub accounts_failed: i64,
    pub connectors: i64,
    pub jobs_new: i64,
    pub audit_events_new: i64,
    pub requests: i64,
    pub errors: String,
    pub duration_ms: Option<i64>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
