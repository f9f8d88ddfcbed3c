//! Entity of the `sync_cursors` table: how far one stream of one account or connector has been synced.

use sea_orm::entity::prelude::*;

/// How far one stream of one account or connector has been synced.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_cursors")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub account_guid: String,
    pub connector_guid: String,
    pub stream: String,
    pub position: String,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
