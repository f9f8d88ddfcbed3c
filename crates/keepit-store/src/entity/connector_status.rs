//! Entity of the `backup_connector_status` table: the latest known backup state of one connector.

use sea_orm::entity::prelude::*;

/// The latest known backup state of one connector.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_connector_status")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub connector_guid: String,
    pub latest_snapshot_at: Option<DateTimeUtc>,
    pub latest_snapshot_kind: Option<String>,
    pub latest_snapshot_size: Option<i64>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_job_status: Option<String>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub health: String,
    pub health_reason: Option<String>,
    pub error_code: Option<String>,
    pub failure_reason_code: Option<String>,
    pub failure_reason_raw: Option<String>,
    pub checked_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
