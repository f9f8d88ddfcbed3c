//! Talking to Keepit on behalf of an integration: its stored, encrypted credentials
//! decrypted with the server's master key, and a client built the way the sync
//! binary builds it (`keepit_ingest::client_for_integration`).

use keepit_client::{Credentials, KeepitClient};
use keepit_domain::AccountId;
use keepit_store::{IntegrationId, IntegrationRecord};

use crate::AppState;
use crate::error::{AppError, ErrorCode};

/// A client for the integration that sees `account`.
pub(crate) async fn client_for_account(
    state: &AppState,
    account: &AccountId,
) -> Result<KeepitClient, AppError> {
    let Some(link) = state.store.keepit_account(account).await? else {
        // The data outlived its integration (deleted without purge): nothing can ask
        // Keepit for it any more. A state of the data, not an outage.
        return Err(AppError::client(
            ErrorCode::Conflict,
            format!("no integration sees Keepit account {account} any more; cannot ask Keepit"),
        ));
    };
    client_for_integration(state, link.integration).await
}

/// A client for integration `id`, with its stored credentials.
pub(crate) async fn client_for_integration(
    state: &AppState,
    id: IntegrationId,
) -> Result<KeepitClient, AppError> {
    let record = state.store.integration(id).await?;
    let Some(key) = state.master_key.as_deref() else {
        return Err(AppError::client(
            ErrorCode::Unavailable,
            "the server has no master key configured, so it cannot use stored Keepit credentials; set KEEPIT_MASTER_KEY or KEEPIT_MASTER_KEY_FILE",
        ));
    };
    let stored = state
        .store
        .integration_credentials(id, key)
        .await
        .map_err(|error| match error {
            keepit_store::Error::Secret(_) => AppError::client(
                ErrorCode::Unavailable,
                format!(
                    "the credentials of integration {} cannot be decrypted with the configured master key",
                    record.name
                ),
            ),
            other => AppError::from(other),
        })?;
    keepit_ingest::client_for_integration(&record, stored, &keepit_ingest::ClientLimits::default())
        .map_err(connect_error)
}

/// A client for `record` (perhaps with changes not stored yet) and credentials to try.
pub(crate) fn client_to_try(
    record: &IntegrationRecord,
    credentials: Credentials,
) -> Result<KeepitClient, AppError> {
    keepit_ingest::client_with_credentials(
        record,
        credentials,
        &keepit_ingest::ClientLimits::default(),
    )
    .map_err(connect_error)
}

fn connect_error(error: keepit_ingest::ConnectError) -> AppError {
    match error {
        keepit_ingest::ConnectError::IncompleteCredentials { integration } => AppError::client(
            ErrorCode::Unavailable,
            format!("integration {integration} has no complete Keepit credentials"),
        ),
        keepit_ingest::ConnectError::Misconfigured {
            integration,
            source,
        } => AppError::Upstream {
            message: format!("the Keepit connection of integration {integration} is misconfigured"),
            source,
        },
    }
}

/// What went wrong talking to Keepit, as a fixed category and a fixed sentence.
///
/// Answers of the API name the category only: an upstream body, a URL or a driver
/// message could carry whatever the other host sent (an admin could otherwise use the
/// connection test to read any reachable host's answers). The full error is logged.
pub(crate) fn upstream_category(error: &keepit_client::Error) -> (&'static str, &'static str) {
    use keepit_client::Error;
    match error {
        Error::Transport { .. } => ("unreachable", "Keepit could not be reached"),
        Error::Timeout { .. } => ("timeout", "Keepit did not answer in time"),
        Error::Unauthorized { .. } => ("refused_credentials", "Keepit refused the credentials"),
        Error::Forbidden { .. } => (
            "forbidden",
            "the credentials lack the role needed to read this account",
        ),
        Error::NotFound { .. } => (
            "not_found",
            "Keepit does not know the account, or these credentials cannot see it",
        ),
        Error::RateLimited { .. } => ("rate_limited", "Keepit is rate-limiting these requests"),
        Error::Decode { .. } | Error::TooLarge { .. } => (
            "undecodable_answer",
            "the answer was not a Keepit document that could be understood",
        ),
        Error::Config(_) => ("misconfigured", "the Keepit connection is misconfigured"),
        _ => ("upstream_error", "Keepit answered with an error"),
    }
}
