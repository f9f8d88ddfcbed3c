//! Browser sign-in: a password hash per user (argon2id; none until one is set) and
//! the sessions of signed-in browsers, keyed by the hash of their cookie.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;

use super::schema::{big, fk, index, name, pk, table, text, text_null, time};

/// See the module documentation.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000003_web_sign_in"
    }
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(name("users"))
                    .add_column(text_null("password_hash"))
                    .take(),
            )
            .await?;
        manager
            .create_table(table(
                "web_sessions",
                vec![
                    pk(),
                    big("user_id"),
                    text("token_hash"),
                    text("csrf_token"),
                    time("created_at"),
                    time("last_seen_at"),
                ],
                vec![fk(
                    "web_sessions",
                    "user_id",
                    "users",
                    "id",
                    ForeignKeyAction::Cascade,
                )],
            ))
            .await?;
        manager
            .create_index(index("web_sessions", &["token_hash"], true))
            .await?;
        manager
            .create_index(index("web_sessions", &["last_seen_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(name("web_sessions")).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(name("users"))
                    .drop_column(name("password_hash"))
                    .take(),
            )
            .await
    }
}
