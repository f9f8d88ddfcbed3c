//! Black-box tests of keepit-client against a local fake Keepit (wiremock on 127.0.0.1).

mod endpoints;
mod fleet;
mod resilience;
mod secrets;
mod support;
