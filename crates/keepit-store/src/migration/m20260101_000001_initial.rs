//! The initial schema: every table of SPEC §5, its indexes and the two default alert rules.

use sea_orm_migration::async_trait;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use super::schema::{
    big, big_null, boolean, boolean_null, double_null, fk, index, int, int_null, name, pk, table,
    text, text_null, time, time_null,
};

/// Creates the whole schema of the first release.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20260101_000001_initial"
    }
}

/// Tables in creation order (referenced tables first); dropped in reverse.
const TABLES: &[&str] = &[
    "keepit_integrations",
    "customers",
    "keepit_accounts",
    "backup_connectors",
    "backup_connector_status",
    "backup_jobs",
    "backup_audit_events",
    "users",
    "api_tokens",
    "alert_rules",
    "alert_rule_overrides",
    "alerts",
    "alert_transitions",
    "messages",
    "message_recipients",
    "message_deliveries",
    "sync_runs",
    "sync_cursors",
    "sync_leases",
];

fn tables() -> Vec<TableCreateStatement> {
    use ForeignKeyAction::{Cascade, Restrict, SetNull};
    vec![
        table(
            "keepit_integrations",
            vec![
                pk(),
                text("name"),
                text_null("region"),
                text_null("base_url"),
                text("parent_account_guid"),
                text("credentials"),
                boolean("enabled"),
                time_null("last_sync_at"),
                time("created_at"),
                time("updated_at"),
            ],
            vec![],
        ),
        table(
            "customers",
            vec![
                pk(),
                text("name"),
                text("normalized_name"),
                text_null("external_id"),
                text("source"),
                time("created_at"),
                time("updated_at"),
            ],
            vec![],
        ),
        table(
            "keepit_accounts",
            vec![
                pk(),
                big("integration_id"),
                text("account_guid"),
                text_null("parent_guid"),
                text("company_name"),
                big_null("customer_id"),
                text("link_state"),
                time("first_seen_at"),
                time("last_seen_at"),
                time_null("removed_at"),
                time("updated_at"),
            ],
            vec![
                fk(
                    "keepit_accounts",
                    "integration_id",
                    "keepit_integrations",
                    "id",
                    Cascade,
                ),
                fk("keepit_accounts", "customer_id", "customers", "id", SetNull),
            ],
        ),
        table(
            "backup_connectors",
            vec![
                pk(),
                // Inline UNIQUE: PostgreSQL needs it before other tables can reference the column.
                text("connector_guid").unique_key().take(),
                text("account_guid"),
                big_null("customer_id"),
                text("name"),
                text("kind"),
                time_null("keepit_created_at"),
                boolean("accessible"),
                time_null("deletion_deadline"),
                text_null("backup_retention"),
                time("first_seen_at"),
                time("last_seen_at"),
                time_null("removed_at"),
                time("updated_at"),
            ],
            vec![fk(
                "backup_connectors",
                "customer_id",
                "customers",
                "id",
                SetNull,
            )],
        ),
        table(
            "backup_connector_status",
            vec![
                pk(),
                text("connector_guid"),
                time_null("latest_snapshot_at"),
                text_null("latest_snapshot_kind"),
                big_null("latest_snapshot_size"),
                time_null("last_success_at"),
                text_null("last_job_status"),
                time_null("last_attempt_at"),
                text("health"),
                text_null("health_reason"),
                text_null("error_code"),
                text_null("failure_reason_code"),
                text_null("failure_reason_raw"),
                time("checked_at"),
                time("updated_at"),
            ],
            vec![fk(
                "backup_connector_status",
                "connector_guid",
                "backup_connectors",
                "connector_guid",
                Cascade,
            )],
        ),
        table(
            "backup_jobs",
            vec![
                pk(),
                text("job_guid"),
                text("connector_guid"),
                text("account_guid"),
                big_null("customer_id"),
                text("job_type"),
                text("status"),
                boolean("active"),
                time_null("scheduled_at"),
                time_null("start_at"),
                time_null("dispatched_at"),
                time_null("started_at"),
                time_null("succeeded_at"),
                time_null("failed_at"),
                time_null("cancelled_at"),
                time_null("ended_at"),
                time("sort_time"),
                double_null("progress"),
                time_null("snapshot_at"),
                text_null("stats_kind"),
                big_null("added_count"),
                big_null("added_bytes"),
                big_null("removed_count"),
                big_null("removed_bytes"),
                big_null("skipped_count"),
                big_null("skipped_bytes"),
                big_null("restored_count"),
                big_null("restored_bytes"),
                big_null("overwritten_count"),
                big_null("overwritten_bytes"),
                text_null("failure_reason_code"),
                text_null("failure_reason_raw"),
                text_null("failure_summary"),
                text_null("description"),
                time("first_seen_at"),
                time("updated_at"),
            ],
            vec![
                fk(
                    "backup_jobs",
                    "connector_guid",
                    "backup_connectors",
                    "connector_guid",
                    Restrict,
                ),
                fk("backup_jobs", "customer_id", "customers", "id", SetNull),
            ],
        ),
        table(
            "backup_audit_events",
            vec![
                pk(),
                text("content_hash"),
                time("occurred_at"),
                text("account_guid"),
                big_null("customer_id"),
                text_null("connector_guid"),
                text_null("actor"),
                text_null("client_network"),
                text("acl"),
                text("method"),
                boolean_null("allowed"),
                boolean_null("succeeded"),
                text("area"),
                text("category"),
                text("message"),
                text("metadata"),
                time("first_seen_at"),
            ],
            vec![fk(
                "backup_audit_events",
                "customer_id",
                "customers",
                "id",
                SetNull,
            )],
        ),
        table(
            "users",
            vec![
                pk(),
                text("email"),
                text("name"),
                text("role"),
                boolean("primary_admin"),
                text("message_preference"),
                time("created_at"),
                time("updated_at"),
            ],
            vec![],
        ),
        table(
            "api_tokens",
            vec![
                pk(),
                big("user_id"),
                text("label"),
                text("token_hash"),
                time("created_at"),
                time_null("last_used_at"),
                time_null("revoked_at"),
            ],
            vec![fk("api_tokens", "user_id", "users", "id", Cascade)],
        ),
        table(
            "alert_rules",
            vec![
                pk(),
                text("kind"),
                text("name"),
                boolean("enabled"),
                text("scope"),
                text_null("scope_value"),
                big("stale_after_secs"),
                big_null("warn_after_secs"),
                big("lookback_secs"),
                int("min_consecutive_failures"),
                big("reminder_every_secs"),
                time("created_at"),
                time("updated_at"),
            ],
            vec![],
        ),
        table(
            "alert_rule_overrides",
            vec![
                pk(),
                big("rule_id"),
                big("customer_id"),
                boolean_null("enabled"),
                big_null("stale_after_secs"),
                big_null("warn_after_secs"),
                big_null("lookback_secs"),
                int_null("min_consecutive_failures"),
                big_null("reminder_every_secs"),
                time("updated_at"),
            ],
            vec![
                fk(
                    "alert_rule_overrides",
                    "rule_id",
                    "alert_rules",
                    "id",
                    Cascade,
                ),
                fk(
                    "alert_rule_overrides",
                    "customer_id",
                    "customers",
                    "id",
                    Cascade,
                ),
            ],
        ),
        table(
            "alerts",
            vec![
                pk(),
                big("rule_id"),
                text("connector_guid"),
                text("account_guid"),
                big_null("customer_id"),
                text("state"),
                text("severity"),
                text_null("reason_code"),
                text_null("reason_raw"),
                time_null("last_success_at"),
                time_null("last_attempt_at"),
                time("opened_at"),
                time("updated_at"),
                time_null("resolved_at"),
                time_null("last_notified_at"),
                time_null("acknowledged_at"),
                big_null("acknowledged_by"),
                time_null("silenced_until"),
                text_null("open_key"),
            ],
            vec![
                fk("alerts", "rule_id", "alert_rules", "id", Cascade),
                fk(
                    "alerts",
                    "connector_guid",
                    "backup_connectors",
                    "connector_guid",
                    Cascade,
                ),
                fk("alerts", "customer_id", "customers", "id", SetNull),
                fk("alerts", "acknowledged_by", "users", "id", SetNull),
            ],
        ),
        table(
            "alert_transitions",
            vec![
                pk(),
                big("alert_id"),
                text("event"),
                text_null("from_state"),
                text("to_state"),
                time("at"),
                text_null("note"),
                big_null("user_id"),
            ],
            vec![
                fk("alert_transitions", "alert_id", "alerts", "id", Cascade),
                fk("alert_transitions", "user_id", "users", "id", SetNull),
            ],
        ),
        table(
            "messages",
            vec![
                pk(),
                text("kind"),
                text("subject"),
                text("body"),
                big_null("customer_id"),
                text_null("connector_guid"),
                text_null("job_guid"),
                text("dedup_key"),
                time("created_at"),
            ],
            vec![fk("messages", "customer_id", "customers", "id", SetNull)],
        ),
        table(
            "message_recipients",
            vec![
                pk(),
                big("message_id"),
                big("user_id"),
                time_null("read_at"),
            ],
            vec![
                fk(
                    "message_recipients",
                    "message_id",
                    "messages",
                    "id",
                    Cascade,
                ),
                fk("message_recipients", "user_id", "users", "id", Cascade),
            ],
        ),
        table(
            "message_deliveries",
            vec![
                pk(),
                big("message_id"),
                text("channel"),
                text("target"),
                text("status"),
                int("attempts"),
                text_null("last_error"),
                time_null("delivered_at"),
                time_null("next_attempt_at"),
                time("created_at"),
            ],
            vec![fk(
                "message_deliveries",
                "message_id",
                "messages",
                "id",
                Cascade,
            )],
        ),
        table(
            "sync_runs",
            vec![
                pk(),
                big_null("integration_id"),
                time("started_at"),
                time_null("finished_at"),
                text("outcome"),
                big("accounts"),
                big("accounts_failed"),
                big("connectors"),
                big("jobs_new"),
                big("audit_events_new"),
                big("requests"),
                text("errors"),
            ],
            vec![fk(
                "sync_runs",
                "integration_id",
                "keepit_integrations",
                "id",
                SetNull,
            )],
        ),
        table(
            "sync_cursors",
            vec![
                pk(),
                big("integration_id"),
                text("account_guid"),
                text("connector_guid"),
                text("stream"),
                text("position"),
                time("updated_at"),
            ],
            vec![fk(
                "sync_cursors",
                "integration_id",
                "keepit_integrations",
                "id",
                Cascade,
            )],
        ),
        table(
            "sync_leases",
            vec![
                pk(),
                big("integration_id"),
                text("holder"),
                time("acquired_at"),
                time("expires_at"),
            ],
            vec![fk(
                "sync_leases",
                "integration_id",
                "keepit_integrations",
                "id",
                Cascade,
            )],
        ),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("keepit_integrations", &["parent_account_guid"], true),
        index("customers", &["external_id"], true),
        index("customers", &["normalized_name"], false),
        index("keepit_accounts", &["account_guid"], true),
        index("keepit_accounts", &["customer_id"], false),
        index("backup_connectors", &["account_guid"], false),
        index("backup_connectors", &["customer_id"], false),
        index("backup_connector_status", &["connector_guid"], true),
        index("backup_jobs", &["job_guid"], true),
        // The Job Monitor orders by (sort_time desc, id desc) and filters by customer,
        // connector, status and type; each filter has an index that ends in the sort key.
        index("backup_jobs", &["sort_time", "id"], false),
        index("backup_jobs", &["customer_id", "sort_time"], false),
        index("backup_jobs", &["connector_guid", "sort_time"], false),
        index("backup_jobs", &["account_guid", "sort_time"], false),
        index("backup_jobs", &["status", "sort_time"], false),
        index("backup_jobs", &["job_type", "sort_time"], false),
        index("backup_jobs", &["customer_id", "ended_at"], false),
        index("backup_audit_events", &["content_hash"], true),
        index("backup_audit_events", &["occurred_at"], false),
        index(
            "backup_audit_events",
            &["customer_id", "occurred_at"],
            false,
        ),
        index(
            "backup_audit_events",
            &["account_guid", "occurred_at"],
            false,
        ),
        index(
            "backup_audit_events",
            &["connector_guid", "occurred_at"],
            false,
        ),
        index("users", &["email"], true),
        index("api_tokens", &["token_hash"], true),
        index("api_tokens", &["user_id"], false),
        index("alert_rule_overrides", &["rule_id", "customer_id"], true),
        // `open_key` is "<rule>:<connector>" while an alert is open and NULL once resolved:
        // a plain unique index then allows one open alert per pair on both backends.
        index("alerts", &["open_key"], true),
        index("alerts", &["rule_id", "connector_guid"], false),
        index("alerts", &["state"], false),
        index("alerts", &["customer_id"], false),
        index("alert_transitions", &["alert_id", "at"], false),
        index("messages", &["dedup_key"], true),
        index("messages", &["created_at"], false),
        index("message_recipients", &["message_id", "user_id"], true),
        index("message_recipients", &["user_id", "message_id"], false),
        index(
            "message_deliveries",
            &["message_id", "channel", "target"],
            true,
        ),
        index("message_deliveries", &["status", "next_attempt_at"], false),
        index("sync_runs", &["started_at"], false),
        index(
            "sync_cursors",
            &["integration_id", "account_guid", "connector_guid", "stream"],
            true,
        ),
        index("sync_leases", &["integration_id"], true),
    ]
}

/// The two rules every installation starts with (SPEC §7 defaults).
fn default_rules() -> Vec<InsertStatement> {
    let now = chrono::Utc::now();
    [
        ("backup_stale", "Backup stale"),
        ("backup_failed", "Backup failed"),
    ]
    .into_iter()
    .map(|(kind, rule_name)| {
        Query::insert()
            .into_table(name("alert_rules"))
            .columns([
                name("kind"),
                name("name"),
                name("enabled"),
                name("scope"),
                name("stale_after_secs"),
                name("warn_after_secs"),
                name("lookback_secs"),
                name("min_consecutive_failures"),
                name("reminder_every_secs"),
                name("created_at"),
                name("updated_at"),
            ])
            .values_panic([
                kind.into(),
                rule_name.into(),
                true.into(),
                "all".into(),
                (48_i64 * 3600).into(),
                (24_i64 * 3600).into(),
                (24_i64 * 3600).into(),
                1_i32.into(),
                (24_i64 * 3600).into(),
                now.into(),
                now.into(),
            ])
            .take()
    })
    .collect()
}

// The trait is declared with an elided `SchemaManager` lifetime; async-trait needs the
// implementation to spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for statement in tables() {
            manager.create_table(statement).await?;
        }
        for statement in indexes() {
            manager.create_index(statement).await?;
        }
        let connection = manager.get_connection();
        for statement in default_rules() {
            connection.execute(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table_name in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(name(table_name)).take())
                .await?;
        }
        Ok(())
    }
}
