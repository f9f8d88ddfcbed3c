//! Entity of the `backup_connectors` table: a Keepit connector ("device"); never hard-deleted.

use sea_orm::entity::prelude::*;

/// A Keepit connector ("device"); never hard-deleted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_connectors")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub connector_guid: String,
    pub account_guid: String,
    pub customer_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub keepit_created_at: Option<DateTimeUtc>,
    pub accessible: bool,
    pub deletion_deadline: Option<DateTimeUtc>,
    pub backup_retention: Option<String>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
