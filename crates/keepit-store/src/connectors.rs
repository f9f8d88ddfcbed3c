//! Connectors and their latest backup status.
//!
//! Connectors are never deleted: one that disappears from Keepit gets `removed_at`.
//! Upserts compare with the stored rows first and write only what changed; a row whose
//! only news is that it was seen again is refreshed at most hourly.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, ConnectorErrorCode, ConnectorId, ConnectorKind, FailureReason, Health, HealthReason,
    JobStatus, SnapshotKind,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::convert::{
    account_id, connector_id, micros, opt_micros, rows_per_statement, to_i64, to_u64,
};
use crate::customers::{SEEN_REFRESH, customers_of_accounts};
use crate::entity::{account, connector, connector_status, integration};
use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::store::Store;
use crate::upsert::{UpsertCounts, dedup_last};

/// A connector as Keepit lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRecord {
    /// The connector.
    pub connector: ConnectorId,
    /// The account that owns it.
    pub account: AccountId,
    /// Its display name.
    pub name: String,
    /// What it backs up.
    pub kind: ConnectorKind,
    /// When it was created in Keepit.
    pub created: Option<DateTime<Utc>>,
    /// `false` when the credentials have no access to it.
    pub accessible: bool,
    /// Set when it is scheduled for deletion.
    pub deletion_deadline: Option<DateTime<Utc>>,
    /// Keepit's retention setting (an ISO 8601 duration, kept as text).
    pub backup_retention: Option<String>,
}

/// A stored connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConnector {
    /// What Keepit said about it last.
    pub record: ConnectorRecord,
    /// The customer of its account.
    pub customer: Option<CustomerId>,
    /// First sync that saw it.
    pub first_seen_at: DateTime<Utc>,
    /// A recent sync that saw it (refreshed at most hourly when nothing else changes).
    pub last_seen_at: DateTime<Utc>,
    /// When it disappeared from Keepit, if it did.
    pub removed_at: Option<DateTime<Utc>>,
    /// When its stored content last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredConnector {
    /// Whether alerts should watch it: accessible, not scheduled for deletion, not removed.
    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
            && keepit_domain::ConnectorState {
                accessible: self.record.accessible,
                deletion_deadline: self.record.deletion_deadline,
            }
            .is_active()
    }
}

impl TryFrom<connector::Model> for StoredConnector {
    type Error = Error;
    fn try_from(model: connector::Model) -> Result<Self> {
        Ok(StoredConnector {
            record: ConnectorRecord {
                connector: connector_id(
                    "backup_connectors",
                    "connector_guid",
                    &model.connector_guid,
                )?,
                account: account_id("backup_connectors", "account_guid", &model.account_guid)?,
                name: model.name,
                kind: ConnectorKind::from_code(&model.kind),
                created: model.keepit_created_at,
                accessible: model.accessible,
                deletion_deadline: model.deletion_deadline,
                backup_retention: model.backup_retention,
            },
            customer: model.customer_id.map(CustomerId),
            first_seen_at: model.first_seen_at,
            last_seen_at: model.last_seen_at,
            removed_at: model.removed_at,
            updated_at: model.updated_at,
        })
    }
}

/// The latest known backup state of a connector.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorStatusRecord {
    /// The connector.
    pub connector: ConnectorId,
    /// Time of the latest snapshot.
    pub latest_snapshot_at: Option<DateTime<Utc>>,
    /// Complete or partial.
    pub latest_snapshot_kind: Option<SnapshotKind>,
    /// Size of the latest snapshot in bytes.
    pub latest_snapshot_size: Option<u64>,
    /// End of the last successful backup.
    pub last_successful_backup_at: Option<DateTime<Utc>>,
    /// Status of the latest backup job.
    pub last_job_status: Option<JobStatus>,
    /// Start of the latest backup attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Keepit's health verdict.
    pub health: Health,
    /// Why, when Keepit says.
    pub health_reason: Option<HealthReason>,
    /// Keepit's connector error code.
    pub error_code: Option<ConnectorErrorCode>,
    /// The failure reason derived from the above.
    pub failure_reason: Option<FailureReason>,
    /// When this state was read from Keepit.
    pub checked_at: DateTime<Utc>,
}

/// A stored connector status.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConnectorStatus {
    /// The state; `checked_at` is refreshed at most hourly while nothing else changes.
    pub status: ConnectorStatusRecord,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<connector_status::Model> for StoredConnectorStatus {
    type Error = Error;
    fn try_from(model: connector_status::Model) -> Result<Self> {
        let table = "backup_connector_status";
        Ok(StoredConnectorStatus {
            status: ConnectorStatusRecord {
                connector: connector_id(table, "connector_guid", &model.connector_guid)?,
                latest_snapshot_at: model.latest_snapshot_at,
                latest_snapshot_kind: model
                    .latest_snapshot_kind
                    .as_deref()
                    .map(SnapshotKind::from_wire),
                latest_snapshot_size: model.latest_snapshot_size.map(to_u64),
                last_successful_backup_at: model.last_success_at,
                last_job_status: model
                    .last_job_status
                    .as_deref()
                    .map(|text| {
                        JobStatus::parse(text)
                            .map_err(|e| Error::corrupt(table, "last_job_status", text, e))
                    })
                    .transpose()?,
                last_attempt_at: model.last_attempt_at,
                health: Health::parse(&model.health)
                    .map_err(|e| Error::corrupt(table, "health", &model.health, e))?,
                health_reason: model.health_reason.as_deref().map(HealthReason::from_wire),
                error_code: model
                    .error_code
                    .as_deref()
                    .map(ConnectorErrorCode::from_wire),
                failure_reason: model.failure_reason_code.as_deref().map(|code| {
                    FailureReason::from_stored(code, model.failure_reason_raw.as_deref())
                }),
                checked_at: model.checked_at,
            },
            updated_at: model.updated_at,
        })
    }
}

/// Which connectors to list.
#[derive(Debug, Clone, Default)]
pub struct ConnectorFilter {
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Include connectors that disappeared from Keepit.
    pub include_removed: bool,
    /// Only the connectors alerts watch: still in Keepit, of an account still in the
    /// MSP's tree, of an enabled integration.
    pub watched_only: bool,
}

/// See [`Store::fleet_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetVersion(Vec<(i64, i64, Option<String>)>);

/// The connectors matching `filter`, as a query.
fn connector_query(filter: &ConnectorFilter) -> sea_orm::Select<connector::Entity> {
    let mut query = connector::Entity::find()
        .order_by_asc(connector::Column::Name)
        .order_by_asc(connector::Column::Id);
    if let Some(customer) = filter.customer {
        query = query.filter(connector::Column::CustomerId.eq(customer.0));
    }
    if let Some(account) = &filter.account {
        query = query.filter(connector::Column::AccountGuid.eq(account.as_str()));
    }
    if !filter.include_removed || filter.watched_only {
        query = query.filter(connector::Column::RemovedAt.is_null());
    }
    if filter.watched_only {
        let watched_accounts = Query::select()
            .column((account::Entity, account::Column::AccountGuid))
            .from(account::Entity)
            .inner_join(
                integration::Entity,
                Expr::col((integration::Entity, integration::Column::Id))
                    .equals((account::Entity, account::Column::IntegrationId)),
            )
            .and_where(Expr::col((account::Entity, account::Column::RemovedAt)).is_null())
            .and_where(Expr::col((integration::Entity, integration::Column::Enabled)).eq(true))
            .to_owned();
        query = query.filter(connector::Column::AccountGuid.in_subquery(watched_accounts));
    }
    query
}

fn connector_model(
    record: &ConnectorRecord,
    customer: Option<i64>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> connector::ActiveModel {
    connector::ActiveModel {
        connector_guid: Set(record.connector.to_string()),
        account_guid: Set(record.account.to_string()),
        customer_id: Set(customer),
        name: Set(record.name.clone()),
        kind: Set(record.kind.code()),
        keepit_created_at: Set(opt_micros(record.created)),
        accessible: Set(record.accessible),
        deletion_deadline: Set(opt_micros(record.deletion_deadline)),
        backup_retention: Set(record.backup_retention.clone()),
        first_seen_at: Set(first_seen_at),
        last_seen_at: Set(last_seen_at),
        removed_at: Set(None),
        updated_at: Set(updated_at),
        ..Default::default()
    }
}

pub(crate) async fn upsert_connectors<C: ConnectionTrait>(
    conn: &C,
    records: &[ConnectorRecord],
    seen_at: DateTime<Utc>,
) -> Result<UpsertCounts> {
    let now = micros(seen_at);
    let records = dedup_last(records, |record| record.connector.clone());
    let customers = customers_of_accounts(conn, records.iter().map(|r| r.account.as_str())).await?;
    let mut counts = UpsertCounts::default();
    let chunk_rows = rows_per_statement(conn.get_database_backend(), 14);
    for chunk in records.chunks(chunk_rows) {
        let existing: HashMap<String, connector::Model> = connector::Entity::find()
            .filter(
                connector::Column::ConnectorGuid
                    .is_in(chunk.iter().map(|r| r.connector.to_string())),
            )
            .all(conn)
            .await?
            .into_iter()
            .map(|model| (model.connector_guid.clone(), model))
            .collect();
        let mut writes = Vec::new();
        for record in chunk {
            let customer = customers.get(record.account.as_str()).copied().flatten();
            match existing.get(record.connector.as_str()) {
                None => {
                    counts.inserted += 1;
                    writes.push(connector_model(record, customer, now, now, now));
                }
                Some(stored) => {
                    let changed = stored.account_guid != record.account.as_str()
                        || stored.customer_id != customer
                        || stored.name != record.name
                        || stored.kind != record.kind.code()
                        || stored.keepit_created_at != opt_micros(record.created)
                        || stored.accessible != record.accessible
                        || stored.deletion_deadline != opt_micros(record.deletion_deadline)
                        || stored.backup_retention != record.backup_retention
                        || stored.removed_at.is_some();
                    if changed {
                        counts.changed += 1;
                        writes.push(connector_model(
                            record,
                            customer,
                            stored.first_seen_at,
                            now,
                            now,
                        ));
                    } else if stored.last_seen_at + SEEN_REFRESH <= now {
                        writes.push(connector_model(
                            record,
                            customer,
                            stored.first_seen_at,
                            now,
                            stored.updated_at,
                        ));
                    }
                }
            }
        }
        if writes.is_empty() {
            continue;
        }
        connector::Entity::insert_many(writes)
            .on_conflict(
                OnConflict::column(connector::Column::ConnectorGuid)
                    .update_columns([
                        connector::Column::AccountGuid,
                        connector::Column::CustomerId,
                        connector::Column::Name,
                        connector::Column::Kind,
                        connector::Column::KeepitCreatedAt,
                        connector::Column::Accessible,
                        connector::Column::DeletionDeadline,
                        connector::Column::BackupRetention,
                        connector::Column::LastSeenAt,
                        connector::Column::RemovedAt,
                        connector::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(counts)
}

/// Marks the connectors of `account` that are not in `present` as gone from Keepit.
pub(crate) async fn mark_connectors_removed<C: ConnectionTrait>(
    conn: &C,
    account: &AccountId,
    present: &[ConnectorId],
    at: DateTime<Utc>,
) -> Result<u64> {
    let at = micros(at);
    let mut update = connector::Entity::update_many()
        .col_expr(connector::Column::RemovedAt, Expr::value(at))
        .col_expr(connector::Column::UpdatedAt, Expr::value(at))
        .filter(connector::Column::AccountGuid.eq(account.as_str()))
        .filter(connector::Column::RemovedAt.is_null());
    if !present.is_empty() {
        update = update.filter(
            connector::Column::ConnectorGuid.is_not_in(present.iter().map(ToString::to_string)),
        );
    }
    Ok(update.exec(conn).await?.rows_affected)
}

fn status_model(
    record: &ConnectorStatusRecord,
    updated_at: DateTime<Utc>,
) -> connector_status::ActiveModel {
    connector_status::ActiveModel {
        connector_guid: Set(record.connector.to_string()),
        latest_snapshot_at: Set(opt_micros(record.latest_snapshot_at)),
        latest_snapshot_kind: Set(record
            .latest_snapshot_kind
            .as_ref()
            .map(|kind| kind.as_str().to_owned())),
        latest_snapshot_size: Set(record.latest_snapshot_size.map(to_i64)),
        last_success_at: Set(opt_micros(record.last_successful_backup_at)),
        last_job_status: Set(record
            .last_job_status
            .map(|status| status.as_str().to_owned())),
        last_attempt_at: Set(opt_micros(record.last_attempt_at)),
        health: Set(record.health.as_str().to_owned()),
        health_reason: Set(record
            .health_reason
            .as_ref()
            .map(|reason| reason.as_str().to_owned())),
        error_code: Set(record
            .error_code
            .as_ref()
            .map(|code| code.as_str().to_owned())),
        failure_reason_code: Set(record
            .failure_reason
            .as_ref()
            .map(|reason| reason.code().to_owned())),
        failure_reason_raw: Set(record
            .failure_reason
            .as_ref()
            .and_then(|reason| reason.raw())
            .map(str::to_owned)),
        checked_at: Set(micros(record.checked_at)),
        updated_at: Set(updated_at),
        ..Default::default()
    }
}

pub(crate) async fn upsert_statuses<C: ConnectionTrait>(
    conn: &C,
    records: &[ConnectorStatusRecord],
    now: DateTime<Utc>,
) -> Result<UpsertCounts> {
    let now = micros(now);
    let records = dedup_last(records, |record| record.connector.clone());
    let mut counts = UpsertCounts::default();
    let chunk_rows = rows_per_statement(conn.get_database_backend(), 14);
    for chunk in records.chunks(chunk_rows) {
        let existing: HashMap<String, connector_status::Model> = connector_status::Entity::find()
            .filter(
                connector_status::Column::ConnectorGuid
                    .is_in(chunk.iter().map(|r| r.connector.to_string())),
            )
            .all(conn)
            .await?
            .into_iter()
            .map(|model| (model.connector_guid.clone(), model))
            .collect();
        let mut writes = Vec::new();
        for record in chunk {
            let proposed = status_model(record, now);
            match existing.get(record.connector.as_str()) {
                None => {
                    counts.inserted += 1;
                    writes.push(proposed);
                }
                Some(stored) => {
                    let stored_active: connector_status::ActiveModel = stored.clone().into();
                    let stored_content = status_model_content_from(&stored_active);
                    if stored_content != status_model_content_from(&proposed) {
                        counts.changed += 1;
                        writes.push(proposed);
                    } else if stored.checked_at + SEEN_REFRESH <= micros(record.checked_at) {
                        writes.push(status_model(record, stored.updated_at));
                    }
                }
            }
        }
        if writes.is_empty() {
            continue;
        }
        connector_status::Entity::insert_many(writes)
            .on_conflict(
                OnConflict::column(connector_status::Column::ConnectorGuid)
                    .update_columns([
                        connector_status::Column::LatestSnapshotAt,
                        connector_status::Column::LatestSnapshotKind,
                        connector_status::Column::LatestSnapshotSize,
                        connector_status::Column::LastSuccessAt,
                        connector_status::Column::LastJobStatus,
                        connector_status::Column::LastAttemptAt,
                        connector_status::Column::Health,
                        connector_status::Column::HealthReason,
                        connector_status::Column::ErrorCode,
                        connector_status::Column::FailureReasonCode,
                        connector_status::Column::FailureReasonRaw,
                        connector_status::Column::CheckedAt,
                        connector_status::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(counts)
}

fn status_model_content_from(model: &connector_status::ActiveModel) -> Vec<sea_orm::Value> {
    use connector_status::Column as C;
    use sea_orm::ActiveModelTrait;
    [
        C::LatestSnapshotAt,
        C::LatestSnapshotKind,
        C::LatestSnapshotSize,
        C::LastSuccessAt,
        C::LastJobStatus,
        C::LastAttemptAt,
        C::Health,
        C::HealthReason,
        C::ErrorCode,
        C::FailureReasonCode,
        C::FailureReasonRaw,
    ]
    .into_iter()
    .map(|column| {
        model
            .get(column)
            .into_value()
            .unwrap_or(sea_orm::Value::Bool(None))
    })
    .collect()
}

impl Store {
    /// Upserts connectors in batches; returns how many were new and how many changed.
    pub async fn upsert_connectors(
        &self,
        records: &[ConnectorRecord],
        seen_at: DateTime<Utc>,
    ) -> Result<UpsertCounts> {
        let txn = self.begin_write().await?;
        let counts = upsert_connectors(&txn, records, seen_at).await?;
        txn.commit().await?;
        Ok(counts)
    }

    /// Marks the connectors of `account` missing from `present` (a full listing) as removed.
    pub async fn mark_connectors_removed(
        &self,
        account: &AccountId,
        present: &[ConnectorId],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        mark_connectors_removed(self.db(), account, present, at).await
    }

    /// Upserts connector statuses; the connectors must exist.
    pub async fn upsert_connector_statuses(
        &self,
        records: &[ConnectorStatusRecord],
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts> {
        let txn = self.begin_write().await?;
        let counts = upsert_statuses(&txn, records, now).await?;
        txn.commit().await?;
        Ok(counts)
    }

    /// One connector.
    pub async fn connector(&self, connector: &ConnectorId) -> Result<Option<StoredConnector>> {
        connector::Entity::find()
            .filter(connector::Column::ConnectorGuid.eq(connector.as_str()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Connectors matching `filter`, by name.
    pub async fn connectors(&self, filter: &ConnectorFilter) -> Result<Vec<StoredConnector>> {
        connector_query(filter)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// A fingerprint of what a fleet-wide view is built from: for the connectors,
    /// their statuses, the customers, the Keepit accounts, the integrations, the alert
    /// rules, the users and the alerts, the row count, the latest `updated_at`, and a sum over the
    /// column a view depends on that a write may change without moving `updated_at`
    /// past its last value (the same clock reading twice): which customer a row
    /// belongs to, whether it was removed, whether an integration or rule is
    /// enabled, whether an alert is resolved, acknowledged or silenced. Equal
    /// fingerprints mean a view built at the first may be shown at the second. One
    /// statement of aggregates; no row is read out.
    pub async fn fleet_version(&self) -> Result<FleetVersion> {
        const TABLES: [(&str, &str); 8] = [
            (
                "backup_connectors",
                "COALESCE(customer_id, 0) + CASE WHEN removed_at IS NULL THEN 0 ELSE 1000000007 END",
            ),
            ("backup_connector_status", "0"),
            ("customers", "id"),
            (
                "keepit_accounts",
                "COALESCE(customer_id, 0) + CASE WHEN removed_at IS NULL THEN 0 ELSE 1000000007 END",
            ),
            (
                "keepit_integrations",
                "CASE WHEN enabled THEN id ELSE 0 END",
            ),
            ("alert_rules", "CASE WHEN enabled THEN id ELSE 0 END"),
            ("users", "0"),
            (
                "alerts",
                "CASE WHEN resolved_at IS NULL THEN 1 ELSE 2 END \
                 + CASE WHEN acknowledged_at IS NULL THEN 0 ELSE 4 END \
                 + CASE WHEN silenced_until IS NULL THEN 0 ELSE 8 END",
            ),
        ];
        // Fixed text only, the same on both backends; sums are cast so that both
        // answer a 64-bit integer.
        let columns: Vec<String> = TABLES
            .iter()
            .enumerate()
            .map(|(i, (table, extra))| {
                format!(
                    "(SELECT COUNT(*) FROM {table}) AS n{i}, \
                     (SELECT MAX(updated_at) FROM {table}) AS t{i}, \
                     (SELECT CAST(COALESCE(SUM({extra}), 0) AS BIGINT) FROM {table}) AS x{i}"
                )
            })
            .collect();
        let backend = self.reader().get_database_backend();
        let statement =
            sea_orm::Statement::from_string(backend, format!("SELECT {}", columns.join(", ")));
        let row = self
            .reader()
            .query_one_raw(statement)
            .await?
            .ok_or_else(|| {
                Error::corrupt("customers", "count", "", "an aggregate returned no row")
            })?;
        let mut parts = Vec::with_capacity(TABLES.len());
        for i in 0..TABLES.len() {
            let count: i64 = row.try_get("", &format!("n{i}"))?;
            let extra: i64 = row.try_get("", &format!("x{i}"))?;
            // PostgreSQL answers a timestamp; SQLite the stored text.
            let latest = match row.try_get::<Option<DateTime<Utc>>>("", &format!("t{i}")) {
                Ok(latest) => latest.map(|at| at.timestamp_micros().to_string()),
                Err(_) => row.try_get::<Option<String>>("", &format!("t{i}"))?,
            };
            parts.push((count, extra, latest));
        }
        Ok(FleetVersion(parts))
    }

    /// The stored status of one connector.
    pub async fn connector_status(
        &self,
        connector: &ConnectorId,
    ) -> Result<Option<StoredConnectorStatus>> {
        connector_status::Entity::find()
            .filter(connector_status::Column::ConnectorGuid.eq(connector.as_str()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Connectors matching `filter`, each with its status when one is stored.
    pub async fn connectors_with_status(
        &self,
        filter: &ConnectorFilter,
    ) -> Result<Vec<(StoredConnector, Option<StoredConnectorStatus>)>> {
        // Read-only, through the readers: pages and the API call this.
        let connectors: Vec<StoredConnector> = connector_query(filter)
            .all(self.reader())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_>>()?;
        let mut statuses: HashMap<String, StoredConnectorStatus> = HashMap::new();
        let models = if connectors.len() > 500 {
            // Most of the fleet: one scan of the status table beats many `IN` lists.
            connector_status::Entity::find().all(self.reader()).await?
        } else {
            let guids: Vec<String> = connectors
                .iter()
                .map(|c| c.record.connector.to_string())
                .collect();
            connector_status::Entity::find()
                .filter(connector_status::Column::ConnectorGuid.is_in(guids))
                .all(self.reader())
                .await?
        };
        for model in models {
            let status: StoredConnectorStatus = model.try_into()?;
            statuses.insert(status.status.connector.to_string(), status);
        }
        Ok(connectors
            .into_iter()
            .map(|connector| {
                let status = statuses.remove(connector.record.connector.as_str());
                (connector, status)
            })
            .collect())
    }
}
