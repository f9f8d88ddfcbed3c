//! Audit events: deduplicated by content hash, queried by customer, account or
//! connector, purged after a retention period; and the customer timeline.
//!
//! Keepit's audit records carry no id, and the audit log is drained on an overlapping
//! window, so the same record arrives many times. Its SHA-256 over the canonical fields
//! is the unique key. The caller's IP address is personal data: only its network
//! (IPv4 /24, IPv6 /48) is stored, and the raw address is not part of the hash.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use keepit_domain::{AccountId, AuditCategory, ConnectorId};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Value,
};
use sha2::{Digest, Sha256};

use crate::convert::{account_id, connector_id, micros};
use crate::cursor::TimelineCursor;
use crate::customers::customers_of_accounts;
use crate::entity::{audit_event, job, sync_run};
use crate::error::{Error, Result};
use crate::ids::CustomerId;
use crate::jobs::{StoredJob, attach_names};
use crate::store::Store;
use crate::upsert::{MultiRowInsert, UpsertCounts, dedup_last};

/// Columns written by an upsert, in the order of the values built for each record.
pub(crate) const INSERT_COLUMNS: &[&str] = &[
    "content_hash",
    "occurred_at",
    "account_guid",
    "customer_id",
    "connector_guid",
    "actor",
    "client_network",
    "acl",
    "method",
    "allowed",
    "succeeded",
    "area",
    "category",
    "message",
    "metadata",
    "first_seen_at",
];

/// One Keepit audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The account it belongs to.
    pub account: AccountId,
    /// The connector it concerns, if any.
    pub connector: Option<ConnectorId>,
    /// Who did it (a login or token name).
    pub actor: Option<String>,
    /// The caller's IP address; only its network is stored.
    pub client_ip: Option<String>,
    /// ACL name of the audited call.
    pub acl: String,
    /// HTTP method of the audited call.
    pub method: String,
    /// Whether the call was permitted.
    pub allowed: Option<bool>,
    /// Whether it succeeded.
    pub succeeded: Option<bool>,
    /// Keepit's area.
    pub area: String,
    /// keepit-watch's category (from `keepit_domain::categorize_audit`).
    pub category: AuditCategory,
    /// Human-readable text.
    pub message: String,
    /// Key/value parameters, in Keepit's order.
    pub metadata: Vec<(String, String)>,
}

/// Reduces an IP address to its network: IPv4 /24, IPv6 /48. Unparseable text gives `None`.
pub fn truncate_client_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

impl AuditEventRecord {
    /// The stored form of the caller's address.
    pub fn client_network(&self) -> Option<String> {
        self.client_ip.as_deref().and_then(truncate_client_ip)
    }

    /// Hex SHA-256 of the canonical fields: time (to the microsecond), account,
    /// connector, actor, client network, ACL, method, allowed, succeeded, area, message
    /// and metadata. The category is left out (it is derived, and the mapping may
    /// change); so is the raw IP address.
    pub fn content_hash(&self) -> String {
        fn field(hasher: &mut Sha256, value: &str) {
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        fn flag(value: Option<bool>) -> &'static str {
            match value {
                Some(true) => "1",
                Some(false) => "0",
                None => "-",
            }
        }
        let mut hasher = Sha256::new();
        field(&mut hasher, "keepit-audit-v1");
        field(
            &mut hasher,
            &micros(self.time).to_rfc3339_opts(SecondsFormat::Micros, true),
        );
        field(&mut hasher, self.account.as_str());
        field(
            &mut hasher,
            self.connector.as_ref().map_or("", |c| c.as_str()),
        );
        field(&mut hasher, self.actor.as_deref().unwrap_or(""));
        field(&mut hasher, self.client_network().as_deref().unwrap_or(""));
        field(&mut hasher, &self.acl);
        field(&mut hasher, &self.method);
        field(&mut hasher, flag(self.allowed));
        field(&mut hasher, flag(self.succeeded));
        field(&mut hasher, &self.area);
        field(&mut hasher, &self.message);
        hasher.update((self.metadata.len() as u64).to_be_bytes());
        for (key, value) in &self.metadata {
            field(&mut hasher, key);
            field(&mut hasher, value);
        }
        hex::encode(hasher.finalize())
    }
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Row id.
    pub id: i64,
    /// Its content hash.
    pub content_hash: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The account.
    pub account: AccountId,
    /// The customer of that account.
    pub customer: Option<CustomerId>,
    /// The connector, if any.
    pub connector: Option<ConnectorId>,
    /// Who did it.
    pub actor: Option<String>,
    /// The caller's network (never the full address).
    pub client_network: Option<String>,
    /// ACL name.
    pub acl: String,
    /// HTTP method.
    pub method: String,
    /// Whether permitted.
    pub allowed: Option<bool>,
    /// Whether it succeeded.
    pub succeeded: Option<bool>,
    /// Keepit's area.
    pub area: String,
    /// Category.
    pub category: AuditCategory,
    /// Text.
    pub message: String,
    /// Parameters.
    pub metadata: Vec<(String, String)>,
    /// When the store first saw it.
    pub first_seen_at: DateTime<Utc>,
}

impl TryFrom<audit_event::Model> for StoredAuditEvent {
    type Error = Error;
    fn try_from(model: audit_event::Model) -> Result<Self> {
        let table = "backup_audit_events";
        let metadata: Vec<(String, String)> = serde_json::from_str(&model.metadata)
            .map_err(|e| Error::corrupt(table, "metadata", &model.metadata, e))?;
        Ok(StoredAuditEvent {
            id: model.id,
            content_hash: model.content_hash,
            time: model.occurred_at,
            account: account_id(table, "account_guid", &model.account_guid)?,
            customer: model.customer_id.map(CustomerId),
            connector: model
                .connector_guid
                .as_deref()
                .map(|guid| connector_id(table, "connector_guid", guid))
                .transpose()?,
            actor: model.actor,
            client_network: model.client_network,
            acl: model.acl,
            method: model.method,
            allowed: model.allowed,
            succeeded: model.succeeded,
            area: model.area,
            category: AuditCategory::parse(&model.category).ok_or_else(|| {
                Error::corrupt(table, "category", &model.category, "unknown category")
            })?,
            message: model.message,
            metadata,
            first_seen_at: model.first_seen_at,
        })
    }
}

/// Rows deleted per write transaction when purging.
const PURGE_BATCH: u64 = 2_000;

/// How long audit events and finished sync runs are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Audit events that happened, and finished sync runs that started, longer ago than
    /// this are purged (default 400 days; never less than the 14-day audit window).
    pub audit_events: TimeDelta,
}

impl RetentionConfig {
    /// The shortest retention: the audit log is read on a rolling 14-day window, and
    /// purging inside it would make the next pass fetch the purged events again.
    pub const MINIMUM: TimeDelta = TimeDelta::days(14);
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            audit_events: TimeDelta::days(400),
        }
    }
}

/// What [`Store::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Audit events.
    pub audit_events: u64,
    /// Finished sync runs (with their request counts).
    pub sync_runs: u64,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this customer's.
    pub customer: Option<CustomerId>,
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Only about this connector.
    pub connector: Option<ConnectorId>,
    /// Only in these categories (empty: all).
    pub categories: Vec<AuditCategory>,
    /// Only at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

pub(crate) async fn upsert_audit_events<C: ConnectionTrait>(
    conn: &C,
    records: &[AuditEventRecord],
    now: DateTime<Utc>,
) -> Result<UpsertCounts> {
    let now = micros(now);
    let hashed: Vec<(String, &AuditEventRecord)> =
        records.iter().map(|r| (r.content_hash(), r)).collect();
    let hashed = dedup_last(&hashed, |(hash, _)| hash.clone());
    let customers =
        customers_of_accounts(conn, hashed.iter().map(|(_, r)| r.account.as_str())).await?;
    let mut counts = UpsertCounts::default();
    let insert = MultiRowInsert {
        table: "backup_audit_events",
        columns: INSERT_COLUMNS,
        on_conflict: "ON CONFLICT (\"content_hash\") DO NOTHING",
    };
    let rows = hashed
        .iter()
        .map(|(hash, record)| {
            let customer = customers.get(record.account.as_str()).copied().flatten();
            let metadata =
                serde_json::to_string(&record.metadata).unwrap_or_else(|_| "[]".to_owned());
            vec![
                Value::from(hash.as_str()),
                Value::from(micros(record.time)),
                Value::from(record.account.as_str()),
                Value::from(customer),
                Value::from(record.connector.as_ref().map(|c| c.as_str().to_owned())),
                Value::from(record.actor.clone()),
                Value::from(record.client_network()),
                Value::from(record.acl.as_str()),
                Value::from(record.method.as_str()),
                Value::from(record.allowed),
                Value::from(record.succeeded),
                Value::from(record.area.as_str()),
                Value::from(record.category.as_str()),
                Value::from(record.message.as_str()),
                Value::from(metadata),
                Value::from(now),
            ]
        })
        .collect();
    counts.inserted += insert.execute(conn, rows).await?;
    Ok(counts)
}

/// One entry of a customer timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineEntry {
    /// A finished job (its end time places it).
    Job(StoredJob),
    /// An audit event.
    Audit(StoredAuditEvent),
}

impl TimelineEntry {
    /// Where the entry sits in the timeline.
    pub fn position(&self) -> TimelineCursor {
        match self {
            TimelineEntry::Job(job) => TimelineCursor {
                time: job.record.ended_at().map_or(job.sort_time, micros),
                source: 1,
                id: job.id,
            },
            TimelineEntry::Audit(event) => TimelineCursor {
                time: event.time,
                source: 0,
                id: event.id,
            },
        }
    }
}

/// One page of a customer timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePage {
    /// Entries, newest first.
    pub entries: Vec<TimelineEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<TimelineCursor>,
}

impl Store {
    /// Stores audit events not stored before; returns how many were new.
    pub async fn upsert_audit_events(
        &self,
        records: &[AuditEventRecord],
        now: DateTime<Utc>,
    ) -> Result<UpsertCounts> {
        let txn = self.begin_write().await?;
        let counts = upsert_audit_events(&txn, records, now).await?;
        txn.commit().await?;
        Ok(counts)
    }

    /// Audit events matching `query`, newest first.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>> {
        let mut select = audit_event::Entity::find()
            .order_by_desc(audit_event::Column::OccurredAt)
            .order_by_desc(audit_event::Column::Id)
            .limit(u64::from(query.limit.unwrap_or(100).clamp(1, 1000)));
        if let Some(customer) = query.customer {
            select = select.filter(audit_event::Column::CustomerId.eq(customer.0));
        }
        if let Some(account) = &query.account {
            select = select.filter(audit_event::Column::AccountGuid.eq(account.as_str()));
        }
        if let Some(connector) = &query.connector {
            select = select.filter(audit_event::Column::ConnectorGuid.eq(connector.as_str()));
        }
        if !query.categories.is_empty() {
            select = select.filter(
                audit_event::Column::Category.is_in(query.categories.iter().map(|c| c.as_str())),
            );
        }
        if let Some(since) = query.since {
            select = select.filter(audit_event::Column::OccurredAt.gte(micros(since)));
        }
        if let Some(until) = query.until {
            select = select.filter(audit_event::Column::OccurredAt.lt(micros(until)));
        }
        select
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Deletes audit events that happened before `older_than`; returns how many.
    pub async fn purge_audit_events(&self, older_than: DateTime<Utc>) -> Result<u64> {
        self.delete_in_batches::<audit_event::Entity>(
            audit_event::Column::Id,
            Condition::all().add(audit_event::Column::OccurredAt.lt(micros(older_than))),
            async |_, _| Ok(()),
        )
        .await
    }

    /// Deletes finished sync runs that started before `older_than`, in batches. Their
    /// figures are added to the totals [`Store::sync_run_totals`] reports first, in the
    /// same transaction, so monitoring counters never go down.
    pub async fn purge_sync_runs(&self, older_than: DateTime<Utc>) -> Result<u64> {
        self.delete_in_batches::<sync_run::Entity>(
            sync_run::Column::Id,
            Condition::all()
                .add(sync_run::Column::StartedAt.lt(micros(older_than)))
                .add(sync_run::Column::FinishedAt.is_not_null()),
            crate::sync::fold_into_totals,
        )
        .await
    }

    /// Deletes the rows `which` selects, [`PURGE_BATCH`] per short write transaction,
    /// so a sync or the API waiting for the write lock never waits long. `before` sees
    /// each batch's ids in its transaction before they are deleted.
    async fn delete_in_batches<E: EntityTrait>(
        &self,
        id: E::Column,
        which: Condition,
        before: impl AsyncFn(&sea_orm::DatabaseTransaction, &[i64]) -> Result<()>,
    ) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let txn = self.begin_write().await?;
            // Locked, so two processes purging at once never take (and fold) the same
            // rows; ignored on SQLite, whose write transaction is exclusive.
            let ids: Vec<i64> = E::find()
                .select_only()
                .column(id)
                .filter(which.clone())
                .limit(PURGE_BATCH)
                .lock_with_behavior(
                    sea_orm::sea_query::LockType::Update,
                    sea_orm::sea_query::LockBehavior::SkipLocked,
                )
                .into_tuple()
                .all(&txn)
                .await?;
            let batch = ids.len() as u64;
            if batch > 0 {
                before(&txn, &ids).await?;
                E::delete_many().filter(id.is_in(ids)).exec(&txn).await?;
            }
            txn.commit().await?;
            deleted += batch;
            if batch < PURGE_BATCH {
                return Ok(deleted);
            }
        }
    }

    /// Applies `retention` as of `now` to audit events and finished sync runs.
    pub async fn purge_expired(
        &self,
        retention: &RetentionConfig,
        now: DateTime<Utc>,
    ) -> Result<PurgeReport> {
        let keep = retention.audit_events.max(RetentionConfig::MINIMUM);
        let older_than = now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(PurgeReport {
            audit_events: self.purge_audit_events(older_than).await?,
            sync_runs: self.purge_sync_runs(older_than).await?,
        })
    }

    /// A customer's audit events and finished jobs merged, newest first.
    /// Page size: default 50, at most 500.
    pub async fn customer_timeline(
        &self,
        customer: CustomerId,
        limit: Option<u32>,
        cursor: Option<TimelineCursor>,
    ) -> Result<TimelinePage> {
        let page_size = u64::from(limit.unwrap_or(50).clamp(1, 500));
        // Order: time desc, then jobs (source 1) before audit events (source 0), then id desc.
        let mut jobs = job::Entity::find()
            .filter(job::Column::CustomerId.eq(customer.0))
            .filter(job::Column::EndedAt.is_not_null())
            .order_by_desc(job::Column::EndedAt)
            .order_by_desc(job::Column::Id)
            .limit(page_size + 1);
        let mut events = audit_event::Entity::find()
            .filter(audit_event::Column::CustomerId.eq(customer.0))
            .order_by_desc(audit_event::Column::OccurredAt)
            .order_by_desc(audit_event::Column::Id)
            .limit(page_size + 1);
        if let Some(cursor) = cursor {
            let at = micros(cursor.time);
            jobs = jobs.filter(if cursor.source == 1 {
                Condition::any().add(job::Column::EndedAt.lt(at)).add(
                    Condition::all()
                        .add(job::Column::EndedAt.eq(at))
                        .add(job::Column::Id.lt(cursor.id)),
                )
            } else {
                Condition::all().add(job::Column::EndedAt.lt(at))
            });
            events = events.filter(if cursor.source == 1 {
                Condition::all().add(audit_event::Column::OccurredAt.lte(at))
            } else {
                Condition::any()
                    .add(audit_event::Column::OccurredAt.lt(at))
                    .add(
                        Condition::all()
                            .add(audit_event::Column::OccurredAt.eq(at))
                            .add(audit_event::Column::Id.lt(cursor.id)),
                    )
            });
        }
        let mut job_rows = jobs
            .all(self.reader())
            .await?
            .into_iter()
            .map(StoredJob::try_from)
            .collect::<Result<Vec<_>>>()?;
        attach_names(self.reader(), &mut job_rows).await?;
        let mut entries: Vec<TimelineEntry> =
            job_rows.into_iter().map(TimelineEntry::Job).collect();
        for model in events.all(self.reader()).await? {
            entries.push(TimelineEntry::Audit(model.try_into()?));
        }
        entries.sort_by_key(|entry| {
            let position = entry.position();
            std::cmp::Reverse((position.time, position.source, position.id))
        });
        let next = if entries.len() as u64 > page_size {
            entries.truncate(page_size as usize);
            entries.last().map(TimelineEntry::position)
        } else {
            None
        };
        Ok(TimelinePage { entries, next })
    }
}
