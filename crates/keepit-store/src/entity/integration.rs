//! Entity of the `keepit_integrations` table: a Keepit parent connection with its encrypted credentials.

use sea_orm::entity::prelude::*;

/// A Keepit parent connection with its encrypted credentials.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "keepit_integrations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub region: Option<String>,
    pub base_url: Option<String>,
    pub parent_account_guid: String,
    pub credentials: String,
    pub enabled: bool,
    pub last_sync_at: Option<DateTimeUtc>,
    /// How the latest run ended (`ok`, `partial`, `failed`, ...).
    pub last_sync_outcome: Option<String>,
    /// A "sync now" waiting for a daemon; several requests collapse into this one.
    pub sync_requested_at: Option<DateTimeUtc>,
    /// Keepit requests kept in flight at once by one sync of it.
    pub concurrency: i32,
    /// Time one attempt of one Keepit request may take, in seconds.
    pub request_timeout_secs: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
