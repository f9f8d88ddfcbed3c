//! Entity of the `sync_leases` table: which process currently syncs an integration, and until when.

use sea_orm::entity::prelude::*;

/// Which process currently syncs an integration, and until when.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_leases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub holder: String,
    pub acquired_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
