//! Matching Keepit accounts to customers: the accounts waiting for a person, links
//! made by hand, and merging duplicate customers.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepit_domain::{AccountId, CustomerId, normalize_company_name};
use keepit_store::{CustomerRecord, KeepitAccountRecord, LinkState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::dto::{CustomerDto, ErrorEnvelope, time};
use crate::error::AppError;
use crate::query::{only_known, pairs, single};
use crate::routes::{Body, Bounded, row_id};

/// A Keepit customer account and how it is matched to a customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct KeepitAccountDto {
    /// The Keepit account's GUID.
    pub(crate) account_guid: String,
    /// The company name Keepit has for it.
    pub(crate) company_name: String,
    /// The integration that sees it.
    pub(crate) integration_id: i64,
    /// The customer it belongs to; `null` while it waits for a person.
    pub(crate) customer_id: Option<i64>,
    /// That customer's name.
    pub(crate) customer_name: Option<String>,
    /// `linked` (matched one customer by name), `created` (matched none; a customer
    /// was made for it), `ambiguous` (matched several, or unlinked: a person must
    /// choose) or `manual` (linked by a person; syncs never change it).
    #[schema(pattern = "^(linked|created|ambiguous|manual)$")]
    pub(crate) link: String,
    /// Customers whose name matches the account's, side by side for a person to choose.
    pub(crate) candidates: Vec<CustomerDto>,
    /// When a walk of the tree no longer found it.
    #[schema(format = DateTime)]
    pub(crate) removed_at: Option<String>,
    /// The latest sync that saw it.
    #[schema(format = DateTime)]
    pub(crate) last_seen_at: String,
}

/// Body of `PUT /keepit-accounts/{guid}/customer`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    /// The customer to link the account to.
    pub(crate) customer_id: i64,
}

impl Bounded for LinkRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        Ok(())
    }
}

/// Body of `POST /customers/{id}/merge`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeRequest {
    /// The customer to keep; the one in the path is merged into it and deleted.
    pub(crate) into: i64,
}

impl Bounded for MergeRequest {
    fn check_bounds(&self) -> Result<(), AppError> {
        Ok(())
    }
}

/// The customers whose name matches a Keepit company name as syncs match it.
pub(crate) fn candidates<'a>(
    company_name: &str,
    customers: &'a [CustomerRecord],
) -> impl Iterator<Item = &'a CustomerRecord> {
    let wanted = normalize_company_name(company_name);
    customers
        .iter()
        .filter(move |c| normalize_company_name(&c.name) == wanted)
}

fn account_dto(account: &KeepitAccountRecord, customers: &[CustomerRecord]) -> KeepitAccountDto {
    let by_id: HashMap<CustomerId, &CustomerRecord> = customers.iter().map(|c| (c.id, c)).collect();
    KeepitAccountDto {
        account_guid: account.account.to_string(),
        company_name: account.company_name.clone(),
        integration_id: account.integration.0,
        customer_id: account.customer.map(|c| c.0),
        customer_name: account
            .customer
            .and_then(|id| by_id.get(&id))
            .map(|c| c.name.clone()),
        link: account.link.as_str().to_owned(),
        candidates: candidates(&account.company_name, customers)
            .map(CustomerDto::from)
            .collect(),
        removed_at: account.removed_at.map(time),
        last_seen_at: time(account.last_seen_at),
    }
}

/// `GET /keepit-accounts`: Keepit accounts and their matching; `?match=ambiguous` is the
/// queue of accounts waiting for a person, `unmatched` those that matched no customer,
/// `linked` those linked (by name or by hand).
#[utoipa::path(
    get,
    path = "/keepit-accounts",
    tag = "customers",
    params(("match" = Option<String>, Query, pattern = "^(ambiguous|unmatched|linked)$", description = "ambiguous, unmatched or linked")),
    responses(
        (status = 200, description = "Accounts, oldest first", body = Vec<KeepitAccountDto>),
        (status = 400, description = "A parameter is invalid", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<KeepitAccountDto>>, AppError> {
    let pairs = pairs(raw.as_deref());
    only_known(&pairs, &["match"])?;
    let wanted: Option<&[LinkState]> = match single(&pairs, "match")? {
        None => None,
        Some("ambiguous") => Some(&[LinkState::Ambiguous]),
        Some("unmatched") => Some(&[LinkState::Created]),
        Some("linked") => Some(&[LinkState::Linked, LinkState::Manual]),
        Some(other) => {
            return Err(AppError::invalid(
                "match",
                format!("{other:?} is not one of ambiguous, unmatched, linked"),
            ));
        }
    };
    let customers = state.store.customers().await?;
    let accounts = state.store.keepit_accounts(None).await?;
    Ok(Json(
        accounts
            .iter()
            .filter(|account| wanted.is_none_or(|states| states.contains(&account.link)))
            .map(|account| account_dto(account, &customers))
            .collect(),
    ))
}

fn guid(text: &str) -> Result<AccountId, AppError> {
    AccountId::new(text).map_err(|error| AppError::invalid("guid", error))
}

async fn account_answer(
    state: &AppState,
    account: &AccountId,
) -> Result<Json<KeepitAccountDto>, AppError> {
    let record = state
        .store
        .keepit_account(account)
        .await?
        .ok_or_else(|| AppError::not_found("Keepit account", account))?;
    let customers = state.store.customers().await?;
    Ok(Json(account_dto(&record, &customers)))
}

/// `PUT /keepit-accounts/{guid}/customer`: links an account to a customer by hand;
/// later syncs never change the link.
#[utoipa::path(
    put,
    path = "/keepit-accounts/{guid}/customer",
    tag = "customers",
    params(("guid" = String, Path, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Keepit account GUID")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The account, linked", body = KeepitAccountDto),
        (status = 404, description = "No such account or customer", body = ErrorEnvelope),
    )
)]
pub(crate) async fn link_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
    Body(request): Body<LinkRequest>,
) -> Result<Json<KeepitAccountDto>, AppError> {
    let account = guid(&account)?;
    state
        .store
        .link_customer_manually(&account, CustomerId(request.customer_id), state.clock.now())
        .await?;
    account_answer(&state, &account).await
}

/// `DELETE /keepit-accounts/{guid}/customer`: undoes a link; the account waits in the
/// ambiguous queue (the next sync may match it by name again).
#[utoipa::path(
    delete,
    path = "/keepit-accounts/{guid}/customer",
    tag = "customers",
    params(("guid" = String, Path, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Keepit account GUID")),
    responses(
        (status = 200, description = "The account, unlinked", body = KeepitAccountDto),
        (status = 404, description = "No such account", body = ErrorEnvelope),
    )
)]
pub(crate) async fn unlink_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<Json<KeepitAccountDto>, AppError> {
    let account = guid(&account)?;
    state
        .store
        .unlink_customer(&account, state.clock.now())
        .await?;
    account_answer(&state, &account).await
}

/// `POST /customers/{id}/merge`: merges a duplicate customer into another; its
/// accounts, connectors, jobs, audit events, alerts and messages follow.
#[utoipa::path(
    post,
    path = "/customers/{id}/merge",
    tag = "customers",
    params(("id" = i64, Path, description = "The customer to merge away")),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The customer kept", body = CustomerDto),
        (status = 404, description = "No such customer", body = ErrorEnvelope),
    )
)]
pub(crate) async fn merge_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(request): Body<MergeRequest>,
) -> Result<Json<CustomerDto>, AppError> {
    let from = CustomerId(row_id("id", &id)?);
    let kept = state
        .store
        .merge_customers(from, CustomerId(request.into), state.clock.now())
        .await?;
    Ok(Json(CustomerDto::from(&kept)))
}
