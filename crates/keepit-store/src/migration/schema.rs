//! Column, table and index builders shared by the migrations.

use sea_orm_migration::prelude::*;

pub(super) fn name(text: &str) -> Alias {
    Alias::new(text)
}

pub(super) fn pk() -> ColumnDef {
    ColumnDef::new(name("id"))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

pub(super) fn text(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).text().not_null().take()
}

pub(super) fn text_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).text().null().take()
}

pub(super) fn big(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).big_integer().not_null().take()
}

pub(super) fn big_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).big_integer().null().take()
}

pub(super) fn int(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).integer().not_null().take()
}

pub(super) fn int_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).integer().null().take()
}

pub(super) fn boolean(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).boolean().not_null().take()
}

pub(super) fn boolean_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).boolean().null().take()
}

pub(super) fn time(column: &str) -> ColumnDef {
    ColumnDef::new(name(column))
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

pub(super) fn time_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column))
        .timestamp_with_time_zone()
        .null()
        .take()
}

pub(super) fn double_null(column: &str) -> ColumnDef {
    ColumnDef::new(name(column)).double().null().take()
}

/// A foreign key from `table.column` to `target.target_column`.
pub(super) fn fk(
    table: &str,
    column: &str,
    target: &str,
    target_column: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(name(table), name(column))
        .to(name(target), name(target_column))
        .on_delete(on_delete)
        .take()
}

pub(super) fn table(
    table_name: &str,
    columns: Vec<ColumnDef>,
    keys: Vec<ForeignKeyCreateStatement>,
) -> TableCreateStatement {
    let mut statement = Table::create();
    statement.table(name(table_name));
    for mut column in columns {
        statement.col(&mut column);
    }
    for mut key in keys {
        statement.foreign_key(&mut key);
    }
    statement.take()
}

/// The name [`index`] gives an index: `ix_` or `uq_`, the table, then the columns.
pub(super) fn index_name(table_name: &str, columns: &[&str], unique: bool) -> String {
    format!(
        "{}_{}_{}",
        if unique { "uq" } else { "ix" },
        table_name,
        columns.join("_")
    )
}

pub(super) fn index(table_name: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement
        .name(index_name(table_name, columns, unique))
        .table(name(table_name));
    for column in columns {
        statement.col(name(column));
    }
    if unique {
        statement.unique();
    }
    statement.take()
}
