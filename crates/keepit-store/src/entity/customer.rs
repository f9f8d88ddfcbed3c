//! Entity of the `customers` table: a customer of the MSP: imported from the PSA or created for a Keepit account.

use sea_orm::entity::prelude::*;

/// A customer of the MSP: imported from the PSA or created for a Keepit account.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub external_id: Option<String>,
    pub source: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
