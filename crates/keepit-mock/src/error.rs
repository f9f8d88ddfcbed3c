//! The crate's error type.

use std::path::PathBuf;

use keepit_domain::{AccountId, ConnectorId, JobId};

/// Everything that can go wrong when loading fixtures, generating a fleet or changing one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No file for this endpoint and case exists in the fixtures directory.
    #[error("fixture {endpoint}/{case} not found under {}", dir.display())]
    FixtureNotFound {
        /// The endpoint folder asked for.
        endpoint: String,
        /// The case asked for.
        case: String,
        /// The fixtures directory that was searched.
        dir: PathBuf,
    },
    /// A fixture file exists but could not be read.
    #[error("cannot read fixture {}", path.display())]
    FixtureRead {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A fleet specification that cannot produce a fleet.
    #[error("invalid fleet spec: {0}")]
    InvalidSpec(String),
    /// The account is not part of the fleet.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// The connector is not part of the fleet (or was removed).
    #[error("unknown connector {0}")]
    UnknownConnector(ConnectorId),
    /// The job is not part of the fleet.
    #[error("unknown job {0}")]
    UnknownJob(JobId),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
