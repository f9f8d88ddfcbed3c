//! The HTTP API from the outside: `router(state).oneshot(request)` against an
//! in-memory SQLite store filled by a real sync of a keepit-mock fleet.

mod admin;
mod alerts;
mod auth;
mod browser;
mod jobs;
mod metrics;
mod openapi;
mod psa;
mod resources;
mod support;
mod web;
