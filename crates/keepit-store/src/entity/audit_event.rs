//! Entity of the `backup_audit_events` table: one Keepit audit record, deduplicated by its content hash.

use sea_orm::entity::prelude::*;

/// One Keepit audit record, deduplicated by its content hash.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub content_hash: String,
    pub occurred_at: DateTimeUtc,
    pub account_guid: String,
    pub customer_id: Option<i64>,
    pub connector_guid: Option<String>,
    pub actor: Option<String>,
    pub client_network: Option<String>,
    pub acl: String,
    pub method: String,
    pub allowed: Option<bool>,
    pub succeeded: Option<bool>,
    pub area: String,
    pub category: String,
    pub message: String,
    pub metadata: String,
    pub first_seen_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
