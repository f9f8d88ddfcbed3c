//! PSA connections (sealed credentials, ticket settings) and the tickets opened for
//! alerts in them.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{
    big, big_null, boolean, fk, index, int, name, pk, table, text, text_null, time, time_null,
};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000002_psa"
    }
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table(
                "psa_connections",
                vec![
                    pk(),
                    text("name"),
                    text("kind"),
                    text("base_url"),
                    text("credentials"),
                    text("settings"),
                    boolean("enabled"),
                    time_null("last_import_at"),
                    text_null("last_error"),
                    time("created_at"),
                    time("updated_at"),
                ],
                vec![],
            ))
            .await?;
        manager
            .create_index(index("psa_connections", &["name"], true))
            .await?;
        manager
            .create_table(table(
                "psa_tickets",
                vec![
                    pk(),
                    big("connection_id"),
                    big_null("alert_id"),
                    big("rule_id"),
                    text("connector_id"),
                    big_null("customer_id"),
                    text("ticket_key"),
                    text("ticket_id"),
                    text("company_id"),
                    text("state"),
                    text_null("opened_status"),
                    int("notes"),
                    text_null("last_error"),
                    time("created_at"),
                    time("updated_at"),
                    time_null("last_note_at"),
                    time_null("closed_at"),
                ],
                vec![fk(
                    "psa_tickets",
                    "connection_id",
                    "psa_connections",
                    "id",
                    ForeignKeyAction::Cascade,
                )],
            ))
            .await?;
        manager
            .create_index(index("psa_tickets", &["connection_id", "alert_id"], false))
            .await?;
        manager
            .create_index(index(
                "psa_tickets",
                &["connection_id", "ticket_key", "created_at"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(name("psa_tickets")).take())
            .await?;
        manager
            .drop_table(Table::drop().table(name("psa_connections")).take())
            .await
    }
}
