//! The migration set: one ordered list of schema changes that runs on SQLite and PostgreSQL.
//!
//! Migrations use only sea-query's backend-neutral schema builders, so the same code
//! creates the same tables on both backends. Everything here is private to the crate
//! except [`crate::Store::migrate`], which applies whatever has not been applied yet.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

mod m20260101_000001_initial;
mod m20261122_000001_job_monitor_indexes;
mod m20261122_000002_sync_run_metrics;
mod m20261129_000001_alert_vocabulary;
mod m20261129_000002_day_two;
mod m20261129_000003_web_sign_in;
mod m20261130_000001_pass_work;
mod m20261130_000002_psa;
mod m20261130_000003_sync_run_totals;
mod schema;

/// The migrator: every migration of the crate, oldest first.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_initial::Migration),
            Box::new(m20261122_000001_job_monitor_indexes::Migration),
            Box::new(m20261122_000002_sync_run_metrics::Migration),
            Box::new(m20261129_000001_alert_vocabulary::Migration),
            Box::new(m20261129_000002_day_two::Migration),
            Box::new(m20261129_000003_web_sign_in::Migration),
            Box::new(m20261130_000001_pass_work::Migration),
            Box::new(m20261130_000002_psa::Migration),
            Box::new(m20261130_000003_sync_run_totals::Migration),
        ]
    }
}
