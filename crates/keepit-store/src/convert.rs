//! Small conversions between stored columns and domain values, shared by the repositories.

use chrono::{DateTime, SubsecRound, Utc};
use keepit_domain::{AccountId, ConnectorId, JobId};
use sea_orm::DbBackend;

use crate::error::{Error, Result};

/// Truncates to whole microseconds: PostgreSQL keeps microseconds, SQLite would keep
/// nanoseconds, and values must compare equal after a round trip through either.
pub(crate) fn micros(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

pub(crate) fn opt_micros(time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    time.map(micros)
}

/// Counts and sizes are `u64` in the domain and `BIGINT` in the database.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn account_id(
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<AccountId> {
    AccountId::new(value).map_err(|error| Error::corrupt(table, column, value, error))
}

pub(crate) fn connector_id(
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<ConnectorId> {
    ConnectorId::new(value).map_err(|error| Error::corrupt(table, column, value, error))
}

pub(crate) fn job_id(table: &'static str, column: &'static str, value: &str) -> Result<JobId> {
    JobId::new(value).map_err(|error| Error::corrupt(table, column, value, error))
}

/// Largest number of bind parameters one statement may carry on `backend`
/// (SQLite: 32766; PostgreSQL: 65535), with a margin.
pub(crate) fn max_params(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 60_000,
        _ => 30_000,
    }
}

/// Rows per multi-row statement for a table with `columns` bound columns.
pub(crate) fn rows_per_statement(backend: DbBackend, columns: usize) -> usize {
    (max_params(backend) / columns.max(1)).clamp(1, 2_000)
}

/// SQL for "the stored column differs from the proposed one", NULL-safe on both backends.
pub(crate) fn distinct_from_excluded(table: &str, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|column| format!("\"{table}\".\"{column}\" IS DISTINCT FROM excluded.\"{column}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}
