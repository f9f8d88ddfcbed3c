//! Entity of the `alert_rule_overrides` table: per-customer overrides of one rule's thresholds.

use sea_orm::entity::prelude::*;

/// Per-customer overrides of one rule's thresholds.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_rule_overrides")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub rule_id: i64,
    pub customer_id: i64,
    pub enabled: Option<bool>,
    /// The thresholds this customer changes, as a JSON object by threshold code.
    pub thresholds: String,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
