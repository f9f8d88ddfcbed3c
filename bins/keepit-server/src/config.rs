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
    // In a state directory the key file defaults to it (created owner-only on first use).
    let in_state_dir = state_dir().map(|dir| dir.join(MasterKey::DEFAULT_FILE));
    if let Some(file) = &in_state_dir
        && std::env::var_os("KEEPIT_MASTER_KEY").is_none()
        && std::env::var_os("KEEPIT_MASTER_KEY_FILE").is_none()
        && !file.exists()
        && let Some(dir) = file.parent()
    {
        create_private_dir(dir)?;
    }
    MasterKey::from_env(|name| {
        std::env::var(name).ok().or_else(|| {
            (name == "KEEPIT_MASTER_KEY_FILE")
                .then(|| in_state_dir.as_ref().map(|file| file.display().to_string()))
                .flatten()
        })
    })
    .map_err(|error| match error {
        SecretError::InvalidKey => usage(format!("KEEPIT_MASTER_KEY: {error}")),
        other => anyhow::Error::new(other),
    })
}

/// The state directory, once `main` has set it from `--state-dir` / `KEEPIT_STATE_DIR`.
static STATE_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Remembers the state directory for the rest of the process.
pub(crate) fn set_state_dir(dir: Option<std::path::PathBuf>) {
    if let Some(dir) = dir {
        let _ = STATE_DIR.set(dir);
    }
}

/// The state directory, if one was given.
pub(crate) fn state_dir() -> Option<&'static std::path::Path> {
    STATE_DIR.get().map(std::path::PathBuf::as_path)
}

/// Creates the state directory, readable by its owner only, for a command that writes.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|error| {
        usage(format!(
            "cannot create the state directory {}: {error}",
            dir.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
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

/// What to do when this process's master key does not open the stored credentials.
pub(crate) const KEY_ADVICE: &str = "the master key this process uses does not open the credentials stored in the database: give every keepit-watch process the same KEEPIT_STATE_DIR (or the same KEEPIT_MASTER_KEY_FILE or KEEPIT_MASTER_KEY)";
