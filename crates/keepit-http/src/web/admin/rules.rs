//! `/admin/rules`: alert rules with their per-customer overrides, and the dry run
//! that shows what a rule would do before it is saved.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use keepit_domain::{AlertRuleId, ConnectorKind, CustomerId, RuleKind, Thresholds};
use serde::Deserialize;

use super::{Problems, done, notice, number, path_id, render_form};
use crate::AppState;
use crate::dto::{AlertRuleDto, AlertRuleRequest, OverrideRequest, RulePreviewDto, ScopeDto};
use crate::routes::rules as api;
use crate::routes::{Body, Bounded};
use crate::web::pages::{Choice, Page, PageError, is_htmx, layout, render};
use crate::web::session::SignedIn;
use crate::web::view::Layout;

/// One rule as the list shows it.
pub(crate) struct RuleRow {
    pub(crate) rule: AlertRuleDto,
    pub(crate) kind: &'static str,
    pub(crate) scope: String,
    pub(crate) thresholds: Vec<(String, String)>,
    pub(crate) overrides: Vec<OverrideRow>,
}

/// One customer's override as the pages show it.
pub(crate) struct OverrideRow {
    pub(crate) customer_id: i64,
    pub(crate) customer: String,
    pub(crate) summary: String,
}

#[derive(Template)]
#[template(path = "admin_rules.html")]
struct RulesPage {
    layout: Layout,
    notice: Option<String>,
    rows: Vec<RuleRow>,
}

fn kind_label(kind: &str) -> &'static str {
    match RuleKind::parse(kind) {
        Ok(RuleKind::BackupStale) => "No recent backup",
        Ok(RuleKind::BackupFailed) => "Backup failed",
        Err(_) => "Unknown kind",
    }
}

fn scope_label(scope: &ScopeDto, customers: &HashMap<i64, String>) -> String {
    match scope {
        ScopeDto::All {} => "All connectors".to_owned(),
        ScopeDto::Customer { customer_id } => format!(
            "Customer {}",
            customers
                .get(customer_id)
                .cloned()
                .unwrap_or_else(|| format!("#{customer_id}"))
        ),
        ScopeDto::ConnectorKind { connector_kind } => format!(
            "{} connectors",
            ConnectorKind::from_code(connector_kind).display_name()
        ),
    }
}

fn hours(value: i64) -> String {
    if value % 24 == 0 && value >= 48 {
        format!("{} days", value / 24)
    } else {
        format!("{value} h")
    }
}

/// The thresholds that matter for a kind, as (label, value).
fn threshold_summary(rule: &AlertRuleDto) -> Vec<(String, String)> {
    match RuleKind::parse(&rule.kind) {
        Ok(RuleKind::BackupStale) => vec![
            ("Stale after".into(), hours(rule.stale_after_hours)),
            (
                "Warn after".into(),
                rule.warn_after_hours
                    .map_or_else(|| "off".to_owned(), hours),
            ),
            ("Remind every".into(), hours(rule.reminder_every_hours)),
        ],
        _ => vec![
            ("Looks back".into(), hours(rule.lookback_hours)),
            (
                "Pages after".into(),
                format!(
                    "{} in a row (needs action), {} in a row (Keepit retries)",
                    rule.min_consecutive_failures, rule.repeats_before_paging
                ),
            ),
            ("Remind every".into(), hours(rule.reminder_every_hours)),
        ],
    }
}

fn override_summary(o: &crate::dto::OverrideDto) -> String {
    let mut parts = Vec::new();
    match o.enabled {
        Some(false) => parts.push("off for this customer".to_owned()),
        Some(true) => parts.push("on for this customer".to_owned()),
        None => {}
    }
    let mut put = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{label} {value}"));
        }
    };
    put("stale after", o.stale_after_hours.map(hours));
    put("warn after", o.warn_after_hours.map(hours));
    put("looks back", o.lookback_hours.map(hours));
    put(
        "pages after",
        o.min_consecutive_failures
            .map(|n| format!("{n} (needs action)")),
    );
    put(
        "pages after",
        o.repeats_before_paging
            .map(|n| format!("{n} (Keepit retries)")),
    );
    put("reminds every", o.reminder_every_hours.map(hours));
    if parts.is_empty() {
        "follows the rule".to_owned()
    } else {
        parts.join(", ")
    }
}

async fn customer_names(state: &AppState) -> Result<HashMap<i64, String>, PageError> {
    Ok(state
        .store
        .customers()
        .await?
        .into_iter()
        .map(|customer| (customer.id.0, customer.name))
        .collect())
}

fn row(rule: AlertRuleDto, customers: &HashMap<i64, String>) -> RuleRow {
    RuleRow {
        kind: kind_label(&rule.kind),
        scope: scope_label(&rule.scope, customers),
        thresholds: threshold_summary(&rule),
        overrides: rule
            .overrides
            .iter()
            .map(|o| OverrideRow {
                customer_id: o.customer_id,
                customer: customers
                    .get(&o.customer_id)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", o.customer_id)),
                summary: override_summary(o),
            })
            .collect(),
        rule,
    }
}

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "The rule was created. It is evaluated at the next sync.",
    ),
    ("saved", "The rule was saved. The next sync evaluates it."),
    ("enabled", "The rule is on."),
    (
        "disabled",
        "The rule is off; its open alerts resolve at the next sync.",
    ),
    (
        "deleted",
        "The rule was deleted; its open alerts resolve at the next sync.",
    ),
    ("override", "The customer's override was saved."),
    ("override-removed", "The customer follows the rule again."),
];

/// `GET /admin/rules`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    let customers = customer_names(&state).await?;
    let Json(rules) = api::list_rules(State(state.clone())).await?;
    Ok(render(&RulesPage {
        layout: layout(&state, &signed_in, "Alert rules", "rules").await?,
        notice: notice(raw.as_deref(), NOTICES),
        rows: rules
            .into_iter()
            .map(|rule| row(rule, &customers))
            .collect(),
    }))
}

/// The rule form as typed: every field text, so that what was typed comes back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RuleForm {
    /// Which button sent it: `preview` or `save`.
    action: String,
    name: String,
    kind: String,
    enabled: Option<String>,
    scope: String,
    customer_id: String,
    connector_kind: String,
    stale_after_hours: String,
    warn_after_hours: String,
    lookback_hours: String,
    min_consecutive_failures: String,
    repeats_before_paging: String,
    reminder_every_hours: String,
}

impl RuleForm {
    fn from_rule(rule: &AlertRuleDto) -> RuleForm {
        let (scope, customer_id, connector_kind) = match &rule.scope {
            ScopeDto::All {} => ("all", String::new(), String::new()),
            ScopeDto::Customer { customer_id } => {
                ("customer", customer_id.to_string(), String::new())
            }
            ScopeDto::ConnectorKind { connector_kind } => {
                ("connector_kind", String::new(), connector_kind.clone())
            }
        };
        RuleForm {
            action: String::new(),
            name: rule.name.clone(),
            kind: rule.kind.clone(),
            enabled: rule.enabled.then(|| "on".to_owned()),
            scope: scope.to_owned(),
            customer_id,
            connector_kind,
            stale_after_hours: rule.stale_after_hours.to_string(),
            warn_after_hours: rule
                .warn_after_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
            lookback_hours: rule.lookback_hours.to_string(),
            min_consecutive_failures: rule.min_consecutive_failures.to_string(),
            repeats_before_paging: rule.repeats_before_paging.to_string(),
            reminder_every_hours: rule.reminder_every_hours.to_string(),
        }
    }

    fn blank() -> RuleForm {
        let defaults = Thresholds::default();
        RuleForm {
            kind: RuleKind::BackupStale.as_str().to_owned(),
            enabled: Some("on".to_owned()),
            scope: "all".to_owned(),
            stale_after_hours: defaults.stale_after.num_hours().to_string(),
            warn_after_hours: defaults
                .warn_after
                .map(|w| w.num_hours().to_string())
                .unwrap_or_default(),
            lookback_hours: defaults.lookback.num_hours().to_string(),
            min_consecutive_failures: defaults.min_consecutive_failures.to_string(),
            repeats_before_paging: defaults.repeats_before_paging.to_string(),
            reminder_every_hours: defaults.reminder_every.num_hours().to_string(),
            ..RuleForm::default()
        }
    }

    /// The API request this form stands for, with the problems of fields that are
    /// not even numbers. (An empty warning field switches the warning stage off.)
    fn request(&self, problems: &mut Problems) -> AlertRuleRequest {
        let scope = match self.scope.as_str() {
            "customer" => match number::<i64>(&self.customer_id, "scope.customer_id", problems) {
                Some(customer_id) => Some(ScopeDto::Customer { customer_id }),
                None => {
                    problems.add("scope.customer_id", "Choose a customer.");
                    None
                }
            },
            "connector_kind" => Some(ScopeDto::ConnectorKind {
                connector_kind: self.connector_kind.trim().to_owned(),
            }),
            _ => Some(ScopeDto::All {}),
        };
        AlertRuleRequest {
            kind: self.kind.trim().to_owned(),
            name: self.name.clone(),
            enabled: Some(self.enabled.is_some()),
            scope,
            stale_after_hours: number(&self.stale_after_hours, "stale_after_hours", problems),
            // An empty box switches the warning stage off.
            warn_after_hours: Some(number(&self.warn_after_hours, "warn_after_hours", problems)),
            lookback_hours: number(&self.lookback_hours, "lookback_hours", problems),
            min_consecutive_failures: number(
                &self.min_consecutive_failures,
                "min_consecutive_failures",
                problems,
            ),
            repeats_before_paging: number(
                &self.repeats_before_paging,
                "repeats_before_paging",
                problems,
            ),
            reminder_every_hours: number(
                &self.reminder_every_hours,
                "reminder_every_hours",
                problems,
            ),
        }
    }

    /// The request, checked as the API checks it (bounds, then the rule itself).
    fn checked(&self) -> Result<AlertRuleRequest, Problems> {
        let mut problems = Problems::default();
        let request = self.request(&mut problems);
        if let Err(error) = request
            .check_bounds()
            .and_then(|()| api::new_rule(&request).map(drop))
        {
            // A client refusal always names a field or the form.
            if problems.absorb(error).is_err() {
                problems.general = Some("The rule could not be checked.".to_owned());
            }
        }
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(problems)
        }
    }
}

#[derive(Template)]
#[template(path = "admin_rule.html")]
struct RulePage {
    layout: Layout,
    notice: Option<String>,
    /// `None` for a new rule.
    id: Option<i64>,
    form: RuleForm,
    problems: Problems,
    kinds: Vec<Choice>,
    customers: Vec<Choice>,
    connector_kinds: Vec<Choice>,
    overrides: Vec<OverrideRow>,
    /// Every customer, for the override form.
    all_customers: Vec<Choice>,
    preview: Option<PreviewView>,
}

impl RulePage {
    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/admin/rules/{id}"),
            None => "/admin/rules/new".to_owned(),
        }
    }

    fn preview_action(&self) -> String {
        match self.id {
            Some(id) => format!("/admin/rules/{id}/preview"),
            None => "/admin/rules/preview".to_owned(),
        }
    }
}

/// The dry run as the page shows it.
pub(crate) struct PreviewView {
    pub(crate) preview: RulePreviewDto,
    pub(crate) is_change: bool,
    pub(crate) shown: usize,
}

impl PreviewView {
    fn new(preview: RulePreviewDto, is_change: bool) -> PreviewView {
        PreviewView {
            preview,
            is_change,
            shown: 50,
        }
    }

    /// Findings beyond the ones shown.
    pub(crate) fn more_findings(&self) -> u32 {
        let candidate = &self.preview.candidate;
        (candidate.firing + candidate.pending).saturating_sub(self.shown as u32)
    }

    /// Changed connectors beyond the ones shown.
    pub(crate) fn more_differences(&self) -> u32 {
        self.preview
            .differences_total
            .saturating_sub(self.shown as u32)
    }

    /// The findings listed on the page.
    pub(crate) fn findings(&self) -> &[crate::dto::PreviewFindingDto] {
        let all = &self.preview.candidate.findings;
        &all[..all.len().min(self.shown)]
    }

    /// The changed connectors listed on the page.
    pub(crate) fn differences(&self) -> &[crate::dto::PreviewDifferenceDto] {
        let all = &self.preview.differences;
        &all[..all.len().min(self.shown)]
    }

    /// How the firing count moves against the rule as it is ("" for a new rule).
    pub(crate) fn firing_delta(&self) -> String {
        let p = &self.preview;
        delta(p.candidate.firing, p.current.as_ref().map(|c| c.firing))
    }

    /// How the pending count moves against the rule as it is.
    pub(crate) fn pending_delta(&self) -> String {
        let p = &self.preview;
        delta(p.candidate.pending, p.current.as_ref().map(|c| c.pending))
    }
}

/// "+3" / "−2" / "no change" against the rule as it is; empty for a new rule.
fn delta(after: u32, before: Option<u32>) -> String {
    {
        match before {
            Some(before) if after > before => format!("+{}", after - before),
            Some(before) if after < before => format!("−{}", before - after),
            Some(_) => "no change".to_owned(),
            None => String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "rule_preview.html")]
struct PreviewFragment {
    preview: Option<PreviewView>,
    problems: Problems,
}

async fn rule_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: Option<i64>,
    form: RuleForm,
    problems: Problems,
    preview: Option<PreviewView>,
) -> Page {
    rule_page_with(state, signed_in, id, form, problems, preview, None).await
}

async fn rule_page_with(
    state: &AppState,
    signed_in: &SignedIn,
    id: Option<i64>,
    form: RuleForm,
    problems: Problems,
    preview: Option<PreviewView>,
    notice: Option<String>,
) -> Page {
    let customers = state.store.customers().await?;
    let choose = |value: String, label: String, current: &str| Choice {
        selected: value == current,
        value,
        label,
    };
    let customer_options: Vec<Choice> = customers
        .iter()
        .map(|c| choose(c.id.0.to_string(), c.name.clone(), &form.customer_id))
        .collect();
    let all_customers = customers
        .iter()
        .map(|c| choose(c.id.0.to_string(), c.name.clone(), ""))
        .collect();
    let kinds = RuleKind::ALL
        .iter()
        .map(|kind| {
            choose(
                kind.as_str().to_owned(),
                kind_label(kind.as_str()).to_owned(),
                &form.kind,
            )
        })
        .collect();
    let connector_kinds = ConnectorKind::known()
        .iter()
        .map(|kind| choose(kind.code(), kind.display_name(), &form.connector_kind))
        .collect();
    let overrides = match id {
        Some(id) => {
            let names: HashMap<i64, String> =
                customers.iter().map(|c| (c.id.0, c.name.clone())).collect();
            let record = state.store.alert_rule(AlertRuleId(id)).await?;
            row(AlertRuleDto::from(&record), &names).overrides
        }
        None => Vec::new(),
    };
    let title = match id {
        Some(_) => format!("Edit rule: {}", form.name),
        None => "New alert rule".to_owned(),
    };
    let page = RulePage {
        layout: layout(state, signed_in, title, "rules").await?,
        notice,
        id,
        form,
        problems,
        kinds,
        customers: customer_options,
        connector_kinds,
        overrides,
        all_customers,
        preview,
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/rules/new`.
pub(crate) async fn new_form(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
) -> Page {
    rule_page(
        &state,
        &signed_in,
        None,
        RuleForm::blank(),
        Problems::default(),
        None,
    )
    .await
}

/// `GET /admin/rules/{id}`.
pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Page {
    let id = path_id(&id, "rule")?;
    let record = state.store.alert_rule(AlertRuleId(id)).await?;
    let form = RuleForm::from_rule(&AlertRuleDto::from(&record));
    let notice = notice(raw.as_deref(), NOTICES);
    rule_page_with(
        &state,
        &signed_in,
        Some(id),
        form,
        Problems::default(),
        None,
        notice,
    )
    .await
}

async fn dry_run(
    state: &AppState,
    id: Option<i64>,
    request: &AlertRuleRequest,
) -> Result<Result<PreviewView, Problems>, PageError> {
    let current = match id {
        Some(id) => Some(state.store.alert_rule(AlertRuleId(id)).await?.rule),
        None => None,
    };
    let is_change = current.is_some();
    match api::preview(state, request, current).await {
        Ok(preview) => Ok(Ok(PreviewView::new(preview, is_change))),
        Err(error) => Ok(Err(Problems::from_error(error)?)),
    }
}

async fn save_or_preview(
    state: AppState,
    signed_in: SignedIn,
    id: Option<i64>,
    form: RuleForm,
) -> Page {
    let request = match form.checked() {
        Ok(request) => request,
        Err(problems) => return rule_page(&state, &signed_in, id, form, problems, None).await,
    };
    if form.action == "preview" {
        return match dry_run(&state, id, &request).await? {
            Ok(preview) => {
                rule_page(
                    &state,
                    &signed_in,
                    id,
                    form,
                    Problems::default(),
                    Some(preview),
                )
                .await
            }
            Err(problems) => rule_page(&state, &signed_in, id, form, problems, None).await,
        };
    }
    let saved = match id {
        Some(id) => api::update_rule(State(state.clone()), Path(id.to_string()), Body(request))
            .await
            .map(|_| "saved"),
        None => api::create_rule(State(state.clone()), Body(request))
            .await
            .map(|_| "created"),
    };
    match saved {
        Ok(what) => Ok(done("/admin/rules", what)),
        Err(error) => {
            let problems = Problems::from_error(error)?;
            rule_page(&state, &signed_in, id, form, problems, None).await
        }
    }
}

/// `POST /admin/rules/new`: save, or preview without saving.
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<RuleForm>,
) -> Page {
    save_or_preview(state, signed_in, None, form).await
}

/// `POST /admin/rules/{id}`: save, or preview the change without saving.
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<RuleForm>,
) -> Page {
    let id = path_id(&id, "rule")?;
    save_or_preview(state, signed_in, Some(id), form).await
}

async fn preview_fragment(state: &AppState, id: Option<i64>, form: &RuleForm) -> Page {
    let (preview, problems) = match form.checked() {
        Err(problems) => (None, problems),
        Ok(request) => match dry_run(state, id, &request).await? {
            Ok(preview) => (Some(preview), Problems::default()),
            Err(problems) => (None, problems),
        },
    };
    Ok(render(&PreviewFragment { preview, problems }))
}

/// `POST /admin/rules/preview`: the dry-run panel alone, for htmx.
pub(crate) async fn preview_new(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    headers: HeaderMap,
    Form(form): Form<RuleForm>,
) -> Page {
    if !is_htmx(&headers) {
        let form = RuleForm {
            action: "preview".into(),
            ..form
        };
        return save_or_preview(state, signed_in, None, form).await;
    }
    preview_fragment(&state, None, &form).await
}

/// `POST /admin/rules/{id}/preview`: the dry-run panel of a change, for htmx.
pub(crate) async fn preview_change(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RuleForm>,
) -> Page {
    let id = path_id(&id, "rule")?;
    if !is_htmx(&headers) {
        let form = RuleForm {
            action: "preview".into(),
            ..form
        };
        return save_or_preview(state, signed_in, Some(id), form).await;
    }
    preview_fragment(&state, Some(id), &form).await
}

async fn set_enabled(state: &AppState, id: &str, enabled: bool) -> Page {
    let id = path_id(id, "rule")?;
    let record = state.store.alert_rule(AlertRuleId(id)).await?;
    let mut spec = record.rule.spec;
    spec.enabled = enabled;
    state
        .store
        .update_alert_rule(AlertRuleId(id), &spec, state.clock.now())
        .await?;
    Ok(done(
        "/admin/rules",
        if enabled { "enabled" } else { "disabled" },
    ))
}

/// `POST /admin/rules/{id}/enable`.
pub(crate) async fn enable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    set_enabled(&state, &id, true).await
}

/// `POST /admin/rules/{id}/disable`.
pub(crate) async fn disable(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    set_enabled(&state, &id, false).await
}

/// `POST /admin/rules/{id}/delete`.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Page {
    let id = path_id(&id, "rule")?;
    api::delete_rule(State(state), Path(id.to_string())).await?;
    Ok(done("/admin/rules", "deleted"))
}

/// The override form: a customer, on/off/as the rule, and thresholds to change.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OverrideForm {
    customer_id: String,
    enabled: String,
    stale_after_hours: String,
    warn_after_hours: String,
    lookback_hours: String,
    min_consecutive_failures: String,
    repeats_before_paging: String,
    reminder_every_hours: String,
}

/// `POST /admin/rules/{id}/overrides`: sets one customer's changes to the rule.
pub(crate) async fn put_override(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<OverrideForm>,
) -> Page {
    let id = path_id(&id, "rule")?;
    let mut problems = Problems::default();
    let customer = number::<i64>(&form.customer_id, "override.customer_id", &mut problems);
    let request = OverrideRequest {
        enabled: match form.enabled.as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        },
        stale_after_hours: number(
            &form.stale_after_hours,
            "override.stale_after_hours",
            &mut problems,
        ),
        warn_after_hours: number(
            &form.warn_after_hours,
            "override.warn_after_hours",
            &mut problems,
        ),
        lookback_hours: number(
            &form.lookback_hours,
            "override.lookback_hours",
            &mut problems,
        ),
        min_consecutive_failures: number(
            &form.min_consecutive_failures,
            "override.min_consecutive_failures",
            &mut problems,
        ),
        repeats_before_paging: number(
            &form.repeats_before_paging,
            "override.repeats_before_paging",
            &mut problems,
        ),
        reminder_every_hours: number(
            &form.reminder_every_hours,
            "override.reminder_every_hours",
            &mut problems,
        ),
    };
    if customer.is_none() && problems.of("override.customer_id").is_none() {
        problems.add("override.customer_id", "Choose a customer.");
    }
    if let (Some(customer), true) = (customer, problems.is_empty())
        && let Err(error) = api::put_override(
            State(state.clone()),
            Path((id.to_string(), customer.to_string())),
            Body(request),
        )
        .await
    {
        let mut refused = Problems::from_error(error)?;
        // The API names its fields without the form's prefix.
        let fields: Vec<(String, String)> = refused
            .fields
            .iter()
            .map(|(field, message)| (format!("override.{field}"), message.clone()))
            .collect();
        refused.fields = fields.into_iter().collect();
        problems = refused;
    }
    if problems.is_empty() {
        return Ok(done(&format!("/admin/rules/{id}"), "override").into_response());
    }
    let record = state.store.alert_rule(AlertRuleId(id)).await?;
    let rule_form = RuleForm::from_rule(&AlertRuleDto::from(&record));
    rule_page(&state, &signed_in, Some(id), rule_form, problems, None).await
}

/// `POST /admin/rules/{id}/overrides/{customer}/delete`.
pub(crate) async fn delete_override(
    State(state): State<AppState>,
    Path((id, customer)): Path<(String, String)>,
) -> Page {
    let id = path_id(&id, "rule")?;
    let customer = path_id(&customer, "customer")?;
    state
        .store
        .delete_alert_rule_override(AlertRuleId(id), CustomerId(customer))
        .await?;
    Ok(done(&format!("/admin/rules/{id}"), "override-removed"))
}
