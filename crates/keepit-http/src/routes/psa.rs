//! PSA connections: list, create and change (secrets write-only), test, picklists,
//! company import and the tickets opened.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keepit_psa::{Psa as _, PsaCredentials, PsaKind};
use keepit_store::secrets::MasterKey;
use keepit_store::{
    NewPsaConnection, PsaConnectionChange, PsaConnectionId, PsaConnectionRecord, PsaSettings,
};
use secrecy::SecretString;

use crate::AppState;
use crate::dto::{
    CompanyImportDto, ErrorEnvelope, PicklistDto, PicklistEntryDto, PsaConnectionDto,
    PsaConnectionRequest, PsaTestDto, PsaTicketDto,
};
use crate::error::{AppError, ErrorCode};
use crate::routes::integrations::nonblank;
use crate::routes::{Body, row_id};

fn master_key(state: &AppState) -> Result<&MasterKey, AppError> {
    state.master_key.as_deref().ok_or_else(|| {
        AppError::client(
            ErrorCode::Unavailable,
            "the server has no master key configured, so it cannot use or store PSA credentials; set KEEPIT_MASTER_KEY or KEEPIT_MASTER_KEY_FILE",
        )
    })
}

/// The credentials a request gives for `kind`; `None` when it gives none of their
/// fields (a change that keeps them).
pub(crate) fn credentials_of(
    kind: PsaKind,
    request: &PsaConnectionRequest,
) -> Result<Option<PsaCredentials>, AppError> {
    let given = [
        &request.company_id,
        &request.public_key,
        &request.private_key,
        &request.client_id,
        &request.username,
        &request.secret,
        &request.integration_code,
        &request.client_secret,
        &request.tenant,
    ]
    .iter()
    .any(|field| nonblank(field.as_ref()).is_some());
    if !given {
        return Ok(None);
    }
    let required = |field: &str, value: &Option<String>| {
        nonblank(value.as_ref())
            .ok_or_else(|| AppError::validation(field, format!("is required for {}", kind.label())))
    };
    Ok(Some(match kind {
        PsaKind::ConnectWise => PsaCredentials::ConnectWise {
            company_id: required("company_id", &request.company_id)?,
            public_key: required("public_key", &request.public_key)?,
            private_key: SecretString::from(required("private_key", &request.private_key)?),
            client_id: SecretString::from(required("client_id", &request.client_id)?),
        },
        PsaKind::Autotask => PsaCredentials::Autotask {
            username: required("username", &request.username)?,
            secret: SecretString::from(required("secret", &request.secret)?),
            integration_code: SecretString::from(required(
                "integration_code",
                &request.integration_code,
            )?),
        },
        PsaKind::Halo => PsaCredentials::Halo {
            client_id: required("client_id", &request.client_id)?,
            client_secret: SecretString::from(required("client_secret", &request.client_secret)?),
            tenant: nonblank(request.tenant.as_ref()),
        },
    }))
}

/// The settings a request gives, on top of `base`.
pub(crate) fn settings_of(
    request: &PsaConnectionRequest,
    mut base: PsaSettings,
) -> Result<PsaSettings, AppError> {
    let set = |slot: &mut Option<String>, value: &Option<String>| {
        if let Some(value) = value {
            *slot = nonblank(Some(value));
        }
    };
    set(&mut base.board, &request.board);
    set(&mut base.new_status, &request.new_status);
    set(&mut base.closed_status, &request.closed_status);
    set(&mut base.priority_warning, &request.priority_warning);
    set(&mut base.priority_critical, &request.priority_critical);
    set(&mut base.catch_all_company, &request.catch_all_company);
    if let Some(days) = request.reopen_days {
        base.reopen_days = days;
    }
    if let Some(minutes) = request.note_interval_minutes {
        base.note_interval_minutes = minutes;
    }
    if let Some(budget) = request.hourly_budget {
        base.hourly_budget = Some(budget);
    }
    match request.close_policy.as_deref().map(str::trim) {
        None => {}
        Some("close") => base.close_on_resolve = true,
        Some("note") => base.close_on_resolve = false,
        Some(_) => {
            return Err(AppError::validation(
                "close_policy",
                "must be `close` or `note`",
            ));
        }
    }
    Ok(base)
}

fn base_url_of(kind: PsaKind, value: Option<&String>) -> Result<String, AppError> {
    let url = value.map(|url| url.trim().to_owned()).unwrap_or_default();
    if url.is_empty() {
        return match kind {
            // Autotask finds its zone from the user name.
            PsaKind::Autotask => Ok(String::new()),
            _ => Err(AppError::validation(
                "base_url",
                format!("is required for {}", kind.label()),
            )),
        };
    }
    match url::Url::parse(&url) {
        Ok(parsed) if parsed.scheme() == "https" && parsed.host().is_some() => Ok(url),
        // Plain HTTP would send the credentials in the clear: only to this machine.
        Ok(parsed) if parsed.scheme() == "http" && is_loopback(&parsed) => Ok(url),
        Ok(parsed) if parsed.scheme() == "http" => Err(AppError::validation(
            "base_url",
            "must be https (plain http only for an address on this machine)",
        )),
        _ => Err(AppError::validation(
            "base_url",
            "must be an https URL with a host",
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// The host a base URL names, for telling whether a change moves the connection.
fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
}

/// Checks a new connection's fields as creating it does.
pub(crate) fn new_connection(request: &PsaConnectionRequest) -> Result<NewPsaConnection, AppError> {
    let name = nonblank(request.name.as_ref())
        .ok_or_else(|| AppError::validation("name", "is required"))?;
    let kind_text = nonblank(request.kind.as_ref()).ok_or_else(|| {
        AppError::validation("kind", "is required: connectwise, autotask or halopsa")
    })?;
    let kind = PsaKind::parse(&kind_text)
        .ok_or_else(|| AppError::validation("kind", "must be connectwise, autotask or halopsa"))?;
    let credentials = credentials_of(kind, request)?.ok_or_else(|| {
        AppError::validation(
            match kind {
                PsaKind::ConnectWise => "company_id",
                PsaKind::Autotask => "username",
                PsaKind::Halo => "client_id",
            },
            format!("the {} credentials are required", kind.label()),
        )
    })?;
    Ok(NewPsaConnection {
        name,
        kind: kind.as_str().to_owned(),
        base_url: base_url_of(kind, request.base_url.as_ref())?,
        credentials: credentials.to_json(),
        settings: settings_of(request, PsaSettings::default())?,
        enabled: request.enabled.unwrap_or(true),
    })
}

async fn connection(state: &AppState, id: &str) -> Result<PsaConnectionRecord, AppError> {
    let id = PsaConnectionId(row_id("id", id)?);
    Ok(state.store.psa_connection(id).await?)
}

async fn client(
    state: &AppState,
    record: &PsaConnectionRecord,
) -> Result<keepit_psa::AnyPsa, AppError> {
    keepit_alerts::tickets::connect(&state.store, master_key(state)?, record)
        .await
        .map_err(|error| AppError::client(ErrorCode::Unavailable, error))
}

fn upstream(error: keepit_psa::Error) -> AppError {
    AppError::client(ErrorCode::UpstreamFailed, error.to_string())
}

/// `GET /psa-connections`: every PSA connection, without credentials.
#[utoipa::path(
    get,
    path = "/psa-connections",
    tag = "psa",
    responses((status = 200, description = "PSA connections", body = Vec<PsaConnectionDto>))
)]
pub(crate) async fn list_psa_connections(
    State(state): State<AppState>,
) -> Result<Json<Vec<PsaConnectionDto>>, AppError> {
    let connections = state.store.psa_connections().await?;
    Ok(Json(
        connections.iter().map(PsaConnectionDto::from).collect(),
    ))
}

/// `POST /psa-connections`: stores a PSA connection; its secrets are sealed with the
/// master key and never returned.
#[utoipa::path(
    post,
    path = "/psa-connections",
    tag = "psa",
    request_body = PsaConnectionRequest,
    responses(
        (status = 201, description = "The new connection (without credentials)", body = PsaConnectionDto),
        (status = 409, description = "A connection with this name exists", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
        (status = 503, description = "No master key is configured", body = ErrorEnvelope),
    )
)]
pub(crate) async fn create_psa_connection(
    State(state): State<AppState>,
    Body(request): Body<PsaConnectionRequest>,
) -> Result<(StatusCode, Json<PsaConnectionDto>), AppError> {
    let new = new_connection(&request)?;
    let key = master_key(&state)?;
    let record = state
        .store
        .create_psa_connection(&new, key, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(PsaConnectionDto::from(&record))))
}

/// `GET /psa-connections/{id}`: one connection, without credentials.
#[utoipa::path(
    get,
    path = "/psa-connections/{id}",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The connection", body = PsaConnectionDto),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
    )
)]
pub(crate) async fn get_psa_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PsaConnectionDto>, AppError> {
    Ok(Json(PsaConnectionDto::from(
        &connection(&state, &id).await?,
    )))
}

/// `PATCH /psa-connections/{id}`: changes what the body gives.
#[utoipa::path(
    patch,
    path = "/psa-connections/{id}",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    request_body = PsaConnectionRequest,
    responses(
        (status = 200, description = "The changed connection", body = PsaConnectionDto),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
        (status = 409, description = "Another connection has this name", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn update_psa_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(request): Body<PsaConnectionRequest>,
) -> Result<Json<PsaConnectionDto>, AppError> {
    let record = connection(&state, &id).await?;
    let change = connection_change(&record, &request)?;
    let key = master_key(&state)?;
    let changed = state
        .store
        .update_psa_connection(record.id, &change, key, state.clock.now())
        .await?;
    Ok(Json(PsaConnectionDto::from(&changed)))
}

/// Checks a change to `record` as `PATCH` does.
pub(crate) fn connection_change(
    record: &PsaConnectionRecord,
    request: &PsaConnectionRequest,
) -> Result<PsaConnectionChange, AppError> {
    let kind = PsaKind::parse(&record.kind)
        .ok_or_else(|| AppError::client(ErrorCode::Internal, "the stored kind is unknown"))?;
    if let Some(asked) = nonblank(request.kind.as_ref())
        && PsaKind::parse(&asked) != Some(kind)
    {
        return Err(AppError::validation(
            "kind",
            "cannot change; create another connection for another PSA",
        ));
    }
    let name = match &request.name {
        Some(name) => Some(
            nonblank(Some(name)).ok_or_else(|| AppError::validation("name", "cannot be empty"))?,
        ),
        None => None,
    };
    let base_url = match &request.base_url {
        Some(url) => Some(base_url_of(kind, Some(url))?),
        None => None,
    };
    let credentials = credentials_of(kind, request)?;
    // Stored secrets never follow the connection to another host unasked: whoever
    // moves it types them again.
    if let Some(url) = &base_url
        && host_of(url) != host_of(&record.base_url)
        && credentials.is_none()
    {
        return Err(AppError::validation(
            "base_url",
            "moves the connection to another host: enter its credentials again to send them there",
        ));
    }
    Ok(PsaConnectionChange {
        name,
        base_url,
        credentials: credentials.map(|credentials| credentials.to_json()),
        settings: Some(settings_of(request, record.settings.clone())?),
        enabled: request.enabled,
    })
}

/// `DELETE /psa-connections/{id}`: forgets a connection and its ticket records (the
/// tickets stay in the PSA).
#[utoipa::path(
    delete,
    path = "/psa-connections/{id}",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
    )
)]
pub(crate) async fn delete_psa_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let record = connection(&state, &id).await?;
    state.store.delete_psa_connection(record.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /psa-connections/{id}/test`: signs in and reads a company; answers 200 either
/// way, with what worked or what did not.
#[utoipa::path(
    post,
    path = "/psa-connections/{id}/test",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The outcome of the test", body = PsaTestDto),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
    )
)]
pub(crate) async fn test_psa_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PsaTestDto>, AppError> {
    let record = connection(&state, &id).await?;
    let now = state.clock.now();
    let outcome = match client(&state, &record).await {
        Ok(psa) => psa.test().await.map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    state
        .store
        .record_psa_outcome(
            record.id,
            outcome.as_ref().err().map(String::as_str),
            false,
            now,
        )
        .await?;
    Ok(Json(match outcome {
        Ok(message) => PsaTestDto {
            ok: true,
            message: Some(message),
            error: None,
        },
        Err(error) => PsaTestDto {
            ok: false,
            message: None,
            error: Some(error),
        },
    }))
}

/// `GET /psa-connections/{id}/picklists`: the boards (queues, ticket types), statuses,
/// priorities and outcomes the PSA offers, to choose the settings' ids from.
#[utoipa::path(
    get,
    path = "/psa-connections/{id}/picklists",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 200, description = "The PSA's choices", body = Vec<PicklistDto>),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
        (status = 502, description = "The PSA refused or failed", body = ErrorEnvelope),
    )
)]
pub(crate) async fn psa_picklists(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<PicklistDto>>, AppError> {
    let record = connection(&state, &id).await?;
    let psa = client(&state, &record).await?;
    let fields = psa.picklists().await.map_err(upstream)?;
    Ok(Json(
        fields
            .into_iter()
            .map(|field| PicklistDto {
                field: field.field.to_owned(),
                entries: field
                    .entries
                    .into_iter()
                    .map(|entry| PicklistEntryDto {
                        id: entry.id,
                        name: entry.name,
                        closes: entry.closes,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// Reads the PSA's active companies into customers and matches Keepit accounts to them.
async fn import_companies_of(
    state: &AppState,
    record: &PsaConnectionRecord,
) -> Result<CompanyImportDto, AppError> {
    use keepit_alerts::tickets::{ImportError, import_companies};
    match import_companies(&state.store, master_key(state)?, record, state.clock.now()).await {
        Ok(done) => Ok(CompanyImportDto {
            companies: done.companies,
            inserted: done.report.inserted,
            updated: done.report.updated,
            unchanged: done.report.unchanged,
            relinked: done.report.relinked,
        }),
        Err(ImportError::Connection(error)) => Err(AppError::client(ErrorCode::Unavailable, error)),
        Err(ImportError::Psa(error)) => Err(upstream(error)),
        Err(ImportError::Store(error)) => Err(error.into()),
    }
}

/// `POST /psa-connections/{id}/import-companies`: reads the PSA's active companies
/// (every page) into customers with their PSA ids; a renamed company is updated, and
/// Keepit accounts are matched to them by name (a manual link is never changed).
#[utoipa::path(
    post,
    path = "/psa-connections/{id}/import-companies",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 200, description = "What the import did", body = CompanyImportDto),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
        (status = 502, description = "The PSA refused or failed", body = ErrorEnvelope),
    )
)]
pub(crate) async fn import_companies(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CompanyImportDto>, AppError> {
    let record = connection(&state, &id).await?;
    Ok(Json(import_companies_of(&state, &record).await?))
}

/// `GET /psa-connections/{id}/tickets`: the latest 200 tickets keepit-watch opened in
/// it, most recently changed first.
#[utoipa::path(
    get,
    path = "/psa-connections/{id}/tickets",
    tag = "psa",
    params(("id" = i64, Path, description = "Connection id")),
    responses(
        (status = 200, description = "Tickets", body = Vec<PsaTicketDto>),
        (status = 404, description = "No such connection", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_psa_tickets(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<PsaTicketDto>>, AppError> {
    let record = connection(&state, &id).await?;
    let tickets = state.store.psa_tickets(Some(record.id), 200).await?;
    Ok(Json(tickets.iter().map(PsaTicketDto::from).collect()))
}
