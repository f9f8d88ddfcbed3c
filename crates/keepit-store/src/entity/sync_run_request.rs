//! Entity of the `sync_run_requests` table: a sync run's Keepit requests by answer.

use sea_orm::entity::prelude::*;

/// How many of a sync run's Keepit requests got one answer (`200`, `429`, `no_answer`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_run_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub sync_run_id: i64,
    pub status: String,
    pub requests: i64,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
