//! One alert vocabulary: rule thresholds and per-customer overrides become one JSON
//! object each (keyed by threshold code, so a new threshold needs no schema change);
//! alert notices carry their severity; every delivery attempt is kept; Keepit's raw
//! job statistics are stored next to the parsed ones.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult};

use super::schema::{big, fk, index, name, pk, table, text_null, time};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_alert_vocabulary"
    }
}

/// The threshold columns this migration folds into `thresholds`, with their codes
/// (the codes are frozen here: later renames need a migration of their own).
const THRESHOLD_COLUMNS: [&str; 5] = [
    "stale_after_secs",
    "warn_after_secs",
    "lookback_secs",
    "min_consecutive_failures",
    "reminder_every_secs",
];

#[derive(Debug, FromQueryResult)]
struct OldThresholds {
    id: i64,
    stale_after_secs: Option<i64>,
    warn_after_secs: Option<i64>,
    lookback_secs: Option<i64>,
    /// A 32-bit column.
    min_consecutive_failures: Option<i32>,
    reminder_every_secs: Option<i64>,
}

impl OldThresholds {
    /// The JSON object: for a rule every threshold (a missing warning stage is
    /// `null`, switched off); for an override only the ones it set.
    fn json(&self, rule: bool) -> String {
        let mut object = serde_json::Map::new();
        let values = [
            self.stale_after_secs,
            self.warn_after_secs,
            self.lookback_secs,
            self.min_consecutive_failures.map(i64::from),
            self.reminder_every_secs,
        ];
        for (code, value) in THRESHOLD_COLUMNS.iter().zip(values) {
            // The old columns took any positive number; the vocabulary bounds counts to
            // 1..=1000 and durations to ten years. Clamp, so no rule becomes unreadable.
            let value = value.map(|value| {
                if code.ends_with("_secs") {
                    value.clamp(1, 3_660 * 86_400)
                } else {
                    value.clamp(1, 1_000)
                }
            });
            match value {
                Some(value) => {
                    object.insert((*code).to_owned(), value.into());
                }
                None if rule => {
                    object.insert((*code).to_owned(), serde_json::Value::Null);
                }
                None => {}
            }
        }
        serde_json::Value::Object(object).to_string()
    }
}

async fn fold_thresholds(manager: &SchemaManager<'_>, table_name: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut select = Query::select();
    select.column(name("id")).from(name(table_name));
    for column in THRESHOLD_COLUMNS {
        select.column(name(column));
    }
    let rows = OldThresholds::find_by_statement(backend.build(&select))
        .all(db)
        .await?;
    for row in rows {
        let update = Query::update()
            .table(name(table_name))
            .value(name("thresholds"), row.json(table_name == "alert_rules"))
            .and_where(Expr::col(name("id")).eq(row.id))
            .to_owned();
        db.execute(&update).await?;
    }
    for column in THRESHOLD_COLUMNS {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(name(table_name))
                    .drop_column(name(column))
                    .take(),
            )
            .await?;
    }
    Ok(())
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table_name in ["alert_rules", "alert_rule_overrides"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(name(table_name))
                        .add_column(
                            ColumnDef::new(name("thresholds"))
                                .text()
                                .not_null()
                                .default("{}")
                                .take(),
                        )
                        .take(),
                )
                .await?;
            fold_thresholds(manager, table_name).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(name("messages"))
                    .add_column(text_null("severity"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("backup_jobs"))
                    .add_column(text_null("raw_stats"))
                    .take(),
            )
            .await?;
        manager
            .create_table(table(
                "message_delivery_attempts",
                vec![pk(), big("delivery_id"), time("at"), text_null("error")],
                vec![fk(
                    "message_delivery_attempts",
                    "delivery_id",
                    "message_deliveries",
                    "id",
                    ForeignKeyAction::Cascade,
                )],
            ))
            .await?;
        manager
            .create_index(index("message_delivery_attempts", &["delivery_id"], false))
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Unfolding the JSON back into columns is not worth the risk of a second
        // conversion; restore a backup taken before the upgrade instead.
        Err(DbErr::Migration(
            "m20261129_000001_alert_vocabulary cannot be reverted; restore a backup".into(),
        ))
    }
}
