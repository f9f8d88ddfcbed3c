//! Turns flags and environment variables into typed configuration. The only place in
//! this binary that reads the environment directly (clap reads the variables it names).
#![allow(clippy::disallowed_methods)] // This module is where configuration is read.

pub(crate) use crate::state::{
    UsageError, check_database_url, check_master_key, create_private_dir, master_key,
    set_state_dir, state_dir, usage,
};

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
