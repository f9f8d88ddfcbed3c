//! Entity of the `sync_pass_accounts` table: the accounts of a sync pass, who is
//! syncing each, and what each sync did.

use sea_orm::entity::prelude::*;

/// One account of a sync pass.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_pass_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub integration_id: i64,
    pub account_id: String,
    pub parent_account_id: Option<String>,
    pub display_name: String,
    pub depth: i32,
    pub position: i64,
    pub state: String,
    pub holder: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub connectors: i64,
    pub jobs_new: i64,
    pub audit_events_new: i64,
    pub rows_written: i64,
    pub changes: i64,
    pub error: Option<String>,
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
