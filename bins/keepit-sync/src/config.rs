//! Turns flags and environment variables into typed configuration. The only place in
//! this binary that reads the environment directly (clap reads the variables it names).
#![allow(clippy::disallowed_methods)] // This module is where configuration is read.

use std::path::PathBuf;

use keepit_alerts::Notifiers;
use keepit_alerts::notify::{EmailChannel, WebhookChannel, WebhookFormat};
use keepit_client::Credentials;
use secrecy::SecretString;

use crate::cli::KeepitArgs;
pub(crate) use crate::state::{
    UsageError, check_database_url, check_master_key, create_private_dir, master_key,
    set_state_dir, state_dir, usage,
};

/// A Keepit connection given on the command line or in the environment.
pub(crate) struct AdHocKeepit {
    pub(crate) region: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) account: Option<keepit_domain::AccountId>,
    pub(crate) credentials: Credentials,
    pub(crate) concurrency: usize,
}

impl AdHocKeepit {
    pub(crate) fn from_args(args: &KeepitArgs) -> anyhow::Result<AdHocKeepit> {
        if args.region.is_none() && args.base_url.is_none() {
            return Err(usage(
                "a Keepit region (--region or KEEPIT_REGION) or base URL (--base-url or KEEPIT_BASE_URL) is required",
            ));
        }
        let password = match (&args.password, &args.password_file) {
            (Some(password), _) => Some(SecretString::from(password.clone())),
            (None, Some(path)) => Some(read_secret_file(path)?),
            (None, None) => None,
        };
        let credentials = Credentials::choose(
            args.username.clone(),
            password,
            args.api_token_login.clone().map(SecretString::from),
            args.api_token_password.clone().map(SecretString::from),
        )
        .ok_or_else(|| {
            usage("Keepit credentials are required: --username with --password (or --password-file), or --api-token-login with --api-token-password")
        })?;
        let account = args
            .account_guid
            .as_deref()
            .map(keepit_domain::AccountId::new)
            .transpose()
            .map_err(|error| usage(format!("--account-guid: {error}")))?;
        Ok(AdHocKeepit {
            region: args.region.clone(),
            base_url: args.base_url.clone(),
            account,
            credentials,
            concurrency: usize::from(args.concurrency),
        })
    }
}

impl AdHocKeepit {
    /// The integration settings these flags ask for (the request timeout is the
    /// integration default; change it through the API).
    pub(crate) fn settings(&self) -> anyhow::Result<keepit_store::IntegrationSettings> {
        let concurrency = u16::try_from(self.concurrency).unwrap_or(u16::MAX);
        keepit_store::IntegrationSettings::new(
            concurrency,
            keepit_store::IntegrationSettings::default().request_timeout(),
        )
        .map_err(|error| usage(format!("--concurrency: {error}")))
    }
}

pub(crate) fn read_secret_file(path: &PathBuf) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        usage(format!(
            "cannot read the password file {}: {error}",
            path.display()
        ))
    })?;
    let first = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r')
        .to_owned();
    if first.is_empty() {
        return Err(usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(first))
}

/// The dashboard's public address (`KEEPIT_PUBLIC_URL`), for links in PSA tickets.
pub(crate) fn public_url() -> Option<String> {
    std::env::var("KEEPIT_PUBLIC_URL")
        .ok()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// Notification channels from `KEEPIT_SMTP_URL` / `KEEPIT_SMTP_FROM` and
/// `KEEPIT_WEBHOOK_URL` / `KEEPIT_WEBHOOK_FORMAT`. Unset variables switch a channel off.
pub(crate) fn notifiers() -> anyhow::Result<Notifiers> {
    let mut notifiers = Notifiers::default();
    if let Ok(url) = std::env::var("KEEPIT_SMTP_URL") {
        let from = std::env::var("KEEPIT_SMTP_FROM")
            .unwrap_or_else(|_| "keepit-watch@localhost".to_owned());
        notifiers.email = Some(
            EmailChannel::from_url(&SecretString::from(url), &from)
                .map_err(|error| usage(format!("KEEPIT_SMTP_URL: {error}")))?,
        );
    }
    if let Ok(url) = std::env::var("KEEPIT_WEBHOOK_URL") {
        let format = match std::env::var("KEEPIT_WEBHOOK_FORMAT") {
            Ok(text) => WebhookFormat::parse(&text).ok_or_else(|| {
                usage(format!(
                    "KEEPIT_WEBHOOK_FORMAT must be generic, slack or teams, not {text:?}"
                ))
            })?,
            Err(_) => WebhookFormat::Generic,
        };
        notifiers.webhook = Some(
            WebhookChannel::new(SecretString::from(url), format)
                .map_err(|error| usage(format!("KEEPIT_WEBHOOK_URL: {error}")))?,
        );
    }
    Ok(notifiers)
}

/// Whether `NO_COLOR` asks for output without colour (set and not empty, as
/// no-color.org defines it).
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}
