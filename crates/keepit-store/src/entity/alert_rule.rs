//! Entity of the `alert_rules` table: an alert rule with its thresholds.

use sea_orm::entity::prelude::*;

/// An alert rule with its thresholds.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_rules")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub scope: String,
    pub scope_value: Option<String>,
    pub stale_after_secs: i64,
    pub warn_after_secs: Option<i64>,
    pub lookback_secs: i64,
    pub min_consecutive_failures: i32,
    pub reminder_every_secs: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
