//! Customers, the Keepit child accounts linked to them, matching by company name, and
//! the import of existing PSA customers from CSV.
//!
//! A Keepit account links to the one existing customer whose normalised company name
//! (see [`keepit_domain::normalize_company_name`]) equals its own; several such customers
//! leave it "ambiguous" until a person links it; none creates a customer. Once linked or
//! created the link is kept by later syncs, and a manual link is never overwritten.

use std::collections::HashSet;
use std::io::Read;

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{AccountId, CustomerMatch, match_customer, normalize_company_name};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use crate::convert::{account_id, micros};
use crate::entity::{account, alert, customer};
use crate::error::{Error, Result};
use crate::ids::{CustomerId, IntegrationId};
use crate::store::Store;

/// How long a "last seen" stamp may lag before an otherwise unchanged row is rewritten
/// to refresh it. Re-syncs within this window write nothing.
pub(crate) const SEEN_REFRESH: TimeDelta = TimeDelta::hours(1);

/// Where a customer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSource {
    /// Imported from the MSP's PSA (or created by a person).
    Psa,
    /// Created by a sync for a Keepit account that matched no customer.
    Keepit,
}

impl CustomerSource {
    fn as_str(self) -> &'static str {
        match self {
            CustomerSource::Psa => "psa",
            CustomerSource::Keepit => "keepit",
        }
    }
}

/// A customer of the MSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Row id.
    pub id: CustomerId,
    /// Display name.
    pub name: String,
    /// The customer's id in the PSA, when imported from it.
    pub external_id: Option<String>,
    /// Where it came from.
    pub source: CustomerSource,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name or external id last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<customer::Model> for CustomerRecord {
    type Error = Error;
    fn try_from(model: customer::Model) -> Result<Self> {
        let source = match model.source.as_str() {
            "psa" => CustomerSource::Psa,
            "keepit" => CustomerSource::Keepit,
            other => {
                return Err(Error::corrupt(
                    "customers",
                    "source",
                    other,
                    "unknown source",
                ));
            }
        };
        Ok(CustomerRecord {
            id: CustomerId(model.id),
            name: model.name,
            external_id: model.external_id,
            source,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

/// How a Keepit account is tied to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Matched by name to an existing customer.
    Linked,
    /// No customer matched; one was created for it.
    Created,
    /// Several customers matched; a person must link it.
    Ambiguous,
    /// A person linked it; syncs never change it.
    Manual,
}

impl LinkState {
    /// `linked`, `created`, `ambiguous` or `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Linked => "linked",
            LinkState::Created => "created",
            LinkState::Ambiguous => "ambiguous",
            LinkState::Manual => "manual",
        }
    }

    fn parse(text: &str) -> Result<LinkState> {
        Ok(match text {
            "linked" => LinkState::Linked,
            "created" => LinkState::Created,
            "ambiguous" => LinkState::Ambiguous,
            "manual" => LinkState::Manual,
            other => {
                return Err(Error::corrupt(
                    "keepit_accounts",
                    "link_state",
                    other,
                    "unknown link state",
                ));
            }
        })
    }
}

/// A Keepit child account as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepitAccountRecord {
    /// The account.
    pub account: AccountId,
    /// The integration that sees it.
    pub integration: IntegrationId,
    /// Its parent account.
    pub parent: Option<AccountId>,
    /// Company name as Keepit has it.
    pub company_name: String,
    /// The customer it belongs to (none while ambiguous).
    pub customer: Option<CustomerId>,
    /// How the link came about.
    pub link: LinkState,
    /// First sync that saw it.
    pub first_seen_at: DateTime<Utc>,
    /// A recent sync that saw it (refreshed at most hourly when nothing else changes).
    pub last_seen_at: DateTime<Utc>,
    /// When a walk of the account tree no longer found it.
    pub removed_at: Option<DateTime<Utc>>,
}

impl TryFrom<account::Model> for KeepitAccountRecord {
    type Error = Error;
    fn try_from(model: account::Model) -> Result<Self> {
        Ok(KeepitAccountRecord {
            account: account_id("keepit_accounts", "account_guid", &model.account_guid)?,
            integration: IntegrationId(model.integration_id),
            parent: model
                .parent_guid
                .as_deref()
                .map(|guid| account_id("keepit_accounts", "parent_guid", guid))
                .transpose()?,
            company_name: model.company_name,
            customer: model.customer_id.map(CustomerId),
            link: LinkState::parse(&model.link_state)?,
            first_seen_at: model.first_seen_at,
            last_seen_at: model.last_seen_at,
            removed_at: model.removed_at,
        })
    }
}

/// A Keepit child account as one sync saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepitAccountSighting {
    /// The integration whose tree contains it.
    pub integration: IntegrationId,
    /// The account.
    pub account: AccountId,
    /// Its parent.
    pub parent: Option<AccountId>,
    /// Keepit's company name for it.
    pub company_name: String,
    /// When the sync saw it.
    pub seen_at: DateTime<Utc>,
}

/// What [`Store::sync_customer`] did with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerSyncOutcome {
    /// Linked now to the one existing customer with the same normalised name.
    Linked(CustomerId),
    /// No customer matched: this one was created.
    Created(CustomerId),
    /// Several customers matched (listed); the account waits for a person.
    Ambiguous(Vec<CustomerId>),
    /// A person linked the account earlier; the link was kept.
    KeptManual(CustomerId),
    /// An earlier sync linked or created the customer; the link was kept.
    AlreadyLinked(CustomerId),
}

/// A customer row of a CSV import that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRowError {
    /// 1-based line of the row in the file.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

/// What [`Store::import_customers_csv`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New customers.
    pub inserted: u64,
    /// Existing customers (same external id) whose name changed.
    pub updated: u64,
    /// Rows that matched a stored customer exactly.
    pub unchanged: u64,
    /// Keepit accounts that had matched no customer and now match an imported one:
    /// linked to it, and the customer created for them merged into it.
    pub relinked: u64,
    /// Rows that were refused, with their line numbers.
    pub errors: Vec<ImportRowError>,
}

/// 1-based line number of a record that starts at byte `offset`. With CRLF endings the
/// csv reader reports the record as starting at the previous line's LF, so a line
/// feed at `offset` itself is counted as well.
fn line_of(body: &[u8], offset: u64) -> u64 {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .min(body.len());
    body[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The usable rows of a customer CSV file and the refused ones.
#[derive(Debug, Default)]
pub(crate) struct CustomerRows {
    /// `(name, external_id)` pairs, each external id once.
    pub(crate) rows: Vec<(String, String)>,
    /// Rows that were refused, with their line numbers.
    pub(crate) errors: Vec<ImportRowError>,
}

/// Reads a customer CSV file (see [`Store::import_customers_csv`]) without touching
/// the database. Only a missing or unreadable header refuses the whole file.
pub(crate) fn read_customer_rows(bytes: &[u8]) -> Result<CustomerRows> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut csv_reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = csv_reader.headers().map_err(Error::Csv)?.clone();
    let position = |wanted: &str| {
        headers
            .iter()
            .position(|header| header.trim().eq_ignore_ascii_case(wanted))
    };
    let (Some(name_at), Some(external_at)) = (position("name"), position("external_id")) else {
        return Err(Error::invalid(
            "customer csv header",
            format!(
                "expected columns name and external_id, found {:?}",
                headers.iter().collect::<Vec<_>>()
            ),
        ));
    };

    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for record in csv_reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| line_of(body, p.byte()));
                errors.push(ImportRowError {
                    line,
                    message: format!("unreadable row: {error}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_of(body, p.byte()));
        let name = record.get(name_at).unwrap_or_default().to_owned();
        let external_id = record.get(external_at).unwrap_or_default().to_owned();
        let problem = if name.is_empty() {
            Some("name is empty".to_owned())
        } else if external_id.is_empty() {
            Some("external_id is empty".to_owned())
        } else if !seen.insert(external_id.clone()) {
            Some(format!(
                "external_id {external_id:?} appears more than once"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => errors.push(ImportRowError { line, message }),
            None => rows.push((name, external_id)),
        }
    }
    Ok(CustomerRows { rows, errors })
}

/// Keeps the customer columns of an account's rows in step with its link.
async fn propagate_customer<C: ConnectionTrait>(
    conn: &C,
    account: &AccountId,
    customer: Option<CustomerId>,
) -> Result<()> {
    for table in [
        "backup_connectors",
        "backup_jobs",
        "backup_audit_events",
        "alerts",
    ] {
        let update = Query::update()
            .table(sea_orm::sea_query::Alias::new(table))
            .value(
                sea_orm::sea_query::Alias::new("customer_id"),
                customer.map(|id| id.0),
            )
            .and_where(
                Expr::col(sea_orm::sea_query::Alias::new("account_guid")).eq(account.as_str()),
            )
            .take();
        conn.execute(&update).await?;
    }
    Ok(())
}

async fn insert_customer<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    external_id: Option<&str>,
    source: CustomerSource,
    now: DateTime<Utc>,
) -> Result<customer::Model> {
    Ok(customer::ActiveModel {
        name: Set(name.to_owned()),
        normalized_name: Set(normalize_company_name(name)),
        external_id: Set(external_id.map(str::to_owned)),
        source: Set(source.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

impl Store {
    /// Creates a customer by hand (or from the PSA), optionally with its PSA id.
    pub async fn create_customer(
        &self,
        name: &str,
        external_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CustomerRecord> {
        if name.trim().is_empty() {
            return Err(Error::invalid("customer name", "must not be empty"));
        }
        if let Some(external_id) = external_id {
            let existing = customer::Entity::find()
                .filter(customer::Column::ExternalId.eq(external_id))
                .one(self.db())
                .await?;
            if existing.is_some() {
                return Err(Error::Conflict {
                    what: "customer with external id",
                    key: external_id.to_owned(),
                });
            }
        }
        insert_customer(
            self.db(),
            name.trim(),
            external_id,
            CustomerSource::Psa,
            micros(now),
        )
        .await?
        .try_into()
    }

    /// One customer.
    pub async fn customer(&self, id: CustomerId) -> Result<CustomerRecord> {
        customer::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("customer", id))?
            .try_into()
    }

    /// All customers, by name.
    pub async fn customers(&self) -> Result<Vec<CustomerRecord>> {
        customer::Entity::find()
            .order_by_asc(customer::Column::NormalizedName)
            .order_by_asc(customer::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// One Keepit account, if the store has seen it.
    pub async fn keepit_account(&self, account: &AccountId) -> Result<Option<KeepitAccountRecord>> {
        account::Entity::find()
            .filter(account::Column::AccountGuid.eq(account.as_str()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// All Keepit accounts, optionally only those in one link state (for example the
    /// ambiguous ones that wait for a person).
    pub async fn keepit_accounts(
        &self,
        link: Option<LinkState>,
    ) -> Result<Vec<KeepitAccountRecord>> {
        let mut query = account::Entity::find().order_by_asc(account::Column::Id);
        if let Some(link) = link {
            query = query.filter(account::Column::LinkState.eq(link.as_str()));
        }
        query
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Records a Keepit child account seen by a sync and ties it to a customer.
    pub async fn sync_customer(
        &self,
        sighting: &KeepitAccountSighting,
    ) -> Result<CustomerSyncOutcome> {
        let now = micros(sighting.seen_at);
        let txn = self.begin_write().await?;
        let existing = account::Entity::find()
            .filter(account::Column::AccountGuid.eq(sighting.account.as_str()))
            .one(&txn)
            .await?;
        let parent = sighting.parent.as_ref().map(|parent| parent.to_string());
        if let Some(existing) = &existing {
            let kept = match (
                LinkState::parse(&existing.link_state)?,
                existing.customer_id,
            ) {
                (LinkState::Manual, Some(id)) => {
                    Some(CustomerSyncOutcome::KeptManual(CustomerId(id)))
                }
                (LinkState::Linked | LinkState::Created, Some(id)) => {
                    Some(CustomerSyncOutcome::AlreadyLinked(CustomerId(id)))
                }
                _ => None,
            };
            if let Some(outcome) = kept {
                let changed = existing.company_name != sighting.company_name
                    || existing.parent_guid != parent
                    || existing.integration_id != sighting.integration.0
                    || existing.removed_at.is_some();
                if changed || existing.last_seen_at + SEEN_REFRESH <= now {
                    let mut active: account::ActiveModel = existing.clone().into();
                    active.company_name = Set(sighting.company_name.clone());
                    active.parent_guid = Set(parent);
                    active.integration_id = Set(sighting.integration.0);
                    active.removed_at = Set(None);
                    active.last_seen_at = Set(now);
                    if changed {
                        active.updated_at = Set(now);
                    }
                    active.update(&txn).await?;
                }
                txn.commit().await?;
                return Ok(outcome);
            }
        }

        // New, or still ambiguous: match against the customers with the same normalised name.
        let normalized = normalize_company_name(&sighting.company_name);
        let candidates = if normalized.is_empty() {
            Vec::new()
        } else {
            customer::Entity::find()
                .filter(customer::Column::NormalizedName.eq(normalized))
                .order_by_asc(customer::Column::Id)
                .all(&txn)
                .await?
        };
        let matched = match_customer(
            &sighting.company_name,
            candidates
                .iter()
                .map(|candidate| (candidate.id, candidate.name.as_str())),
        );
        let (outcome, customer_id, link) = match matched {
            CustomerMatch::Linked(id) => (
                CustomerSyncOutcome::Linked(CustomerId(id)),
                Some(id),
                LinkState::Linked,
            ),
            CustomerMatch::Ambiguous(ids) => (
                CustomerSyncOutcome::Ambiguous(ids.into_iter().map(CustomerId).collect()),
                None,
                LinkState::Ambiguous,
            ),
            CustomerMatch::NoMatch => {
                let name = if sighting.company_name.trim().is_empty() {
                    sighting.account.to_string()
                } else {
                    sighting.company_name.trim().to_owned()
                };
                let created =
                    insert_customer(&txn, &name, None, CustomerSource::Keepit, now).await?;
                (
                    CustomerSyncOutcome::Created(CustomerId(created.id)),
                    Some(created.id),
                    LinkState::Created,
                )
            }
        };
        match existing {
            Some(existing) => {
                let unchanged = existing.customer_id == customer_id
                    && existing.link_state == link.as_str()
                    && existing.company_name == sighting.company_name
                    && existing.parent_guid == parent
                    && existing.last_seen_at + SEEN_REFRESH > now;
                if !unchanged {
                    let mut active: account::ActiveModel = existing.into();
                    active.customer_id = Set(customer_id);
                    active.link_state = Set(link.as_str().to_owned());
                    active.company_name = Set(sighting.company_name.clone());
                    active.parent_guid = Set(parent);
                    active.integration_id = Set(sighting.integration.0);
                    active.removed_at = Set(None);
                    active.last_seen_at = Set(now);
                    active.updated_at = Set(now);
                    active.update(&txn).await?;
                }
            }
            None => {
                account::ActiveModel {
                    integration_id: Set(sighting.integration.0),
                    account_guid: Set(sighting.account.to_string()),
                    parent_guid: Set(parent),
                    company_name: Set(sighting.company_name.clone()),
                    customer_id: Set(customer_id),
                    link_state: Set(link.as_str().to_owned()),
                    first_seen_at: Set(now),
                    last_seen_at: Set(now),
                    removed_at: Set(None),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
        }
        if customer_id.is_some() {
            propagate_customer(&txn, &sighting.account, customer_id.map(CustomerId)).await?;
        }
        txn.commit().await?;
        Ok(outcome)
    }

    /// Marks the accounts of `integration` that are missing from `present` (a complete
    /// walk of the account tree) as removed, and resolves the open alerts of their
    /// connectors: the customer left the MSP's tree. The accounts and their data are
    /// kept; an account that comes back is active again. Returns how many were removed.
    pub async fn mark_accounts_removed(
        &self,
        integration: IntegrationId,
        present: &[AccountId],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        let txn = self.begin_write().await?;
        let mut gone = account::Entity::find()
            .filter(account::Column::IntegrationId.eq(integration.0))
            .filter(account::Column::RemovedAt.is_null());
        if !present.is_empty() {
            gone = gone.filter(
                account::Column::AccountGuid.is_not_in(present.iter().map(ToString::to_string)),
            );
        }
        let gone: Vec<String> = gone
            .all(&txn)
            .await?
            .into_iter()
            .map(|model| model.account_guid)
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        let stamp = micros(at);
        account::Entity::update_many()
            .col_expr(account::Column::RemovedAt, Expr::value(stamp))
            .col_expr(account::Column::UpdatedAt, Expr::value(stamp))
            .filter(account::Column::IntegrationId.eq(integration.0))
            .filter(account::Column::AccountGuid.is_in(gone.iter().cloned()))
            .exec(&txn)
            .await?;
        crate::alerts::resolve_open_alerts(
            &txn,
            sea_orm::Condition::all().add(alert::Column::AccountGuid.is_in(gone.iter().cloned())),
            "the customer account left the MSP's Keepit tree",
            at,
        )
        .await?;
        txn.commit().await?;
        Ok(gone.len() as u64)
    }

    /// Links a Keepit account to a customer by hand. Later syncs keep this link.
    pub async fn link_customer_manually(
        &self,
        account: &AccountId,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        customer::Entity::find_by_id(customer.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("customer", customer))?;
        let existing = account::Entity::find()
            .filter(account::Column::AccountGuid.eq(account.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("keepit account", account))?;
        let mut active: account::ActiveModel = existing.into();
        active.customer_id = Set(Some(customer.0));
        active.link_state = Set(LinkState::Manual.as_str().to_owned());
        active.updated_at = Set(micros(now));
        active.update(&txn).await?;
        propagate_customer(&txn, account, Some(customer)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Imports existing PSA customers from CSV with the header `name,external_id`
    /// (RFC 4180; a UTF-8 byte-order mark is tolerated; extra columns are ignored).
    ///
    /// Idempotent by external id: a known id updates the name when it differs. Bad rows
    /// are reported with their line numbers and do not stop the others.
    pub async fn import_customers_csv(
        &self,
        mut reader: impl Read,
        now: DateTime<Utc>,
    ) -> Result<ImportReport> {
        let now = micros(now);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map_err(Error::CsvIo)?;
        let CustomerRows { rows, errors } = read_customer_rows(&bytes)?;
        let report = ImportReport {
            errors,
            ..ImportReport::default()
        };
        self.import_customer_rows(rows, report, now).await
    }

    /// Imports the companies read from a PSA as customers (`(name, PSA id)` pairs), by
    /// the same rules as the CSV import: a known PSA id updates the name when it was
    /// renamed, a new one is inserted, and Keepit accounts that were waiting for a
    /// customer are matched by name again (a manual link is never changed).
    pub async fn import_psa_companies(
        &self,
        companies: Vec<(String, String)>,
        now: DateTime<Utc>,
    ) -> Result<ImportReport> {
        let rows = companies
            .into_iter()
            .map(|(name, id)| (name.trim().to_owned(), id.trim().to_owned()))
            .filter(|(name, id)| !name.is_empty() && !id.is_empty())
            .collect();
        self.import_customer_rows(rows, ImportReport::default(), micros(now))
            .await
    }

    async fn import_customer_rows(
        &self,
        rows: Vec<(String, String)>,
        mut report: ImportReport,
        now: DateTime<Utc>,
    ) -> Result<ImportReport> {
        let txn = self.begin_write().await?;
        for (name, external_id) in rows {
            let existing = customer::Entity::find()
                .filter(customer::Column::ExternalId.eq(external_id.as_str()))
                .one(&txn)
                .await?;
            match existing {
                None => {
                    insert_customer(&txn, &name, Some(&external_id), CustomerSource::Psa, now)
                        .await?;
                    report.inserted += 1;
                }
                Some(existing) if existing.name == name => report.unchanged += 1,
                Some(existing) => {
                    let mut active: customer::ActiveModel = existing.into();
                    active.normalized_name = Set(normalize_company_name(&name));
                    active.name = Set(name);
                    active.updated_at = Set(now);
                    active.update(&txn).await?;
                    report.updated += 1;
                }
            }
        }
        report.relinked = relink_created_accounts(&txn, now).await?;
        txn.commit().await?;
        Ok(report)
    }

    /// Merges a duplicate customer into another: its Keepit accounts (as manual
    /// links), connectors, jobs, audit events, alerts, messages, rule scopes and
    /// overrides follow, then it is deleted. The PSA id moves along when the customer
    /// kept has none. Returns the customer kept.
    pub async fn merge_customers(
        &self,
        from: CustomerId,
        into: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<CustomerRecord> {
        if from == into {
            return Err(Error::invalid(
                "into",
                "a customer cannot be merged into itself",
            ));
        }
        let txn = self.begin_write().await?;
        merge_customer_rows(&txn, from, into, LinkState::Manual, micros(now)).await?;
        let kept = customer::Entity::find_by_id(into.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("customer", into))?;
        txn.commit().await?;
        kept.try_into()
    }

    /// Undoes a link: the account waits for a person (or for the next sync's
    /// matching) with no customer. Its history keeps no customer until it is linked.
    pub async fn unlink_customer(&self, account: &AccountId, now: DateTime<Utc>) -> Result<()> {
        let txn = self.begin_write().await?;
        let existing = account::Entity::find()
            .filter(account::Column::AccountGuid.eq(account.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("keepit account", account))?;
        let mut active: account::ActiveModel = existing.into();
        active.customer_id = Set(None);
        active.link_state = Set(LinkState::Ambiguous.as_str().to_owned());
        active.updated_at = Set(micros(now));
        active.update(&txn).await?;
        propagate_customer(&txn, account, None).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Moves everything of customer `from` to customer `into` and deletes `from`, inside
/// the caller's transaction. Accounts moved get `link` as their link state.
async fn merge_customer_rows<C: ConnectionTrait>(
    conn: &C,
    from: CustomerId,
    into: CustomerId,
    link: LinkState,
    now: DateTime<Utc>,
) -> Result<()> {
    let from_row = customer::Entity::find_by_id(from.0)
        .one(conn)
        .await?
        .ok_or_else(|| Error::not_found("customer", from))?;
    let into_row = customer::Entity::find_by_id(into.0)
        .one(conn)
        .await?
        .ok_or_else(|| Error::not_found("customer", into))?;
    account::Entity::update_many()
        .col_expr(account::Column::CustomerId, Expr::value(into.0))
        .col_expr(account::Column::LinkState, Expr::value(link.as_str()))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::CustomerId.eq(from.0))
        .exec(conn)
        .await?;
    for table in [
        "backup_connectors",
        "backup_jobs",
        "backup_audit_events",
        "alerts",
        "messages",
    ] {
        let update = Query::update()
            .table(sea_orm::sea_query::Alias::new(table))
            .value(sea_orm::sea_query::Alias::new("customer_id"), into.0)
            .and_where(Expr::col(sea_orm::sea_query::Alias::new("customer_id")).eq(from.0))
            .take();
        conn.execute(&update).await?;
    }
    // Rules scoped to the merged customer now watch the kept one.
    let rules = Query::update()
        .table(sea_orm::sea_query::Alias::new("alert_rules"))
        .value(
            sea_orm::sea_query::Alias::new("scope_value"),
            into.0.to_string(),
        )
        .and_where(Expr::col(sea_orm::sea_query::Alias::new("scope")).eq("customer"))
        .and_where(Expr::col(sea_orm::sea_query::Alias::new("scope_value")).eq(from.0.to_string()))
        .take();
    conn.execute(&rules).await?;
    // Overrides: the kept customer's own win; the others move over.
    let kept_rules: Vec<i64> = crate::entity::alert_rule_override::Entity::find()
        .filter(crate::entity::alert_rule_override::Column::CustomerId.eq(into.0))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| o.rule_id)
        .collect();
    crate::entity::alert_rule_override::Entity::delete_many()
        .filter(crate::entity::alert_rule_override::Column::CustomerId.eq(from.0))
        .filter(crate::entity::alert_rule_override::Column::RuleId.is_in(kept_rules))
        .exec(conn)
        .await?;
    crate::entity::alert_rule_override::Entity::update_many()
        .col_expr(
            crate::entity::alert_rule_override::Column::CustomerId,
            Expr::value(into.0),
        )
        .filter(crate::entity::alert_rule_override::Column::CustomerId.eq(from.0))
        .exec(conn)
        .await?;
    let external_id = from_row.external_id.clone();
    customer::Entity::delete_by_id(from.0).exec(conn).await?;
    if into_row.external_id.is_none() && external_id.is_some() {
        let mut active: customer::ActiveModel = into_row.into();
        active.external_id = Set(external_id);
        active.updated_at = Set(now);
        active.update(conn).await?;
    }
    Ok(())
}

/// After a PSA import: an account that had no match when it was first synced (so a
/// customer was created for it) and now matches exactly one PSA customer by name is
/// linked to that customer, and the customer created for it is merged into it.
/// Returns how many accounts were relinked.
async fn relink_created_accounts<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<u64> {
    let psa: Vec<customer::Model> = customer::Entity::find()
        .filter(customer::Column::Source.eq(CustomerSource::Psa.as_str()))
        .all(conn)
        .await?;
    let created = account::Entity::find()
        .filter(account::Column::LinkState.eq(LinkState::Created.as_str()))
        .all(conn)
        .await?;
    let mut relinked = 0;
    for account in created {
        let wanted = normalize_company_name(&account.company_name);
        let matches: Vec<&customer::Model> = psa
            .iter()
            .filter(|customer| customer.normalized_name == wanted)
            .collect();
        let ([target], Some(own)) = (matches.as_slice(), account.customer_id) else {
            continue;
        };
        if own == target.id {
            continue;
        }
        // The customer made for this account goes when nothing else belongs to it.
        let others = account::Entity::find()
            .filter(account::Column::CustomerId.eq(own))
            .filter(account::Column::Id.ne(account.id))
            .count(conn)
            .await?;
        if others == 0 {
            merge_customer_rows(
                conn,
                CustomerId(own),
                CustomerId(target.id),
                LinkState::Linked,
                now,
            )
            .await?;
        } else {
            let guid = account_id("keepit_accounts", "account_guid", &account.account_guid)?;
            let mut active: account::ActiveModel = account.into();
            active.customer_id = Set(Some(target.id));
            active.link_state = Set(LinkState::Linked.as_str().to_owned());
            active.updated_at = Set(now);
            active.update(conn).await?;
            propagate_customer(conn, &guid, Some(CustomerId(target.id))).await?;
        }
        relinked += 1;
    }
    Ok(relinked)
}

/// The customer of each given Keepit account (accounts the store has not seen are absent).
pub(crate) async fn customers_of_accounts<C: ConnectionTrait>(
    conn: &C,
    accounts: impl IntoIterator<Item = &str>,
) -> Result<std::collections::HashMap<String, Option<i64>>> {
    let wanted: Vec<String> = accounts
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut found = std::collections::HashMap::new();
    for chunk in wanted.chunks(500) {
        let rows = account::Entity::find()
            .filter(account::Column::AccountGuid.is_in(chunk.iter().cloned()))
            .all(conn)
            .await?;
        for row in rows {
            found.insert(row.account_guid, row.customer_id);
        }
    }
    Ok(found)
}
