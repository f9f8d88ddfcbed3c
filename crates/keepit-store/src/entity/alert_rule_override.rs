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
    pub stale_after_secs: Option<i64>,
    pub warn_after_secs: Option<i64>,
    pub lookback_secs: Option<i64>,
    pub min_consecutive_failures: Option<i32>,
    pub reminder_every_secs: Option<i64>,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
