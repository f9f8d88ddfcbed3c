//! Turns flags and environment variables into typed configuration. The only place in
//! this binary that reads the environment directly (clap reads the variables it names).
#![allow(clippy::disallowed_methods)] // This module is where configuration is read.

use keepit_store::secrets::{MasterKey, SecretError};

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
/// The rules live in `MasterKey::from_env`, shared with keepit-sync.
pub(crate) fn master_key() -> anyhow::Result<MasterKey> {
    MasterKey::from_env(|name| std::env::var(name).ok()).map_err(|error| match error {
        SecretError::InvalidKey => usage(format!("KEEPIT_MASTER_KEY: {error}")),
        other => anyhow::Error::new(other),
    })
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

/// The dashboard password in the first line of `path`, checked against the length
/// rules before anything is stored.
pub(crate) fn password_from_file(path: &std::path::Path) -> anyhow::Result<secrecy::SecretString> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| usage(format!("--password-file {}: {error}", path.display())))?;
    let line = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    let password = secrecy::SecretString::from(line.to_owned());
    keepit_store::check_password(&password)
        .map_err(|error| usage(format!("--password-file {}: {error}", path.display())))?;
    Ok(password)
}
