//! Entity of the `backup_jobs` table: a Keepit job (backup, restore, download) as the Job Monitor shows it.

use sea_orm::entity::prelude::*;

/// A Keepit job (backup, restore, download) as the Job Monitor shows it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_guid: String,
    pub connector_guid: String,
    pub account_guid: String,
    pub customer_id: Option<i64>,
    pub job_type: String,
    pub status: String,
    pub active: bool,
    pub scheduled_at: Option<DateTimeUtc>,
    pub start_at: Option<DateTimeUtc>,
    pub dispatched_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub succeeded_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub sort_time: DateTimeUtc,
    pub progress: Option<f64>,
    pub snapshot_at: Option<DateTimeUtc>,
    pub stats_kind: Option<String>,
    pub added_count: Option<i64>,
    pub added_bytes: Option<i64>,
    pub removed_count: Option<i64>,
    pub removed_bytes: Option<i64>,
    pub skipped_count: Option<i64>,
    pub skipped_bytes: Option<i64>,
    pub restored_count: Option<i64>,
    pub restored_bytes: Option<i64>,
    pub overwritten_count: Option<i64>,
    pub overwritten_bytes: Option<i64>,
    pub failure_reason_code: Option<String>,
    pub failure_reason_raw: Option<String>,
    pub failure_summary: Option<String>,
    pub description: Option<String>,
    /// Keepit's statistics as sent, a JSON array of [name, value] pairs.
    pub raw_stats: Option<String>,
    pub first_seen_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
