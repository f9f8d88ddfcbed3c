//! The sync engine against generated fake Keepit fleets, on in-memory SQLite and on
//! PostgreSQL when `KEEPIT_TEST_POSTGRES_URL` is set.

mod alerts;
mod faults;
mod support;
mod sync;
mod workers;
