//! Entity of the `keepit_accounts` table: a Keepit child account and the customer it is linked to.

use sea_orm::entity::prelude::*;

/// A Keepit child account and the customer it is linked to.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "keepit_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: i64,
    pub account_guid: String,
    pub parent_guid: Option<String>,
    pub company_name: String,
    pub customer_id: Option<i64>,
    pub link_state: String,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
