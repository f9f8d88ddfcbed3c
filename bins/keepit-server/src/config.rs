//! Turns flags and environment variables into typed configuration. The only place in
//! this binary that reads the environment directly (clap reads the variables it names).
#![allow(clippy::disallowed_methods)] // This module is where configuration is read.

use anyhow::Context as _;
use keepit_store::secrets::MasterKey;

/// A usage problem: exits with 64, like a bad flag.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// The key that seals stored Keepit credentials: `KEEPIT_MASTER_KEY` (base64 or hex of
/// 32 bytes), else the key file at `KEEPIT_MASTER_KEY_FILE` (default
/// `keepit-master.key`), created with owner-only permissions on first use.
///
/// Copied from keepit-sync's config (binaries do not depend on each other); both must
/// find the same key for the server to use credentials the sync stored.
pub(crate) fn master_key() -> anyhow::Result<MasterKey> {
    if let Ok(encoded) = std::env::var("KEEPIT_MASTER_KEY") {
        return MasterKey::from_encoded(encoded.trim())
            .map_err(|error| usage(format!("KEEPIT_MASTER_KEY: {error}")));
    }
    let path =
        std::env::var("KEEPIT_MASTER_KEY_FILE").unwrap_or_else(|_| "keepit-master.key".to_owned());
    MasterKey::load_or_create(std::path::Path::new(&path))
        .with_context(|| format!("master key file {path}"))
}

/// Rejects a database URL that is neither SQLite nor PostgreSQL.
pub(crate) fn check_database_url(url: &str) -> anyhow::Result<()> {
    let url = url.trim();
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(())
    } else {
        Err(usage(
            "--database-url (DATABASE_URL) must start with sqlite:, postgres:// or postgresql://",
        ))
    }
}
