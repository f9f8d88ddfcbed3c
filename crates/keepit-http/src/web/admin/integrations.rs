//! `/admin/integrations`: connecting keepit-watch to an MSP's Keepit parent
//! account, testing the credentials first, rotating them, syncing on demand and
//! watching the sync's progress.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use keepit_store::{IntegrationId, IntegrationRecord, SyncOutcome, SyncRunRecord};
use serde::Deserialize;

use super::{Problems, done, notice, number, path_id, render_form, text};
use crate::AppState;
use crate::dto::{ConnectionTestDto, IntegrationPatchRequest, NewIntegrationRequest};
use crate::routes::integrations as api;
use crate::routes::{Body, Bounded};
use crate::web::pages::{Page, PageError, is_htmx, layout, render};
use crate::web::session::SignedIn;
use crate::web::view::{Layout, When};

/// Keepit data-centre prefixes offered as suggestions; any other is accepted.
const REGIONS: &[(&str, &str)] = &[
    ("us-dc", "United States"),
    ("ca-tr", "Canada"),
    ("uk-ld", "United Kingdom"),
    ("dk-co", "Denmark"),
    ("de-fr", "Germany"),
    ("ch-zh", "Switzerland"),
    ("au-sy", "Australia"),
];

/// One integration as the list shows it.
pub(crate) struct IntegrationRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) place: String,
    pub(crate) parent: String,
    pub(crate) enabled: bool,
    pub(crate) last_sync: Option<When>,
    pub(crate) last_outcome: Option<&'static str>,
    /// "waiting for the sync daemon", "running": what a sync of it is doing now.
    pub(crate) progress: Option<String>,
    pub(crate) run: Option<RunView>,
    pub(crate) concurrency: u16,
    pub(crate) timeout_secs: u64,
}

/// The latest sync run of an integration.
pub(crate) struct RunView {
    pub(crate) started: When,
    pub(crate) finished: Option<When>,
    pub(crate) outcome: &'static str,
    pub(crate) accounts: u64,
    pub(crate) accounts_failed: u64,
    pub(crate) connectors: u64,
    pub(crate) jobs_new: u64,
    /// (account GUID or "whole pass", error).
    pub(crate) errors: Vec<(String, String)>,
}

fn outcome(outcome: SyncOutcome) -> &'static str {
    outcome.as_str()
}

fn run_view(run: &SyncRunRecord, now: DateTime<Utc>) -> RunView {
    let summary = &run.summary;
    RunView {
        started: When::new(run.started_at, now),
        finished: When::maybe(run.finished_at, now),
        outcome: outcome(summary.outcome),
        accounts: summary.accounts,
        accounts_failed: summary.accounts_failed,
        connectors: summary.connectors,
        jobs_new: summary.jobs_new,
        errors: summary
            .errors
            .iter()
            .take(20)
            .map(|error| {
                (
                    error
                        .account
                        .as_ref()
                        .map_or_else(|| "whole pass".to_owned(), ToString::to_string),
                    error.error.clone(),
                )
            })
            .collect(),
    }
}

fn row(
    record: &IntegrationRecord,
    latest: Option<&SyncRunRecord>,
    now: DateTime<Utc>,
) -> IntegrationRow {
    let running = latest.is_some_and(|run| run.summary.outcome == SyncOutcome::Running);
    let progress = if running {
        latest.map(|run| {
            format!(
                "a sync is running (started {})",
                crate::web::view::relative(run.started_at, now)
            )
        })
    } else {
        record.sync_requested_at.map(|at| {
            format!(
                "sync asked for {}; waiting for the sync daemon to take it",
                crate::web::view::relative(at, now)
            )
        })
    };
    IntegrationRow {
        id: record.id.0,
        name: record.name.clone(),
        place: match (&record.region, &record.base_url) {
            (_, Some(url)) => url.clone(),
            (Some(region), None) => format!("{region}.keepit.com"),
            (None, None) => "not set".to_owned(),
        },
        parent: record.parent_account.to_string(),
        enabled: record.enabled,
        last_sync: When::maybe(record.last_sync_at, now),
        last_outcome: record.last_sync_outcome.map(outcome),
        progress,
        run: latest.map(|run| run_view(run, now)),
        concurrency: record.settings.concurrency(),
        timeout_secs: record.settings.request_timeout().as_secs(),
    }
}

async fn rows(state: &AppState) -> Result<Vec<IntegrationRow>, PageError> {
    let now = state.clock.now();
    let integrations = state.store.integrations().await?;
    let mut latest: HashMap<IntegrationId, SyncRunRecord> = HashMap::new();
    for run in state.store.sync_runs(200).await? {
        if let Some(id) = run.integration {
            latest.entry(id).or_insert(run);
        }
    }
    Ok(integrations
        .iter()
        .map(|record| row(record, latest.get(&record.id), now))
        .collect())
}

/// The list region, refreshed while a sync is waiting or running.
#[derive(Template)]
#[template(path = "admin_integrations_live.html")]
struct LiveRegion {
    rows: Vec<IntegrationRow>,
    csrf: String,
    busy: bool,
}

#[derive(Template)]
#[template(path = "admin_integrations.html")]
struct IntegrationsPage {
    layout: Layout,
    notice: Option<String>,
    live: LiveRegion,
    form: IntegrationForm,
    problems: Problems,
    test: Option<ConnectionTestDto>,
    regions: &'static [(&'static str, &'static str)],
    has_key: bool,
}

/// The integration form as typed, for connecting Keepit and for editing. Passwords
/// are never sent back to the page.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(crate) struct IntegrationForm {
    name: String,
    region: String,
    base_url: String,
    parent_account_guid: String,
    /// `login` or `token` (a pair typed in), or `keep` (the stored pair, when editing).
    auth: String,
    username: String,
    password: String,
    api_token_login: String,
    api_token_password: String,
    concurrency: String,
    request_timeout_secs: String,
}

impl std::fmt::Debug for IntegrationForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationForm")
            .field("name", &self.name)
            .field("parent_account_guid", &self.parent_account_guid)
            .finish_non_exhaustive()
    }
}

impl IntegrationForm {
    fn request(&self, problems: &mut Problems) -> NewIntegrationRequest {
        let token = self.auth == "token";
        NewIntegrationRequest {
            name: self.name.clone(),
            region: text(&self.region),
            base_url: text(&self.base_url),
            parent_account_guid: self.parent_account_guid.clone(),
            username: (!token).then(|| self.username.clone()),
            password: (!token).then(|| self.password.clone()),
            api_token_login: token.then(|| self.api_token_login.clone()),
            api_token_password: token.then(|| self.api_token_password.clone()),
            enabled: Some(true),
            concurrency: number(&self.concurrency, "concurrency", problems),
            request_timeout_secs: number(
                &self.request_timeout_secs,
                "request_timeout_secs",
                problems,
            ),
        }
    }

    /// What goes back into the page: everything but the secrets.
    fn without_secrets(self) -> IntegrationForm {
        IntegrationForm {
            password: String::new(),
            api_token_password: String::new(),
            ..self
        }
    }

    fn token(&self) -> bool {
        self.auth == "token"
    }
}

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "The integration was saved and its first sync asked for. Its progress shows below.",
    ),
    ("sync", "A sync was asked for. Its progress shows below."),
    ("enabled", "The integration is on: syncs include it again."),
    (
        "disabled",
        "The integration is off: syncs leave it out and its open alerts resolve.",
    ),
    ("deleted", "The integration was deleted."),
    ("saved", "The integration was saved."),
];

async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    form: IntegrationForm,
    problems: Problems,
    test: Option<ConnectionTestDto>,
) -> Page {
    let rows = rows(state).await?;
    let busy = rows.iter().any(|row| row.progress.is_some());
    let page = IntegrationsPage {
        layout: layout(state, signed_in, "Integrations", "integrations").await?,
        notice,
        live: LiveRegion {
            rows,
            csrf: signed_in.0.csrf_token.clone(),
            busy,
        },
        form: form.without_secrets(),
        problems,
        test,
        regions: REGIONS,
        has_key: state.master_key.is_some(),
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/integrations`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    let form = IntegrationForm {
        auth: "login".to_owned(),
        ..IntegrationForm::default()
    };
    page(
        &state,
        &signed_in,
        notice(raw.as_deref(), NOTICES),
        form,
        Problems::default(),
        None,
    )
    .await
}

/// `GET /admin/integrations/live`: the list alone, for the page's refresh.
pub(crate) async fn live(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
) -> Page {
    let rows = rows(&state).await?;
    let busy = rows.iter().any(|row| row.progress.is_some());
    Ok(render(&LiveRegion {
        rows,
        csrf: signed_in.0.csrf_token.clone(),
        busy,
    }))
}

/// Checks the form as the API would; the request, or the form back with problems.
fn checked(form: &IntegrationForm) -> Result<NewIntegrationRequest, Problems> {
    let mut problems = Problems::default();
    let request = form.request(&mut problems);
    if let Err(error) = request
        .check_bounds()
        .and_then(|()| api::new_integration(&request).map(drop))
        && problems.absorb(error).is_err()
    {
        problems.general = Some("The integration could not be checked.".to_owned());
    }
    if problems.is_empty() {
        Ok(request)
    } else {
        Err(problems)
    }
}

/// `POST /admin/integrations/test`: tries the typed credentials; stores nothing.
pub(crate) async fn test_new(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<IntegrationForm>,
) -> Page {
    let request = match checked(&form) {
        Ok(request) => request,
        Err(problems) => return page(&state, &signed_in, None, form, problems, None).await,
    };
    match api::test_new_integration(State(state.clone()), Body(request)).await {
        Ok(Json(test)) => {
            page(
                &state,
                &signed_in,
                None,
                form,
                Problems::default(),
                Some(test),
            )
            .await
        }
        Err(error) => {
            let problems = Problems::from_error(error)?;
            page(&state, &signed_in, None, form, problems, None).await
        }
    }
}

/// `POST /admin/integrations`: tests the credentials, then stores the integration
/// and asks for its first sync. A failed test stores nothing and says why.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<IntegrationForm>,
) -> Page {
    let request = match checked(&form) {
        Ok(request) => request,
        Err(problems) => return page(&state, &signed_in, None, form, problems, None).await,
    };
    let test = match api::test_new_integration(State(state.clone()), Body(request.clone())).await {
        Ok(Json(test)) => test,
        Err(error) => {
            let problems = Problems::from_error(error)?;
            return page(&state, &signed_in, None, form, problems, None).await;
        }
    };
    if !test.ok {
        let problems = Problems {
            general: Some(
                "Nothing was saved: the connection test failed. Fix the connection and try again."
                    .to_owned(),
            ),
            ..Problems::default()
        };
        return page(&state, &signed_in, None, form, problems, Some(test)).await;
    }
    let created = match api::create_integration(State(state.clone()), Body(request)).await {
        Ok((_, Json(created))) => created,
        Err(error) => {
            let problems = Problems::from_error(error)?;
            return page(&state, &signed_in, None, form, problems, Some(test)).await;
        }
    };
    state
        .store
        .request_sync(IntegrationId(created.id), state.clock.now())
        .await?;
    Ok(done("/admin/integrations", "created"))
}

/// `POST /admin/integrations/{id}/sync`.
pub(crate) async fn sync(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let id = path_id(&id, "integration")?;
    let _accepted = api::sync_now(State(state.clone()), Path(id.to_string())).await?;
    if is_htmx(&headers) {
        return live(State(state), Extension(signed_in)).await;
    }
    Ok(done("/admin/integrations", "sync"))
}

/// `POST /admin/integrations/{id}/test`: tries the stored credentials.
pub(crate) async fn test_stored(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let id = path_id(&id, "integration")?;
    let form = IntegrationForm {
        auth: "login".to_owned(),
        ..IntegrationForm::default()
    };
    match api::test_integration(State(state.clone()), Path(id.to_string())).await {
        Ok(Json(test)) => {
            page(
                &state,
                &signed_in,
                None,
                form,
                Problems::default(),
                Some(test),
            )
            .await
        }
        Err(error) => {
            let problems = Problems::from_error(error)?;
            page(&state, &signed_in, None, form, problems, None).await
        }
    }
}

/// `POST /admin/integrations/{id}/enable`.
pub(crate) async fn enable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    let id = path_id(&id, "integration")?;
    let _integration = api::enable_integration(State(state), Path(id.to_string())).await?;
    Ok(done("/admin/integrations", "enabled"))
}

/// `POST /admin/integrations/{id}/disable`.
pub(crate) async fn disable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    let id = path_id(&id, "integration")?;
    let _integration = api::disable_integration(State(state), Path(id.to_string())).await?;
    Ok(done("/admin/integrations", "disabled"))
}

#[derive(Template)]
#[template(path = "admin_integration_delete.html")]
struct DeletePage {
    layout: Layout,
    row: IntegrationRow,
    accounts: usize,
}

/// `GET /admin/integrations/{id}/delete`: what deleting would do, and the choice.
pub(crate) async fn confirm_delete(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let id = IntegrationId(path_id(&id, "integration")?);
    let record = state.store.integration(id).await?;
    let accounts = state
        .store
        .keepit_accounts(None)
        .await?
        .iter()
        .filter(|account| account.integration == id)
        .count();
    Ok(render(&DeletePage {
        layout: layout(
            &state,
            &signed_in,
            format!("Delete {}", record.name),
            "integrations",
        )
        .await?,
        row: row(&record, None, state.clock.now()),
        accounts,
    }))
}

/// The delete form: keep or purge the synced data.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DeleteForm {
    purge: String,
}

/// `POST /admin/integrations/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Page {
    let id = path_id(&id, "integration")?;
    let purge = form.purge == "true";
    let query = purge.then(|| "purge=true".to_owned());
    api::delete_integration(State(state), Path(id.to_string()), RawQuery(query)).await?;
    Ok(done("/admin/integrations", "deleted"))
}

#[derive(Template)]
#[template(path = "admin_integration.html")]
struct EditPage {
    layout: Layout,
    row: IntegrationRow,
    form: IntegrationForm,
    problems: Problems,
    regions: &'static [(&'static str, &'static str)],
}

impl IntegrationForm {
    fn of(record: &IntegrationRecord) -> IntegrationForm {
        IntegrationForm {
            name: record.name.clone(),
            region: record.region.clone().unwrap_or_default(),
            base_url: record.base_url.clone().unwrap_or_default(),
            parent_account_guid: record.parent_account.to_string(),
            auth: "keep".to_owned(),
            concurrency: record.settings.concurrency().to_string(),
            request_timeout_secs: record.settings.request_timeout().as_secs().to_string(),
            ..IntegrationForm::default()
        }
    }

    fn login(&self) -> bool {
        self.auth == "login"
    }
}

async fn edit_page(
    state: &AppState,
    signed_in: &SignedIn,
    record: &IntegrationRecord,
    form: IntegrationForm,
    problems: Problems,
) -> Page {
    let page = EditPage {
        layout: layout(
            state,
            signed_in,
            format!("Integration {}", record.name),
            "integrations",
        )
        .await?,
        row: row(record, None, state.clock.now()),
        form: form.without_secrets(),
        problems,
        regions: REGIONS,
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/integrations/{id}`.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Page {
    let id = IntegrationId(path_id(&id, "integration")?);
    let record = state.store.integration(id).await?;
    edit_page(
        &state,
        &signed_in,
        &record,
        IntegrationForm::of(&record),
        Problems::default(),
    )
    .await
}

/// `POST /admin/integrations/{id}`: saves details and rotates credentials, after a
/// connection test when the credentials or the place to reach Keepit change.
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<IntegrationForm>,
) -> Page {
    let id = IntegrationId(path_id(&id, "integration")?);
    let record = state.store.integration(id).await?;
    let mut problems = Problems::default();
    let changed = |typed: &str, stored: Option<&str>| {
        let typed = typed.trim();
        (typed != stored.unwrap_or("").trim() && !typed.is_empty()).then(|| typed.to_owned())
    };
    let request = IntegrationPatchRequest {
        name: changed(&form.name, Some(&record.name))
            .or_else(|| form.name.trim().is_empty().then(String::new)),
        region: changed(&form.region, record.region.as_deref()),
        base_url: changed(&form.base_url, record.base_url.as_deref()),
        parent_account_guid: changed(
            &form.parent_account_guid,
            Some(record.parent_account.as_str()),
        ),
        username: form.login().then(|| form.username.clone()),
        password: form.login().then(|| form.password.clone()),
        api_token_login: form.token().then(|| form.api_token_login.clone()),
        api_token_password: form.token().then(|| form.api_token_password.clone()),
        concurrency: number(&form.concurrency, "concurrency", &mut problems),
        request_timeout_secs: number(
            &form.request_timeout_secs,
            "request_timeout_secs",
            &mut problems,
        ),
    };
    if problems.is_empty() {
        let result = match request.check_bounds() {
            Ok(()) => api::update_integration(
                State(state.clone()),
                Path(id.0.to_string()),
                RawQuery(None),
                Body(request),
            )
            .await
            .map(drop),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => return Ok(done("/admin/integrations", "saved")),
            Err(error) => problems = Problems::from_error(error)?,
        }
    }
    edit_page(&state, &signed_in, &record, form, problems).await
}
