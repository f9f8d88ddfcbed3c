//! Entity of the `alerts` table: one alert of one rule about one connector.

use sea_orm::entity::prelude::*;

/// One alert of one rule about one connector.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub rule_id: i64,
    pub connector_guid: String,
    pub account_guid: String,
    pub customer_id: Option<i64>,
    pub state: String,
    pub severity: String,
    pub reason_code: Option<String>,
    pub reason_raw: Option<String>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub opened_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub last_notified_at: Option<DateTimeUtc>,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<i64>,
    pub silenced_until: Option<DateTimeUtc>,
    pub open_key: Option<String>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
