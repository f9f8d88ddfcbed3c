//! Integrations: list, create (secrets write-only), test connection, enable/disable.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use keepit_domain::AccountId;
use std::time::Duration;

use keepit_store::{
    IntegrationChange, IntegrationId, IntegrationRecord, IntegrationSettings, KeepitCredentials,
    NewIntegration,
};
use secrecy::SecretString;

use crate::AppState;
use crate::dto::{
    ConnectionTestDto, ErrorEnvelope, IntegrationDto, IntegrationPatchRequest,
    NewIntegrationRequest,
};
use crate::error::{AppError, ErrorCode};
use crate::query::{only_known, pairs, single};
use crate::routes::connectors::parse_bool;
use crate::routes::{Body, row_id};

/// `GET /integrations`: every integration, without credentials.
#[utoipa::path(
    get,
    path = "/integrations",
    tag = "integrations",
    responses((status = 200, description = "Integrations", body = Vec<IntegrationDto>))
)]
pub(crate) async fn list_integrations(
    State(state): State<AppState>,
) -> Result<Json<Vec<IntegrationDto>>, AppError> {
    let integrations = state.store.integrations().await?;
    Ok(Json(
        integrations.iter().map(IntegrationDto::from).collect(),
    ))
}

/// A text field, trimmed; `None` when absent or blank.
pub(crate) fn nonblank(value: Option<&String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `POST /integrations`: stores a new integration; its secrets are encrypted with the
/// master key and never returned.
#[utoipa::path(
    post,
    path = "/integrations",
    tag = "integrations",
    request_body = NewIntegrationRequest,
    responses(
        (status = 201, description = "The new integration (without credentials)", body = IntegrationDto),
        (status = 403, description = "Viewers may not create integrations", body = ErrorEnvelope),
        (status = 409, description = "An integration for this parent account exists", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
        (status = 503, description = "No master key is configured", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_integration(
    State(state): State<AppState>,
    Body(request): Body<NewIntegrationRequest>,
) -> Result<(StatusCode, Json<IntegrationDto>), AppError> {
    let new = new_integration(&request)?;
    let Some(key) = state.master_key.as_deref() else {
        return Err(AppError::client(
            ErrorCode::Unavailable,
            "the server has no master key configured, so it cannot store credentials; set KEEPIT_MASTER_KEY or KEEPIT_MASTER_KEY_FILE",
        ));
    };
    let record = state
        .store
        .create_integration(&new, key, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(IntegrationDto::from(&record))))
}

/// Checks a new integration's fields as creating it would, without storing it.
pub(crate) fn new_integration(request: &NewIntegrationRequest) -> Result<NewIntegration, AppError> {
    let name = request.name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "must not be empty"));
    }
    let parent_account = AccountId::new(request.parent_account_guid.trim())
        .map_err(|error| AppError::validation("parent_account_guid", error))?;
    let region = nonblank(request.region.as_ref());
    let base_url = nonblank(request.base_url.as_ref());
    if region.is_none() && base_url.is_none() {
        return Err(AppError::validation(
            "region",
            "a region (or a base_url) is required",
        ));
    }
    // Checked here so that the client's messages below never echo unparsable text.
    if let Some(base_url) = &base_url
        && url::Url::parse(base_url).is_err()
    {
        return Err(AppError::validation("base_url", "is not an absolute URL"));
    }
    let credentials = KeepitCredentials {
        username: nonblank(request.username.as_ref()),
        password: nonblank(request.password.as_ref()).map(SecretString::from),
        api_token_login: nonblank(request.api_token_login.as_ref()),
        api_token_password: nonblank(request.api_token_password.as_ref()).map(SecretString::from),
    };
    let complete_login = credentials.username.is_some() && credentials.password.is_some();
    let complete_token =
        credentials.api_token_login.is_some() && credentials.api_token_password.is_some();
    if !complete_login && !complete_token {
        return Err(AppError::validation(
            "credentials",
            "give username and password, or api_token_login and api_token_password",
        ));
    }
    // The client's own rules decide which regions and URLs Keepit can be reached at
    // (and refuse a URL carrying credentials, which the API would show), so a bad one
    // is refused now rather than failing every later sync.
    if let Err(keepit_client::Error::Config(problem)) =
        keepit_client::resolve_base_url(region.as_deref(), base_url.as_deref())
    {
        let field = if base_url.is_some() {
            "base_url"
        } else {
            "region"
        };
        return Err(AppError::validation(field, problem));
    }
    let defaults = IntegrationSettings::default();
    let settings = IntegrationSettings::new(
        request.concurrency.unwrap_or(defaults.concurrency()),
        request
            .request_timeout_secs
            .map_or(defaults.request_timeout(), Duration::from_secs),
    )?;
    Ok(NewIntegration {
        name: name.to_owned(),
        region,
        base_url,
        parent_account,
        credentials,
        enabled: request.enabled.unwrap_or(true),
        settings,
    })
}

/// `POST /integrations/test`: tries a new integration's credentials against Keepit
/// before it is created. Nothing is stored.
#[utoipa::path(
    post,
    path = "/integrations/test",
    tag = "integrations",
    request_body = NewIntegrationRequest,
    responses(
        (status = 200, description = "The test ran; `ok` says whether Keepit accepted the credentials", body = ConnectionTestDto),
        (status = 403, description = "Viewers may not test integrations", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn test_new_integration(
    State(state): State<AppState>,
    Body(request): Body<NewIntegrationRequest>,
) -> Result<Json<ConnectionTestDto>, AppError> {
    let new = new_integration(&request)?;
    let now = state.clock.now();
    let record = IntegrationRecord {
        id: IntegrationId(0),
        name: new.name.clone(),
        region: new.region.clone(),
        base_url: new.base_url.clone(),
        parent_account: new.parent_account.clone(),
        enabled: new.enabled,
        last_sync_at: None,
        last_sync_outcome: None,
        sync_requested_at: None,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    let credentials = keepit_ingest::credentials_from_stored(new.credentials)
        .ok_or_else(|| AppError::validation("credentials", "no complete credentials to test"))?;
    let client = crate::keepit::client_to_try(&record, credentials)?;
    Ok(Json(connection_test(client.test_connection().await, None)))
}

/// A connection test's result as the API answers it; a failure is logged whole
/// and answered by its category only.
fn connection_test(
    result: Result<keepit_client::ConnectionReport, keepit_client::Error>,
    integration: Option<IntegrationId>,
) -> ConnectionTestDto {
    match result {
        Ok(report) => ConnectionTestDto {
            ok: true,
            account_guid: Some(report.account.as_str().to_owned()),
            customer_accounts: u64::try_from(report.customer_accounts).ok(),
            error: None,
            error_category: None,
        },
        Err(error) => {
            tracing::info!(integration = integration.map(|id| id.0), error = %error, "connection test failed");
            let (category, message) = crate::keepit::upstream_category(&error);
            ConnectionTestDto {
                ok: false,
                account_guid: None,
                customer_accounts: None,
                error: Some(message.to_owned()),
                error_category: Some(category.to_owned()),
            }
        }
    }
}

/// `POST /integrations/{id}/test`: checks the stored credentials against Keepit.
#[utoipa::path(
    post,
    path = "/integrations/{id}/test",
    tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, description = "The test ran; `ok` says whether Keepit accepted the credentials", body = ConnectionTestDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
        (status = 503, description = "No master key, or no complete credentials", body = ErrorEnvelope),
    )
)]
pub(crate) async fn test_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestDto>, AppError> {
    let id = IntegrationId(row_id("id", &id)?);
    let client = crate::keepit::client_for_integration(&state, id).await?;
    Ok(Json(connection_test(
        client.test_connection().await,
        Some(id),
    )))
}

async fn set_enabled(
    state: &AppState,
    id: &str,
    enabled: bool,
) -> Result<Json<IntegrationDto>, AppError> {
    let id = IntegrationId(row_id("id", id)?);
    // A 404 for an unknown id before changing anything.
    state.store.integration(id).await?;
    state
        .store
        .set_integration_enabled(id, enabled, state.clock.now())
        .await?;
    let record = state.store.integration(id).await?;
    Ok(Json(IntegrationDto::from(&record)))
}

/// `GET /integrations/{id}`: one integration, without credentials, with its latest
/// sync and any "sync now" still waiting for a daemon.
#[utoipa::path(
    get,
    path = "/integrations/{id}",
    tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, description = "The integration", body = IntegrationDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationDto>, AppError> {
    let id = IntegrationId(row_id("id", &id)?);
    Ok(Json(IntegrationDto::from(
        &state.store.integration(id).await?,
    )))
}

/// `POST /integrations/{id}/sync`: asks the sync daemon to run this integration's pass
/// now. Answers 202 at once; a running daemon starts the pass within seconds, and
/// requests made while one waits collapse into it. `sync_requested_at` shows it
/// waiting until a daemon takes it.
#[utoipa::path(
    post,
    path = "/integrations/{id}/sync",
    tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 202, description = "The request is recorded; the integration shows it waiting", body = IntegrationDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
        (status = 409, description = "The integration is disabled", body = ErrorEnvelope),
    )
)]
pub(crate) async fn sync_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<IntegrationDto>), AppError> {
    let id = IntegrationId(row_id("id", &id)?);
    if !state.store.integration(id).await?.enabled {
        return Err(AppError::client(
            ErrorCode::Conflict,
            "the integration is disabled; enable it before asking for a sync",
        ));
    }
    let record = state.store.request_sync(id, state.clock.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(IntegrationDto::from(&record))))
}

/// `PATCH /integrations/{id}`: renames, moves (region, base URL, parent account) or
/// rotates the credentials of an integration. New credentials, or a new place to
/// reach Keepit, are tested against Keepit before anything is stored, unless
/// `?verify=false`; a failed test answers 422 with the failure's category.
#[utoipa::path(
    patch,
    path = "/integrations/{id}",
    tag = "integrations",
    params(
        ("id" = i64, Path, description = "Integration id"),
        ("verify" = Option<bool>, Query, description = "Test the change against Keepit first (default true)"),
    ),
    request_body = IntegrationPatchRequest,
    responses(
        (status = 200, description = "The integration after the change (without credentials)", body = IntegrationDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
        (status = 409, description = "Another integration has this parent account", body = ErrorEnvelope),
        (status = 503, description = "No master key is configured", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Body(request): Body<IntegrationPatchRequest>,
) -> Result<Json<IntegrationDto>, AppError> {
    let id = IntegrationId(row_id("id", &id)?);
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["verify"])?;
    let verify = match single(&pairs, "verify")? {
        None => true,
        Some(text) => parse_bool("verify", text)?,
    };
    let current = state.store.integration(id).await?;
    let mut change = IntegrationChange::default();
    if let Some(name) = &request.name {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::validation("name", "must not be empty"));
        }
        change.name = Some(name.to_owned());
    }
    if let Some(region) = nonblank(request.region.as_ref()) {
        change.region = Some(Some(region));
        change.base_url = Some(None);
    }
    if let Some(base_url) = nonblank(request.base_url.as_ref()) {
        if url::Url::parse(&base_url).is_err() {
            return Err(AppError::validation("base_url", "is not an absolute URL"));
        }
        change.base_url = Some(Some(base_url));
        change.region = Some(None);
    }
    if let Some(parent) = &request.parent_account_guid {
        change.parent_account = Some(
            AccountId::new(parent.trim())
                .map_err(|error| AppError::validation("parent_account_guid", error))?,
        );
    }
    if request.concurrency.is_some() || request.request_timeout_secs.is_some() {
        change.settings = Some(IntegrationSettings::new(
            request
                .concurrency
                .unwrap_or(current.settings.concurrency()),
            request
                .request_timeout_secs
                .map_or(current.settings.request_timeout(), Duration::from_secs),
        )?);
    }
    let mut next = current.clone();
    if let Some(settings) = change.settings {
        next.settings = settings;
    }
    if let Some(region) = &change.region {
        next.region.clone_from(region);
    }
    if let Some(base_url) = &change.base_url {
        next.base_url.clone_from(base_url);
    }
    if let Some(parent) = &change.parent_account {
        next.parent_account = parent.clone();
    }
    if let Err(keepit_client::Error::Config(problem)) =
        keepit_client::resolve_base_url(next.region.as_deref(), next.base_url.as_deref())
    {
        let field = if request.base_url.is_some() {
            "base_url"
        } else {
            "region"
        };
        return Err(AppError::validation(field, problem));
    }
    let rotating = request.username.is_some()
        || request.password.is_some()
        || request.api_token_login.is_some()
        || request.api_token_password.is_some();
    let credentials = if rotating {
        let credentials = KeepitCredentials {
            username: nonblank(request.username.as_ref()),
            password: nonblank(request.password.as_ref()).map(SecretString::from),
            api_token_login: nonblank(request.api_token_login.as_ref()),
            api_token_password: nonblank(request.api_token_password.as_ref())
                .map(SecretString::from),
        };
        let complete = (credentials.username.is_some() && credentials.password.is_some())
            || (credentials.api_token_login.is_some() && credentials.api_token_password.is_some());
        if !complete {
            return Err(AppError::validation(
                "credentials",
                "a rotation replaces the whole pair: give username and password, or api_token_login and api_token_password",
            ));
        }
        Some(credentials)
    } else {
        None
    };
    let Some(key) = state.master_key.as_deref() else {
        return Err(AppError::client(
            ErrorCode::Unavailable,
            "the server has no master key configured, so it cannot use or store credentials; set KEEPIT_MASTER_KEY or KEEPIT_MASTER_KEY_FILE",
        ));
    };
    let moved =
        change.region.is_some() || change.base_url.is_some() || change.parent_account.is_some();
    if verify && (rotating || moved) {
        let to_try = match &credentials {
            Some(new) => keepit_ingest::credentials_from_stored(new.clone()),
            None => keepit_ingest::credentials_from_stored(
                state.store.integration_credentials(id, key).await?,
            ),
        }
        .ok_or_else(|| AppError::validation("credentials", "no complete credentials to test"))?;
        let client = crate::keepit::client_to_try(&next, to_try)?;
        if let Err(error) = client.test_connection().await {
            tracing::info!(integration = id.0, error = %error, "the change failed its connection test");
            let (category, message) = crate::keepit::upstream_category(&error);
            return Err(AppError::validation(
                "credentials",
                format!(
                    "the change was not stored: {message} ({category}); pass ?verify=false to store it anyway"
                ),
            ));
        }
    }
    let now = state.clock.now();
    let record = state
        .store
        .update_integration_details(id, &change, now)
        .await?;
    if let Some(credentials) = &credentials {
        state
            .store
            .set_integration_credentials(id, credentials, key, now)
            .await?;
    }
    Ok(Json(IntegrationDto::from(&record)))
}

/// `DELETE /integrations/{id}`: deletes the integration and its credentials; its open
/// alerts resolve. The synced connectors, jobs and audit events stay unless
/// `?purge=true`.
#[utoipa::path(
    delete,
    path = "/integrations/{id}",
    tag = "integrations",
    params(
        ("id" = i64, Path, description = "Integration id"),
        ("purge" = Option<bool>, Query, description = "Also delete the data it synced (default false)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, AppError> {
    let id = IntegrationId(row_id("id", &id)?);
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["purge"])?;
    let purge = match single(&pairs, "purge")? {
        None => false,
        Some(text) => parse_bool("purge", text)?,
    };
    if state
        .store
        .delete_integration(id, purge, state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("integration", id))
    }
}

/// `POST /integrations/{id}/enable`: includes the integration in syncs.
#[utoipa::path(
    post,
    path = "/integrations/{id}/enable",
    tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, description = "The integration after the change", body = IntegrationDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
    )
)]
pub(crate) async fn enable_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationDto>, AppError> {
    set_enabled(&state, &id, true).await
}

/// `POST /integrations/{id}/disable`: leaves the integration out of syncs.
#[utoipa::path(
    post,
    path = "/integrations/{id}/disable",
    tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, description = "The integration after the change", body = IntegrationDto),
        (status = 404, description = "No such integration", body = ErrorEnvelope),
    )
)]
pub(crate) async fn disable_integration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationDto>, AppError> {
    set_enabled(&state, &id, false).await
}
