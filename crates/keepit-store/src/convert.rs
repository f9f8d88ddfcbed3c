//! Small conversions between stored columns and domain values, shared by the repositories.

use chrono::{DateTime, SubsecRound, Utc};
use keepit_domain::{AccountId, ConnectorId, JobId};
use sea_orm::sea_query::{Value, Values};
use sea_orm::{DbBackend, Statement};

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

/// Writes the `LIMIT`s of a SQLite statement into its text instead of binding them.
///
/// The bundled SQLite is built with STAT4, and a bound value the query planner looked
/// at (a `LIMIT` is one) marks the prepared statement as expired whenever it is bound
/// again, so every run parsed and planned the query anew. Page sizes are our own
/// numbers, never caller text, so writing them into the SQL is safe, and it keeps one
/// cached prepared statement per query shape. Other backends are left as they are.
pub(crate) fn literal_limits(statement: Statement) -> Statement {
    if statement.db_backend != DbBackend::Sqlite {
        return statement;
    }
    let Some(Values(values)) = statement.values else {
        return statement;
    };
    let mut sql = String::with_capacity(statement.sql.len());
    let mut kept = Vec::with_capacity(values.len());
    let mut values = values.into_iter();
    let mut rest = statement.sql.as_str();
    // sea-query binds every caller value, so a `?` in the text is always a placeholder.
    while let Some(at) = rest.find('?') {
        let head = &rest[..at];
        sql.push_str(head);
        match values.next() {
            Some(Value::BigUnsigned(Some(limit))) if head.ends_with(" LIMIT ") => {
                sql.push_str(&limit.to_string());
            }
            Some(value) => {
                sql.push('?');
                kept.push(value);
            }
            None => sql.push('?'),
        }
        rest = &rest[at + 1..];
    }
    sql.push_str(rest);
    kept.extend(values);
    Statement {
        sql,
        values: Some(Values(kept)),
        db_backend: statement.db_backend,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

    use super::*;

    #[test]
    fn limits_become_literals_on_sqlite_only() {
        let inner = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("jobs"))
            .and_where(Expr::col(Alias::new("status")).eq("failed?"))
            .limit(51)
            .take();
        let outer = Query::select()
            .column(Alias::new("id"))
            .from_subquery(inner, Alias::new("page"))
            .and_where(Expr::col(Alias::new("id")).gt(7))
            .limit(11)
            .take();
        let sqlite = literal_limits(DbBackend::Sqlite.build(&outer));
        assert!(sqlite.sql.contains("LIMIT 51)"), "{}", sqlite.sql);
        assert!(sqlite.sql.ends_with("LIMIT 11"), "{}", sqlite.sql);
        assert_eq!(sqlite.sql.matches('?').count(), 2, "{}", sqlite.sql);
        assert_eq!(
            sqlite.values,
            Some(Values(vec![Value::from("failed?"), Value::from(7)]))
        );
        let postgres = DbBackend::Postgres.build(&outer);
        assert_eq!(literal_limits(postgres.clone()), postgres);
    }
}
