//! Entity of the `alert_transitions` table: one recorded change of an alert.

use sea_orm::entity::prelude::*;

/// One recorded change of an alert.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_transitions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub alert_id: i64,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: DateTimeUtc,
    pub note: Option<String>,
    pub user_id: Option<i64>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
