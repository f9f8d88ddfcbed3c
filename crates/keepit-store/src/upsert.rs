//! What a batched upsert did.

/// Rows an upsert inserted and changed. Rows that were already stored exactly as given
/// are neither, and were not written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Rows that did not exist before.
    pub inserted: u64,
    /// Existing rows whose content changed.
    pub changed: u64,
}

impl UpsertCounts {
    /// Inserted plus changed.
    pub fn written(&self) -> u64 {
        self.inserted + self.changed
    }
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, other: UpsertCounts) {
        self.inserted += other.inserted;
        self.changed += other.changed;
    }
}

/// Keeps the last occurrence of each key, in first-occurrence order: Postgres refuses
/// an `ON CONFLICT DO UPDATE` statement that touches the same row twice.
pub(crate) fn dedup_last<T, K: std::hash::Hash + Eq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<&T> {
    let mut index = std::collections::HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match index.entry(key(item)) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()] = item,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

/// A multi-row `INSERT ... ON CONFLICT ...` written as SQL text with bound values.
///
/// The two tables a sync writes most (jobs and audit events) go through this instead of
/// `insert_many` on active models: the statement text depends only on the row count, so
/// it is built once per chunk size, and values go straight into the statement without
/// per-value expression trees. That keeps a batch within reach of a hand-written INSERT.
pub(crate) struct MultiRowInsert<'a> {
    /// Table name.
    pub(crate) table: &'a str,
    /// Inserted columns, in the order of each row's values.
    pub(crate) columns: &'a [&'a str],
    /// Everything after `VALUES (...)`: the `ON CONFLICT` clause.
    pub(crate) on_conflict: &'a str,
}

impl MultiRowInsert<'_> {
    fn sql(&self, backend: sea_orm::DbBackend, rows: usize) -> String {
        use std::fmt::Write;
        let width = self.columns.len();
        let mut sql = String::with_capacity(
            64 + self.columns.len() * 24 + rows * width * 5 + self.on_conflict.len(),
        );
        let _ = write!(sql, "INSERT INTO \"{}\" (", self.table);
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "\"{column}\"");
        }
        sql.push_str(") VALUES ");
        let mut parameter = 0;
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..width {
                if column > 0 {
                    sql.push_str(", ");
                }
                parameter += 1;
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        let _ = write!(sql, "${parameter}");
                    }
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(self.on_conflict);
        sql
    }

    /// Inserts `rows` (each with one value per column) in as few statements as the
    /// backend's parameter limit allows; returns the rows the database reports as
    /// inserted or updated.
    pub(crate) async fn execute<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<Vec<sea_orm::Value>>,
    ) -> Result<u64, sea_orm::DbErr> {
        let backend = conn.get_database_backend();
        let per_statement = crate::convert::rows_per_statement(backend, self.columns.len());
        let mut full_sql: Option<String> = None;
        let mut affected = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<sea_orm::Value>> = rows.by_ref().take(per_statement).collect();
            let sql = if chunk.len() == per_statement {
                full_sql
                    .get_or_insert_with(|| self.sql(backend, per_statement))
                    .clone()
            } else {
                self.sql(backend, chunk.len())
            };
            let values = chunk.into_iter().flatten();
            let statement = sea_orm::Statement::from_sql_and_values(backend, sql, values);
            affected += conn.execute_raw(statement).await?.rows_affected();
        }
        Ok(affected)
    }
}
