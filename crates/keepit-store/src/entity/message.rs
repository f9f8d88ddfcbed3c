//! Entity of the `messages` table: an in-app message, stored once per dedup key.

use sea_orm::entity::prelude::*;

/// An in-app message, stored once per dedup key.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub customer_id: Option<i64>,
    pub connector_guid: Option<String>,
    pub job_guid: Option<String>,
    pub dedup_key: String,
    /// For alert notices: the alert's severity.
    pub severity: Option<String>,
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
