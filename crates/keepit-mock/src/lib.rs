//! A fake Keepit API for tests, benchmarks and the demo: fixtures, a generated fleet
//! with its ground truth, and fault injection, on a local wiremock server.
//!
//! - [`MockKeepit`] starts the server. It checks HTTP Basic auth on every request like
//!   Keepit does, records every request ([`MockKeepit::requests`],
//!   [`MockKeepit::request_stats`]), injects [`Faults`], and answers from intent-named
//!   fixture mounts ([`MockKeepit::whoami`], [`MockKeepit::devices`], ...) or from a
//!   served [`Fleet`]. A catch-all answers 404 naming any request nobody expected.
//! - [`fixture`] loads a hand-written Keepit response from the
//!   `fixtures/keepit/<endpoint>/<case>` files shipped inside this crate.
//! - [`Fleet::generate`] builds a seeded fleet from a [`FleetSpec`]: an account tree
//!   (MSP, resellers, customers), connectors of every kind, backup and restore jobs
//!   with every status and failure reason, audit events in every category, and
//!   connectors that are stale or failing on purpose. The ground truth is in
//!   `keepit-domain` types ([`TruthAccount`], [`TruthConnector`], [`TruthJob`],
//!   [`TruthAuditEvent`]); every job's status is `keepit_domain::decide_status` of what
//!   is served about it.
//! - [`MockKeepit::serve_fleet`] serves a fleet with a handful of wiremock mocks whose
//!   responders look answers up by GUID, and returns a [`FleetServer`] to read the
//!   ground truth and change the fleet (new connectors, jobs, audit events, a later
//!   clock) between two syncs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keepit_mock::Error> {
//! use keepit_mock::{Faults, Fleet, FleetSpec, MockKeepit, ServerErrors};
//!
//! let fleet = Fleet::generate(&FleetSpec::seeded(7))?;
//! let mock = MockKeepit::start().await;
//! let served = mock.serve_fleet(fleet).await;
//! mock.set_faults(Faults::seeded(1).with_server_errors(ServerErrors::every_nth(10, 2)));
//! // ... run a sync against mock.uri() with mock.credentials() ...
//! let truth = served.ground_truth();
//! let requests = mock.request_stats();
//! # let _ = (truth, requests);
//! # Ok(())
//! # }
//! ```
//!
//! This crate is test support: no library of the workspace may depend on it except as
//! a dev-dependency (binaries may, for the demo). Embedders can take it from a registry
//! to test their own Keepit code. It knows nothing of the Keepit
//! client's wire types; it writes Keepit's XML by hand from the domain vocabulary.

mod auth;
mod bodies;
mod endpoint;
mod error;
mod faults;
mod fixture;
mod fleet;
mod gate;
mod log;
mod mock;
#[cfg(test)]
mod test_support;
mod xml;

pub use auth::{ApiToken, MockCredentials, basic_auth_header};
pub use endpoint::endpoint_template;
pub use error::{Error, Result};
pub use faults::{BurstTrigger, FaultKind, Faults, RateLimit, ServerErrors};
pub use fixture::{fixture, fixture_path, fixtures_dir, try_fixture};
pub use fleet::{
    AccountRole, Cancellation, ConnectorScenario, Fleet, FleetServer, FleetSpec, GroundTruth,
    JobOutcome, TruthAccount, TruthAuditEvent, TruthConnector, TruthJob, TruthSkippedItem,
    TruthSnapshot, failure_summary, job_reasons,
};
pub use log::{RecordedRequest, RequestStats};
pub use mock::{FixtureMount, MockKeepit, MockKeepitBuilder};
