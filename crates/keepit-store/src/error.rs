//! The crate's error type.

use sea_orm::DbErr;

use crate::cursor::CursorError;
use crate::secrets::SecretError;

/// Everything that can go wrong in the store.
///
/// Messages are lowercase and never contain a database password: connection
/// errors name the database by its redacted URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL could not be understood.
    #[error("invalid database url {url}: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {url}")]
    Connect {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: DbErr,
    },
    /// Applying the migrations failed.
    #[error("database migration failed")]
    Migration(#[source] DbErr),
    /// A query or statement failed.
    #[error("database operation failed")]
    Database(#[from] DbErr),
    /// A referenced row does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What was looked for ("customer", "alert", ...).
        what: &'static str,
        /// The key that was looked for.
        key: String,
    },
    /// A row with the same unique key already exists.
    #[error("{what} {key} already exists")]
    Conflict {
        /// What was being created.
        what: &'static str,
        /// The clashing key.
        key: String,
    },
    /// A value given to the store is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input was refused.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored value could not be turned back into a domain value.
    #[error("stored value {value:?} in {table}.{column} is not valid: {reason}")]
    Corrupt {
        /// Table of the bad value.
        table: &'static str,
        /// Column of the bad value.
        column: &'static str,
        /// The value as stored.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A pagination cursor could not be decoded.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// Credentials could not be encrypted or decrypted.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A CSV import could not be read at all (bad rows are reported, not raised).
    #[error("cannot read the customer csv")]
    Csv(#[source] csv::Error),
    /// Reading the CSV input failed.
    #[error("cannot read the customer csv")]
    CsvIo(#[source] std::io::Error),
}

impl Error {
    /// Whether the database could not be reached at all (no connection could be made or
    /// handed out), as opposed to a statement that failed: worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Database(DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
        )
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(
        table: &'static str,
        column: &'static str,
        value: &str,
        reason: impl std::fmt::Display,
    ) -> Error {
        Error::Corrupt {
            table,
            column,
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn not_found(what: &'static str, key: impl std::fmt::Display) -> Error {
        Error::NotFound {
            what,
            key: key.to_string(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
