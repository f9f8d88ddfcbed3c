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
    /// Every threshold by its code, as a JSON object (see `keepit_domain::Threshold`).
    pub thresholds: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
