//! `/admin/customers`: matching Keepit accounts to customers. The accounts that
//! wait for a person (several customers matched), the ones no customer matched,
//! links made by hand, merging duplicates, and importing PSA customers from CSV.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, RawQuery, State};
use axum::{Extension, Json};
use keepit_domain::{AccountId, CustomerId};
use keepit_store::{CustomerRecord, ImportReport, KeepitAccountRecord, LinkState};
use serde::Deserialize;

use super::{Problems, done, notice, number, render_form};
use crate::AppState;
use crate::routes::Body;
use crate::routes::matching::{self as api, LinkRequest, MergeRequest};
use crate::web::pages::{Page, PageError, layout};
use crate::web::session::SignedIn;
use crate::web::view::{Layout, When};

/// The largest CSV file the import takes.
pub(crate) const IMPORT_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// A customer as a choice.
pub(crate) struct CustomerChoice {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) psa: Option<String>,
    pub(crate) accounts: usize,
}

/// A Keepit account as the page lists it.
pub(crate) struct AccountRow {
    pub(crate) guid: String,
    pub(crate) company: String,
    pub(crate) customer: Option<CustomerChoice>,
    pub(crate) candidates: Vec<CustomerChoice>,
    pub(crate) seen: When,
}

/// The result of an import, as the page reports it.
pub(crate) struct ImportView {
    pub(crate) inserted: u64,
    pub(crate) updated: u64,
    pub(crate) unchanged: u64,
    pub(crate) relinked: u64,
    pub(crate) errors: Vec<String>,
}

impl From<&ImportReport> for ImportView {
    fn from(report: &ImportReport) -> Self {
        ImportView {
            inserted: report.inserted,
            updated: report.updated,
            unchanged: report.unchanged,
            relinked: report.relinked,
            errors: report
                .errors
                .iter()
                .take(50)
                .map(|error| format!("line {}: {}", error.line, error.message))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_customers.html")]
struct CustomersPage {
    layout: Layout,
    notice: Option<String>,
    problems: Problems,
    ambiguous: Vec<AccountRow>,
    unmatched: Vec<AccountRow>,
    manual: Vec<AccountRow>,
    customers: Vec<CustomerChoice>,
    import: Option<ImportView>,
    csv: String,
}

const NOTICES: &[(&str, &str)] = &[
    (
        "linked",
        "The account was linked. Syncs keep the link as it is from now on.",
    ),
    (
        "unlinked",
        "The manual link was removed. The next sync matches the account by name again.",
    ),
    (
        "merged",
        "The customers were merged: accounts, connectors, history and alerts moved to the one kept.",
    ),
];

fn choice(customer: &CustomerRecord, accounts: &HashMap<CustomerId, usize>) -> CustomerChoice {
    CustomerChoice {
        id: customer.id.0,
        name: customer.name.clone(),
        psa: customer.external_id.clone(),
        accounts: accounts.get(&customer.id).copied().unwrap_or(0),
    }
}

async fn customers_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    problems: Problems,
    import: Option<ImportView>,
    csv: String,
) -> Page {
    let now = state.clock.now();
    let customers = state.store.customers().await?;
    let accounts = state.store.keepit_accounts(None).await?;
    let mut per_customer: HashMap<CustomerId, usize> = HashMap::new();
    for account in &accounts {
        if let Some(customer) = account.customer {
            *per_customer.entry(customer).or_default() += 1;
        }
    }
    let by_id: HashMap<CustomerId, &CustomerRecord> = customers
        .iter()
        .map(|customer| (customer.id, customer))
        .collect();
    let row = |account: &KeepitAccountRecord| AccountRow {
        guid: account.account.to_string(),
        company: account.company_name.clone(),
        customer: account
            .customer
            .and_then(|id| by_id.get(&id))
            .map(|customer| choice(customer, &per_customer)),
        candidates: api::candidates(&account.company_name, &customers)
            .map(|customer| choice(customer, &per_customer))
            .collect(),
        seen: When::new(account.last_seen_at, now),
    };
    let pick = |state: LinkState| -> Vec<AccountRow> {
        accounts
            .iter()
            .filter(|account| account.link == state && account.removed_at.is_none())
            .map(row)
            .collect()
    };
    let mut choices: Vec<CustomerChoice> = customers
        .iter()
        .map(|customer| choice(customer, &per_customer))
        .collect();
    choices.sort_by_key(|c| c.name.to_lowercase());
    let page = CustomersPage {
        layout: layout(
            state,
            signed_in,
            "Customers and Keepit accounts",
            "matching",
        )
        .await?,
        notice,
        problems,
        ambiguous: pick(LinkState::Ambiguous),
        unmatched: pick(LinkState::Created),
        manual: pick(LinkState::Manual),
        customers: choices,
        import,
        csv,
    };
    Ok(render_form(&page, &page.problems))
}

/// `GET /admin/customers`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    RawQuery(raw): RawQuery,
) -> Page {
    customers_page(
        &state,
        &signed_in,
        notice(raw.as_deref(), NOTICES),
        Problems::default(),
        None,
        String::new(),
    )
    .await
}

/// The link form: one account and a customer, by id (a candidate's button) or by
/// the search box (a name, or "name (#id)" as the suggestions give it).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LinkForm {
    account: String,
    customer_id: String,
    search: String,
}

/// The customer a search box names: "Name (#12)", "#12", or a name that exactly
/// one customer has (letter case and spacing aside).
fn searched(text: &str, customers: &[CustomerRecord]) -> Result<CustomerId, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Type a customer's name, or pick one of the suggestions.");
    }
    let id = text
        .rsplit_once("(#")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .or_else(|| text.strip_prefix('#'))
        .and_then(|id| id.trim().parse::<i64>().ok());
    if let Some(id) = id {
        return customers
            .iter()
            .find(|customer| customer.id.0 == id)
            .map(|customer| customer.id)
            .ok_or("There is no such customer.");
    }
    let mut matches = api::candidates(text, customers);
    match (matches.next(), matches.next()) {
        (Some(customer), None) => Ok(customer.id),
        (Some(_), Some(_)) => Err("Several customers have that name; pick one of the suggestions."),
        (None, _) => Err("No customer has that name; pick one of the suggestions."),
    }
}

/// `POST /admin/customers/link`: links an account to a customer by hand.
pub(crate) async fn link(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<LinkForm>,
) -> Page {
    let mut problems = Problems::default();
    let customer = match number::<i64>(&form.customer_id, "search", &mut problems) {
        Some(id) => Some(CustomerId(id)),
        None if problems.is_empty() => {
            let customers = state.store.customers().await?;
            match searched(&form.search, &customers) {
                Ok(id) => Some(id),
                Err(message) => {
                    problems.add(&format!("search:{}", form.account.trim()), message);
                    None
                }
            }
        }
        None => None,
    };
    if let Some(customer) = customer {
        let linked = api::link_account(
            State(state.clone()),
            axum::extract::Path(form.account.trim().to_owned()),
            Body(LinkRequest {
                customer_id: customer.0,
            }),
        )
        .await;
        match linked {
            Ok(_) => return Ok(done("/admin/customers", "linked")),
            Err(error) => {
                problems.absorb(error)?;
                // The account comes from the page, not from a field the user typed.
                if let Some(message) = problems.fields.remove("guid") {
                    problems.general = Some(message);
                }
            }
        }
    }
    customers_page(&state, &signed_in, None, problems, None, String::new()).await
}

/// The unlink form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AccountForm {
    account: String,
}

/// `POST /admin/customers/unlink`: removes a manual link.
pub(crate) async fn unlink(State(state): State<AppState>, Form(form): Form<AccountForm>) -> Page {
    let account = AccountId::new(form.account.trim()).map_err(|_| {
        PageError::from(crate::error::AppError::not_found(
            "Keepit account",
            "the one named",
        ))
    })?;
    let _account =
        api::unlink_account(State(state), axum::extract::Path(account.to_string())).await?;
    Ok(done("/admin/customers", "unlinked"))
}

/// The merge form: the duplicate and the customer to keep.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MergeForm {
    from: String,
    into: String,
}

/// `POST /admin/customers/merge`.
pub(crate) async fn merge(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<MergeForm>,
) -> Page {
    let mut problems = Problems::default();
    let from = number::<i64>(&form.from, "merge.from", &mut problems);
    let into = number::<i64>(&form.into, "merge.into", &mut problems);
    match (from, into) {
        (None, _) if problems.of("merge.from").is_none() => {
            problems.add("merge.from", "Choose the duplicate.");
        }
        (_, None) if problems.of("merge.into").is_none() => {
            problems.add("merge.into", "Choose the customer to keep.");
        }
        (Some(from), Some(into)) if from == into => {
            problems.add("merge.into", "Choose two different customers.");
        }
        (Some(from), Some(into)) => {
            let merged = api::merge_customer(
                State(state.clone()),
                axum::extract::Path(from.to_string()),
                Body(MergeRequest { into }),
            )
            .await;
            match merged {
                Ok(Json(_)) => return Ok(done("/admin/customers", "merged")),
                Err(error) => problems.absorb(error)?,
            }
        }
        _ => {}
    }
    customers_page(&state, &signed_in, None, problems, None, String::new()).await
}

/// The import form: the CSV text (a chosen file is read into it by the page).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ImportForm {
    csv: String,
}

/// `POST /admin/customers/import`: imports PSA customers from CSV
/// (`name,external_id`), as `keepit-sync customers import` does.
pub(crate) async fn import(
    State(state): State<AppState>,
    Extension(signed_in): Extension<SignedIn>,
    Form(form): Form<ImportForm>,
) -> Page {
    let mut problems = Problems::default();
    if form.csv.trim().is_empty() {
        problems.add("csv", "Choose a CSV file, or paste its text.");
        return customers_page(&state, &signed_in, None, problems, None, String::new()).await;
    }
    match state
        .store
        .import_customers_csv(form.csv.as_bytes(), state.clock.now())
        .await
    {
        Ok(report) => {
            let view = ImportView::from(&report);
            customers_page(
                &state,
                &signed_in,
                None,
                problems,
                Some(view),
                String::new(),
            )
            .await
        }
        Err(keepit_store::Error::Csv(error)) => {
            problems.add(
                "csv",
                format!("The file could not be read as CSV: {error}."),
            );
            customers_page(&state, &signed_in, None, problems, None, form.csv).await
        }
        Err(other) => Err(PageError::from(other)),
    }
}

/// Only the checks this page adds to the API's; the rest is the API's own.
#[cfg(test)]
mod tests {
    use chrono::Utc;
    use keepit_store::CustomerSource;

    use super::*;

    fn customer(id: i64, name: &str) -> CustomerRecord {
        CustomerRecord {
            id: CustomerId(id),
            name: name.to_owned(),
            external_id: None,
            source: CustomerSource::Psa,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_search_box_finds_one_customer_or_says_why_not() {
        let customers = [
            customer(1, "Contoso Ltd"),
            customer(2, "Fabrikam"),
            customer(3, "Fabrikam"),
        ];
        assert_eq!(searched("Contoso Ltd (#1)", &customers), Ok(CustomerId(1)));
        assert_eq!(searched("#2", &customers), Ok(CustomerId(2)));
        assert_eq!(searched("  contoso   ltd ", &customers), Ok(CustomerId(1)));
        assert!(searched("Fabrikam", &customers).is_err());
        assert!(searched("Nobody", &customers).is_err());
        assert!(searched("#99", &customers).is_err());
        assert!(searched("", &customers).is_err());
    }
}
