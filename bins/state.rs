//! Shared by both binaries (each includes it as `mod state`): usage errors, the state
//! directory, and the master key with its check against the stored credentials.
//! Like each binary's `config`, a place that reads the environment.
#![allow(clippy::disallowed_methods)] // Configuration is read here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use keepit_store::Store;
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

/// A usage error with this message.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
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

/// The state directory, once `main` has set it from `--state-dir` / `KEEPIT_STATE_DIR`.
static STATE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Remembers the state directory for the rest of the process.
pub(crate) fn set_state_dir(dir: Option<PathBuf>) {
    if let Some(dir) = dir {
        let _ = STATE_DIR.set(dir);
    }
}

/// The state directory, if one was given.
pub(crate) fn state_dir() -> Option<&'static Path> {
    STATE_DIR.get().map(PathBuf::as_path)
}

/// The database to use: the one given (flag or `DATABASE_URL`), else `keepit-watch.db`
/// in the state directory (the working directory when none is set).
pub(crate) fn database_url(given: Option<&str>) -> String {
    match (given, state_dir()) {
        (Some(url), _) => url.to_owned(),
        (None, Some(dir)) => keepit_store::StoreConfig::default_url_in(dir),
        (None, None) => keepit_store::StoreConfig::DEFAULT_URL.to_owned(),
    }
}

/// Creates the state directory, readable by its owner only, for a command that writes.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
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

/// The key file this process created, if it created one.
static CREATED_KEY_FILE: OnceLock<PathBuf> = OnceLock::new();

/// The key that seals stored credentials: `KEEPIT_MASTER_KEY` (base64 or hex of 32
/// bytes), else the key file at `KEEPIT_MASTER_KEY_FILE` (default `keepit-master.key`
/// in the state directory, or in the working directory without one), created with
/// owner-only permissions on first use. The rules live in `MasterKey::from_env`.
pub(crate) fn master_key() -> anyhow::Result<MasterKey> {
    let in_state_dir = state_dir().map(|dir| dir.join(MasterKey::DEFAULT_FILE));
    let from_variable = std::env::var_os("KEEPIT_MASTER_KEY").is_some();
    let file = std::env::var_os("KEEPIT_MASTER_KEY_FILE")
        .map(PathBuf::from)
        .or_else(|| in_state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(MasterKey::DEFAULT_FILE));
    let existed = from_variable || file.exists();
    if !existed
        && in_state_dir.as_ref() == Some(&file)
        && let Some(dir) = file.parent()
    {
        create_private_dir(dir)?;
    }
    let key = MasterKey::from_env(|name| {
        std::env::var(name).ok().or_else(|| {
            (name == "KEEPIT_MASTER_KEY_FILE")
                .then(|| in_state_dir.as_ref().map(|file| file.display().to_string()))
                .flatten()
        })
    })
    .map_err(|error| match error {
        SecretError::InvalidKey => usage(format!("KEEPIT_MASTER_KEY: {error}")),
        other => anyhow::Error::new(other),
    })?;
    if !existed && file.exists() {
        let _ = CREATED_KEY_FILE.set(file);
    }
    Ok(key)
}

/// What to do when this process's master key does not open the stored credentials.
const KEY_ADVICE: &str = "the master key this process uses does not open the credentials stored in the database: give every keepit-watch process the same KEEPIT_STATE_DIR (or the same KEEPIT_MASTER_KEY_FILE or KEEPIT_MASTER_KEY)";

/// Checks that `key` opens the stored credentials (see `Store::check_master_key`).
/// When it does not and this process has just created the key file, the file is
/// removed again: it could only ever confuse the next process started here.
pub(crate) async fn check_master_key(store: &Store, key: &MasterKey) -> anyhow::Result<()> {
    let Err(error) = store.check_master_key(key).await else {
        return Ok(());
    };
    let mut advice = KEY_ADVICE.to_owned();
    if let Some(created) = CREATED_KEY_FILE.get()
        && std::fs::remove_file(created).is_ok()
    {
        advice.push_str(&format!(
            "; the key file {} this process had just created was removed",
            created.display()
        ));
    }
    Err(anyhow::Error::new(error)).context(advice)
}
