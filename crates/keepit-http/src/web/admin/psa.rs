//! `/admin/psa`: connecting the PSA that alert tickets go to, choosing its board and
//! statuses from what the PSA lists, importing its companies as customers, and the
//! tickets opened so far.

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, RawQuery, State};
use keepit_psa::{PicklistField, Psa as _, PsaKind};
use keepit_store::{NewPsaConnection, PsaConnectionChange, PsaConnectionId, PsaConnectionRecord};
use serde::Deserialize;

use super::{Problems, done, notice, number, path_id, render_form, text};
use crate::AppState;
use crate::dto::PsaConnectionRequest;
use crate::routes::Bounded;
use crate::routes::psa as api;
use crate::web::pages::{Page, PageError, layout};
use crate::web::session::SignedIn;
use crate::web::view::{Layout, When};

/// One connection as the list shows it.
pub(crate) struct ConnectionRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) base_url: String,
    pub(crate) enabled: bool,
    pub(crate) board: String,
    pub(crate) last_import: Option<When>,
    pub(crate) last_error: Option<String>,
}

/// One ticket keepit-watch opened.
pub(crate) struct TicketRow {
    pub(crate) ticket: String,
    pub(crate) connection: String,
    pub(crate) state: &'static str,
    pub(crate) state_label: &'static str,
    pub(crate) customer: String,
    pub(crate) connector: String,
    pub(crate) notes: u32,
    pub(crate) opened: When,
    pub(crate) updated: When,
    pub(crate) error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_psa.html")]
struct PsaPage {
    layout: Layout,
    notice: Option<String>,
    outcome: Option<(bool, String)>,
    rows: Vec<ConnectionRow>,
    tickets: Vec<TicketRow>,
    form: ConnectionForm,
    problems: Problems,
    has_key: bool,
    kinds: Vec<(&'static str, &'static str)>,
}

/// The connection form as typed. Secrets are never sent back to the page.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConnectionForm {
    name: String,
    kind: String,
    base_url: String,
    company_id: String,
    public_key: String,
    private_key: String,
    cw_client_id: String,
    username: String,
    secret: String,
    integration_code: String,
    halo_client_id: String,
    client_secret: String,
    tenant: String,
    // Settings (the connection page).
    board: String,
    new_status: String,
    closed_status: String,
    priority_warning: String,
    priority_critical: String,
    catch_all_company: String,
    reopen_days: String,
    close_policy: String,
    note_interval_minutes: String,
    hourly_budget: String,
}

impl std::fmt::Debug for ConnectionForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionForm")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ConnectionForm {
    /// The API request the form stands for. Only the chosen PSA's credential fields
    /// are read; ConnectWise and Halo both call theirs "client id".
    fn request(&self, problems: &mut Problems) -> PsaConnectionRequest {
        let kind = PsaKind::parse(&self.kind);
        let client_id = match kind {
            Some(PsaKind::ConnectWise) => text(&self.cw_client_id),
            Some(PsaKind::Halo) => text(&self.halo_client_id),
            _ => None,
        };
        let only = |wanted: PsaKind, value: &str| {
            if kind == Some(wanted) {
                text(value)
            } else {
                None
            }
        };
        PsaConnectionRequest {
            name: Some(self.name.clone()),
            kind: text(&self.kind),
            base_url: Some(self.base_url.clone()),
            company_id: only(PsaKind::ConnectWise, &self.company_id),
            public_key: only(PsaKind::ConnectWise, &self.public_key),
            private_key: only(PsaKind::ConnectWise, &self.private_key),
            client_id,
            username: only(PsaKind::Autotask, &self.username),
            secret: only(PsaKind::Autotask, &self.secret),
            integration_code: only(PsaKind::Autotask, &self.integration_code),
            client_secret: only(PsaKind::Halo, &self.client_secret),
            tenant: only(PsaKind::Halo, &self.tenant),
            enabled: None,
            board: Some(self.board.clone()),
            new_status: Some(self.new_status.clone()),
            closed_status: Some(self.closed_status.clone()),
            priority_warning: Some(self.priority_warning.clone()),
            priority_critical: Some(self.priority_critical.clone()),
            catch_all_company: Some(self.catch_all_company.clone()),
            reopen_days: number(&self.reopen_days, "reopen_days", problems),
            close_policy: text(&self.close_policy),
            note_interval_minutes: number(
                &self.note_interval_minutes,
                "note_interval_minutes",
                problems,
            ),
            hourly_budget: number(&self.hourly_budget, "hourly_budget", problems),
        }
    }

    fn without_secrets(self) -> ConnectionForm {
        ConnectionForm {
            private_key: String::new(),
            cw_client_id: String::new(),
            secret: String::new(),
            integration_code: String::new(),
            client_secret: String::new(),
            ..self
        }
    }

    fn of(record: &PsaConnectionRecord) -> ConnectionForm {
        let settings = &record.settings;
        let value = |value: &Option<String>| value.clone().unwrap_or_default();
        ConnectionForm {
            name: record.name.clone(),
            kind: record.kind.clone(),
            base_url: record.base_url.clone(),
            board: value(&settings.board),
            new_status: value(&settings.new_status),
            closed_status: value(&settings.closed_status),
            priority_warning: value(&settings.priority_warning),
            priority_critical: value(&settings.priority_critical),
            catch_all_company: value(&settings.catch_all_company),
            reopen_days: settings.reopen_days.to_string(),
            close_policy: if settings.close_on_resolve {
                "close"
            } else {
                "note"
            }
            .to_owned(),
            note_interval_minutes: settings.note_interval_minutes.to_string(),
            hourly_budget: settings
                .hourly_budget
                .map(|budget| budget.to_string())
                .unwrap_or_default(),
            ..ConnectionForm::default()
        }
    }
}

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "The PSA connection was tested and saved. Choose its board and statuses below it, then import its companies.",
    ),
    ("saved", "The settings were saved."),
    ("enabled", "Ticket filing is on for this connection."),
    (
        "disabled",
        "Ticket filing is off for this connection: alerts no longer open or change tickets in it.",
    ),
    (
        "deleted",
        "The PSA connection was deleted; its tickets stay in the PSA.",
    ),
];

fn kind_label(kind: &str) -> &'static str {
    PsaKind::parse(kind).map_or("unknown PSA", PsaKind::label)
}

async fn rows(state: &AppState) -> Result<(Vec<ConnectionRow>, Vec<TicketRow>), PageError> {
    let now = state.clock.now();
    let connections = state.store.psa_connections().await?;
    let names: HashMap<PsaConnectionId, String> = connections
        .iter()
        .map(|record| (record.id, record.name.clone()))
        .collect();
    let rows = connections
        .iter()
        .map(|record| ConnectionRow {
            id: record.id.0,
            name: record.name.clone(),
            kind: kind_label(&record.kind),
            base_url: if record.base_url.is_empty() {
                "zone found from the user name".to_owned()
            } else {
                record.base_url.clone()
            },
            enabled: record.enabled,
            board: match (&record.settings.board, PsaKind::parse(&record.kind)) {
                (Some(board), Some(kind)) => format!("{} {board}", kind.board_label()),
                (None, Some(kind)) => {
                    format!("no {} chosen: the PSA's default", kind.board_label())
                }
                _ => String::new(),
            },
            last_import: When::maybe(record.last_import_at, now),
            last_error: record.last_error.clone(),
        })
        .collect();
    let customers: HashMap<_, _> = state
        .store
        .customers()
        .await?
        .into_iter()
        .map(|customer| (customer.id, customer.name))
        .collect();
    let tickets = state
        .store
        .psa_tickets(None, 50)
        .await?
        .into_iter()
        .map(|ticket| TicketRow {
            connection: names.get(&ticket.connection).cloned().unwrap_or_default(),
            state: ticket.state.as_str(),
            state_label: match ticket.state {
                keepit_store::PsaTicketState::Open => "open",
                keepit_store::PsaTicketState::Closed => "closed by keepit-watch",
                keepit_store::PsaTicketState::Resolved => "resolved, left open",
                keepit_store::PsaTicketState::LeftAlone => "closed in the PSA",
            },
            customer: ticket
                .customer
                .and_then(|id| customers.get(&id).cloned())
                .unwrap_or_else(|| "catch-all company".to_owned()),
            connector: ticket.connector.to_string(),
            notes: ticket.notes,
            opened: When::new(ticket.created_at, now),
            updated: When::new(ticket.updated_at, now),
            error: ticket.last_error.clone(),
            ticket: ticket.ticket,
        })
        .collect();
    Ok((rows, tickets))
}

async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    outcome: Option<(bool, String)>,
    form: ConnectionForm,
    problems: Problems,
) -> Page {
    let (rows, tickets) = rows(state).await?;
    let page = PsaPage {
        layout: layout(state, signed_in, "PSA", "psa").await?,
        notice,
        outcome,
        rows,
        tickets,
        form: form.without_secrets(),
        problems,
        has_key: state.master_key.is_some(),
        kinds: PsaKind::ALL
            .iter()
            .map(|kind| (kind.as_str(), kind.label()))
            .collect(),
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/psa`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    let form = ConnectionForm {
        kind: "connectwise".to_owned(),
        ..ConnectionForm::default()
    };
    page(
        &state,
        &signed_in,
        notice(raw.as_deref(), NOTICES),
        None,
        form,
        Problems::default(),
    )
    .await
}

/// `POST /admin/psa`: checks the form as the API does, tests the credentials against
/// the PSA, and stores the connection only when the test passes.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<ConnectionForm>,
) -> Page {
    let mut problems = Problems::default();
    let request = form.request(&mut problems);
    let new = match request
        .check_bounds()
        .and_then(|()| api::new_connection(&request))
    {
        Ok(new) if problems.is_empty() => new,
        Ok(_) => return page(&state, &signed_in, None, None, form, problems).await,
        Err(error) => {
            problems.absorb(error)?;
            return page(&state, &signed_in, None, None, form, problems).await;
        }
    };
    let Some(key) = state.master_key.as_deref() else {
        problems.general =
            Some("The server has no master key, so it cannot store PSA credentials.".to_owned());
        return page(&state, &signed_in, None, None, form, problems).await;
    };
    match test_unsaved(&new).await {
        Ok(_) => {}
        Err(error) => {
            problems.general = Some(format!(
                "Nothing was saved: the connection test failed. {error}"
            ));
            return page(&state, &signed_in, None, None, form, problems).await;
        }
    }
    match state
        .store
        .create_psa_connection(&new, key, state.clock.now())
        .await
    {
        Ok(record) => Ok(done(&format!("/admin/psa/{}", record.id), "created")),
        Err(keepit_store::Error::Conflict { .. }) => {
            problems.add("name", "Another PSA connection has this name.");
            page(&state, &signed_in, None, None, form, problems).await
        }
        Err(error) => Err(error.into()),
    }
}

/// Signs in with credentials that are not stored yet.
async fn test_unsaved(new: &NewPsaConnection) -> Result<String, String> {
    let psa = keepit_alerts::tickets::client_for(
        &new.kind,
        &new.base_url,
        &new.credentials,
        new.settings.hourly_budget,
    )?;
    psa.test().await.map_err(|error| error.to_string())
}

async fn record(state: &AppState, id: &str) -> Result<PsaConnectionRecord, PageError> {
    let id = path_id(id, "PSA connection")?;
    Ok(state.store.psa_connection(PsaConnectionId(id)).await?)
}

#[derive(Template)]
#[template(path = "admin_psa_connection.html")]
struct ConnectionPage {
    layout: Layout,
    notice: Option<String>,
    id: i64,
    kind: &'static str,
    form: ConnectionForm,
    problems: Problems,
    /// Why the PSA's choices could not be read, if they could not.
    picklist_error: Option<String>,
    /// The board, status and priority settings with the PSA's choices for each.
    fields: Vec<SettingField>,
    /// Customers with a PSA id, for the catch-all company.
    companies: Vec<(String, String)>,
}

/// One setting chosen from a PSA picklist (typed as an id when the list is unknown).
pub(crate) struct SettingField {
    pub(crate) field: &'static str,
    pub(crate) label: String,
    pub(crate) value: String,
    /// (id, name); empty when the PSA could not be asked.
    pub(crate) choices: Vec<(String, String)>,
    /// What an empty choice means.
    pub(crate) empty: &'static str,
}

/// The choices of one picklist field.
fn choices(picklists: &[PicklistField], field: &str) -> Vec<(String, String)> {
    picklists
        .iter()
        .filter(|list| list.field == field)
        .flat_map(|list| list.entries.iter())
        .map(|entry| {
            let mut name = entry.name.clone();
            if entry.closes == Some(true) {
                name.push_str(" (closes)");
            }
            (entry.id.clone(), name)
        })
        .collect()
}

fn setting_fields(
    form: &ConnectionForm,
    board_label: &str,
    picklists: &[PicklistField],
) -> Vec<SettingField> {
    let mut board = board_label.to_owned();
    if let Some(first) = board.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    [
        ("board", board, &form.board, "board", "the PSA's default"),
        (
            "new_status",
            "Status for new and reopened tickets".to_owned(),
            &form.new_status,
            "status",
            "the PSA's default",
        ),
        (
            "closed_status",
            "Status that closes a ticket".to_owned(),
            &form.closed_status,
            "status",
            "not set: tickets are only noted",
        ),
        (
            "priority_warning",
            "Priority for warnings".to_owned(),
            &form.priority_warning,
            "priority",
            "the PSA's default",
        ),
        (
            "priority_critical",
            "Priority for critical alerts".to_owned(),
            &form.priority_critical,
            "priority",
            "the PSA's default",
        ),
    ]
    .into_iter()
    .map(|(field, label, value, list, empty)| SettingField {
        field,
        label,
        value: value.clone(),
        choices: choices(picklists, list),
        empty,
    })
    .collect()
}

async fn connection_page(
    state: &AppState,
    signed_in: &SignedIn,
    record: &PsaConnectionRecord,
    notice: Option<String>,
    form: ConnectionForm,
    problems: Problems,
) -> Page {
    let picklists = match state.master_key.as_deref() {
        None => Err("the server has no master key to unseal the credentials".to_owned()),
        Some(key) => match keepit_alerts::tickets::connect(&state.store, key, record).await {
            Ok(psa) => psa.picklists().await.map_err(|error| error.to_string()),
            Err(error) => Err(error),
        },
    };
    let companies = state
        .store
        .customers()
        .await?
        .into_iter()
        .filter_map(|customer| customer.external_id.map(|id| (id, customer.name)))
        .take(5_000)
        .collect();
    let kind = PsaKind::parse(&record.kind);
    let board_label = kind.map_or("board", PsaKind::board_label);
    let fields = setting_fields(&form, board_label, picklists.as_deref().unwrap_or_default());
    let page = ConnectionPage {
        layout: layout(state, signed_in, record.name.clone(), "psa").await?,
        notice,
        id: record.id.0,
        kind: kind_label(&record.kind),
        form: form.without_secrets(),
        problems,
        picklist_error: picklists.err(),
        fields,
        companies,
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/psa/{id}`: the settings, with the PSA's own choices.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Page {
    let record = record(&state, &id).await?;
    let form = ConnectionForm::of(&record);
    connection_page(
        &state,
        &signed_in,
        &record,
        notice(raw.as_deref(), NOTICES),
        form,
        Problems::default(),
    )
    .await
}

/// `POST /admin/psa/{id}`: saves the settings (and rotated credentials, when typed).
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(mut form): Form<ConnectionForm>,
) -> Page {
    let record = record(&state, &id).await?;
    form.kind.clone_from(&record.kind);
    let mut problems = Problems::default();
    let request = form.request(&mut problems);
    let change: PsaConnectionChange = match request
        .check_bounds()
        .and_then(|()| api::connection_change(&record, &request))
    {
        Ok(change) if problems.is_empty() => change,
        Ok(_) => return connection_page(&state, &signed_in, &record, None, form, problems).await,
        Err(error) => {
            problems.absorb(error)?;
            return connection_page(&state, &signed_in, &record, None, form, problems).await;
        }
    };
    let Some(key) = state.master_key.as_deref() else {
        problems.general = Some("The server has no master key.".to_owned());
        return connection_page(&state, &signed_in, &record, None, form, problems).await;
    };
    match state
        .store
        .update_psa_connection(record.id, &change, key, state.clock.now())
        .await
    {
        Ok(_) => Ok(done(&format!("/admin/psa/{}", record.id), "saved")),
        Err(keepit_store::Error::Conflict { .. }) => {
            problems.add("name", "Another PSA connection has this name.");
            connection_page(&state, &signed_in, &record, None, form, problems).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /admin/psa/{id}/test`.
pub(crate) async fn test(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let record = record(&state, &id).await?;
    let axum::Json(test) =
        api::test_psa_connection(State(state.clone()), Path(record.id.0.to_string())).await?;
    let outcome = match (test.ok, test.message, test.error) {
        (true, Some(message), _) => (true, format!("{}: {message}", record.name)),
        (_, _, error) => (
            false,
            format!(
                "{}: the test failed. {}",
                record.name,
                error.unwrap_or_default()
            ),
        ),
    };
    page(
        &state,
        &signed_in,
        None,
        Some(outcome),
        ConnectionForm::default(),
        Problems::default(),
    )
    .await
}

/// `POST /admin/psa/{id}/import`: reads the PSA's companies into customers.
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let record = record(&state, &id).await?;
    let outcome = match api::import_companies(State(state.clone()), Path(record.id.0.to_string()))
        .await
    {
        Ok(axum::Json(done)) => (
            true,
            format!(
                "{}: {} active companies read; {} customers added, {} renamed, {} unchanged; {} Keepit accounts matched to them. Accounts that match several customers wait on the Customers page.",
                record.name,
                done.companies,
                done.inserted,
                done.updated,
                done.unchanged,
                done.relinked
            ),
        ),
        Err(error) => (
            false,
            format!("{}: the import failed. {error}", record.name),
        ),
    };
    page(
        &state,
        &signed_in,
        None,
        Some(outcome),
        ConnectionForm::default(),
        Problems::default(),
    )
    .await
}

async fn switch(state: &AppState, id: &str, enabled: bool) -> Page {
    let record = record(state, id).await?;
    let key = state.master_key.as_deref().ok_or_else(|| {
        PageError::from_response(crate::web::pages::refusal(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "The server has no master key.",
        ))
    })?;
    state
        .store
        .update_psa_connection(
            record.id,
            &PsaConnectionChange {
                enabled: Some(enabled),
                ..PsaConnectionChange::default()
            },
            key,
            state.clock.now(),
        )
        .await?;
    Ok(done(
        "/admin/psa",
        if enabled { "enabled" } else { "disabled" },
    ))
}

/// `POST /admin/psa/{id}/enable`.
pub(crate) async fn enable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    switch(&state, &id, true).await
}

/// `POST /admin/psa/{id}/disable`.
pub(crate) async fn disable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    switch(&state, &id, false).await
}

/// `POST /admin/psa/{id}/delete`.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    let record = record(&state, &id).await?;
    state.store.delete_psa_connection(record.id).await?;
    Ok(done("/admin/psa", "deleted"))
}
