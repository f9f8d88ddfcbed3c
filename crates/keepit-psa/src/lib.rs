//! Clients for the PSA ticketing systems an MSP works from: ConnectWise PSA (Manage),
//! Autotask and HaloPSA, behind one [`Psa`] trait.
//!
//! Each client speaks its PSA's JSON (wire types stay private to its module), retries
//! only what is safe to repeat, honours `429` and `Retry-After`, keeps under a request
//! budget per hour, and never writes a secret into a log, an error or `Debug` output.
//! What is known of each API, and how sure, is in the project's PSA notes; where a fact
//! is uncertain the parsing here is lenient and says so.
//!
//! The crate knows nothing of the database or of alerts: `keepit-alerts` drives the
//! ticket lifecycle through [`Psa`], and `keepit-store` keeps the connections.

mod autotask;
mod connectwise;
mod error;
mod halo;
mod model;
mod transport;
mod wire;

pub use autotask::Autotask;
pub use connectwise::ConnectWise;
pub use error::{Error, Result};
pub use halo::Halo;
pub use model::{
    AnyPsa, NewTicket, Note, PicklistEntry, PicklistField, Psa, PsaCompany, PsaConfig,
    PsaCredentials, PsaKind, TicketRef, TicketState,
};
pub use transport::RetryPolicy;
