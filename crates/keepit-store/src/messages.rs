//! In-app messages, stored once per dedup key, with per-user read state and delivery
//! attempts over notification channels.

use chrono::{DateTime, Utc};
use keepit_domain::{ConnectorId, JobId, MessageKind, Severity, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{connector_id, job_id, micros};
use crate::entity::{message, message_delivery, message_delivery_attempt, message_recipient};
use crate::error::{Error, Result};
use crate::ids::{CustomerId, DeliveryId, MessageId};
use crate::store::Store;

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// What it is about.
    pub kind: MessageKind,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// The customer concerned.
    pub customer: Option<CustomerId>,
    /// The connector concerned.
    pub connector: Option<ConnectorId>,
    /// The job concerned.
    pub job: Option<JobId>,
    /// Identifies the event; a second message with the same key is not stored again.
    pub dedup_key: String,
    /// For alert notices: the alert's severity.
    pub severity: Option<Severity>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// Row id.
    pub id: MessageId,
    /// Kind.
    pub kind: MessageKind,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Customer.
    pub customer: Option<CustomerId>,
    /// Connector.
    pub connector: Option<ConnectorId>,
    /// Job.
    pub job: Option<JobId>,
    /// Dedup key.
    pub dedup_key: String,
    /// For alert notices: the alert's severity.
    pub severity: Option<Severity>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<message::Model> for MessageRecord {
    type Error = Error;
    fn try_from(model: message::Model) -> Result<Self> {
        Ok(MessageRecord {
            id: MessageId(model.id),
            kind: MessageKind::parse(&model.kind)
                .map_err(|e| Error::corrupt("messages", "kind", &model.kind, e))?,
            subject: model.subject,
            body: model.body,
            customer: model.customer_id.map(CustomerId),
            connector: model
                .connector_guid
                .as_deref()
                .map(|guid| connector_id("messages", "connector_guid", guid))
                .transpose()?,
            job: model
                .job_guid
                .as_deref()
                .map(|guid| job_id("messages", "job_guid", guid))
                .transpose()?,
            dedup_key: model.dedup_key,
            severity: model
                .severity
                .as_deref()
                .map(|code| {
                    Severity::parse(code)
                        .map_err(|e| Error::corrupt("messages", "severity", code, e))
                })
                .transpose()?,
            created_at: model.created_at,
        })
    }
}

/// The outcome of [`Store::store_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMessage {
    /// The message (new or the one stored before under the same key).
    pub id: MessageId,
    /// Whether it was stored now.
    pub created: bool,
}

/// One message in a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// The message.
    pub message: MessageRecord,
    /// When this user read it.
    pub read_at: Option<DateTime<Utc>>,
}

/// Which inbox messages to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboxQuery {
    /// Only unread ones.
    pub unread_only: bool,
    /// Only messages older than this one (paging, newest first).
    pub before: Option<MessageId>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; will be tried (again).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up after failures; kept for people to see.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<DeliveryStatus> {
        Ok(match text {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => {
                return Err(Error::corrupt(
                    "message_deliveries",
                    "status",
                    other,
                    "unknown status",
                ));
            }
        })
    }
}

/// Delivery of one message over one channel to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Row id.
    pub id: DeliveryId,
    /// The message.
    pub message: MessageId,
    /// Channel name (`email`, `webhook`, ...).
    pub channel: String,
    /// Address or endpoint name.
    pub target: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When to try next (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl TryFrom<message_delivery::Model> for DeliveryRecord {
    type Error = Error;
    fn try_from(model: message_delivery::Model) -> Result<Self> {
        Ok(DeliveryRecord {
            id: DeliveryId(model.id),
            message: MessageId(model.message_id),
            channel: model.channel,
            target: model.target,
            status: DeliveryStatus::parse(&model.status)?,
            attempts: u32::try_from(model.attempts).unwrap_or(0),
            last_error: model.last_error,
            delivered_at: model.delivered_at,
            next_attempt_at: model.next_attempt_at,
        })
    }
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryAttempt {
    /// It went through.
    Delivered {
        /// When.
        at: DateTime<Utc>,
    },
    /// It failed.
    Failed {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        error: String,
        /// When to retry; `None` gives up.
        retry_at: Option<DateTime<Utc>>,
    },
}

impl Store {
    /// Stores a message for `recipients`, once per dedup key: storing it again changes
    /// nothing and returns the existing id.
    pub async fn store_message(
        &self,
        new: &NewMessage,
        recipients: &[UserId],
    ) -> Result<StoredMessage> {
        self.store_and_queue_message(new, recipients, &[]).await
    }

    /// Like [`Store::store_message`], and queues its deliveries (channel, target) in
    /// the same transaction, so that a message is never stored without them. A
    /// message stored before under the same key gets no new deliveries.
    pub async fn store_and_queue_message(
        &self,
        new: &NewMessage,
        recipients: &[UserId],
        deliveries: &[(&str, &str)],
    ) -> Result<StoredMessage> {
        let txn = self.begin_write().await?;
        let stored = insert_message(&txn, new, recipients, deliveries).await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// One message.
    pub async fn message(&self, id: MessageId) -> Result<MessageRecord> {
        message::Entity::find_by_id(id.0)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("message", id))?
            .try_into()
    }

    /// A user's inbox, newest first. Only messages addressed to that user appear.
    pub async fn inbox(&self, user: UserId, query: &InboxQuery) -> Result<Vec<InboxItem>> {
        let mut recipients = message_recipient::Entity::find()
            .filter(message_recipient::Column::UserId.eq(user.0))
            .order_by_desc(message_recipient::Column::MessageId)
            .limit(u64::from(query.limit.unwrap_or(50).clamp(1, 500)));
        if query.unread_only {
            recipients = recipients.filter(message_recipient::Column::ReadAt.is_null());
        }
        if let Some(before) = query.before {
            recipients = recipients.filter(message_recipient::Column::MessageId.lt(before.0));
        }
        let recipients = recipients.all(self.reader()).await?;
        let ids: Vec<i64> = recipients.iter().map(|r| r.message_id).collect();
        let mut messages: std::collections::HashMap<i64, MessageRecord> =
            std::collections::HashMap::new();
        for model in message::Entity::find()
            .filter(message::Column::Id.is_in(ids))
            .all(self.reader())
            .await?
        {
            messages.insert(model.id, model.try_into()?);
        }
        Ok(recipients
            .into_iter()
            .filter_map(|r| {
                messages.remove(&r.message_id).map(|message| InboxItem {
                    message,
                    read_at: r.read_at,
                })
            })
            .collect())
    }

    /// How many messages a user has not read.
    pub async fn unread_count(&self, user: UserId) -> Result<u64> {
        Ok(message_recipient::Entity::find()
            .filter(message_recipient::Column::UserId.eq(user.0))
            .filter(message_recipient::Column::ReadAt.is_null())
            .count(self.db())
            .await?)
    }

    /// Marks a message read for `user`. Returns `false` when the message is not in that
    /// user's inbox (one user never touches another's) or was already read.
    pub async fn mark_message_read(
        &self,
        user: UserId,
        message: MessageId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = message_recipient::Entity::update_many()
            .col_expr(message_recipient::Column::ReadAt, Expr::value(micros(at)))
            .filter(message_recipient::Column::UserId.eq(user.0))
            .filter(message_recipient::Column::MessageId.eq(message.0))
            .filter(message_recipient::Column::ReadAt.is_null())
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Queues delivery of a message over `channel` to `target` (idempotent).
    pub async fn enqueue_delivery(
        &self,
        message: MessageId,
        channel: &str,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryId> {
        let now = micros(now);
        message_delivery::Entity::insert(pending_delivery(message.0, channel, target, now))
            .on_conflict(
                OnConflict::columns([
                    message_delivery::Column::MessageId,
                    message_delivery::Column::Channel,
                    message_delivery::Column::Target,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(self.db())
            .await?;
        let id: i64 = message_delivery::Entity::find()
            .select_only()
            .column(message_delivery::Column::Id)
            .filter(message_delivery::Column::MessageId.eq(message.0))
            .filter(message_delivery::Column::Channel.eq(channel))
            .filter(message_delivery::Column::Target.eq(target))
            .into_tuple()
            .one(self.db())
            .await?
            .ok_or_else(|| Error::not_found("delivery of message", message))?;
        Ok(DeliveryId(id))
    }

    /// Deliveries to try now, oldest first: for each (channel, target), its oldest
    /// pending delivery if it is due. A later one waits until the earlier ones are
    /// through (or given up), so each target receives its messages in order.
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let pending = message_delivery::Entity::find()
            .filter(message_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .order_by_asc(message_delivery::Column::Id)
            .all(self.db())
            .await?;
        let mut heads = std::collections::HashSet::new();
        let mut due = Vec::new();
        for model in pending {
            if !heads.insert((model.channel.clone(), model.target.clone())) {
                continue;
            }
            if model.next_attempt_at.is_none_or(|at| at <= micros(now)) {
                due.push(model.try_into()?);
                if due.len() >= limit.clamp(1, 1000) as usize {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// Takes a due delivery for this process: its next attempt moves `hold` past `now`,
    /// so another process working through the queue at the same time skips it. `false`
    /// when another process took it first. Recording the attempt settles it; a process
    /// that dies holding it leaves it due again after `hold`.
    pub async fn claim_delivery(
        &self,
        id: DeliveryId,
        now: DateTime<Utc>,
        hold: chrono::TimeDelta,
    ) -> Result<bool> {
        let now = micros(now);
        let result = message_delivery::Entity::update_many()
            .col_expr(
                message_delivery::Column::NextAttemptAt,
                Expr::value(now + hold),
            )
            .filter(message_delivery::Column::Id.eq(id.0))
            .filter(message_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(message_delivery::Column::NextAttemptAt.is_null())
                    .add(message_delivery::Column::NextAttemptAt.lte(now)),
            )
            .exec(self.db())
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// The deliveries queued for a message, oldest first.
    pub async fn deliveries_of(&self, message: MessageId) -> Result<Vec<DeliveryRecord>> {
        message_delivery::Entity::find()
            .filter(message_delivery::Column::MessageId.eq(message.0))
            .order_by_asc(message_delivery::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Every attempt of a delivery, oldest first: when, and the error if it failed.
    pub async fn delivery_attempts(
        &self,
        delivery: DeliveryId,
    ) -> Result<Vec<(DateTime<Utc>, Option<String>)>> {
        Ok(message_delivery_attempt::Entity::find()
            .filter(message_delivery_attempt::Column::DeliveryId.eq(delivery.0))
            .order_by_asc(message_delivery_attempt::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(|attempt| (attempt.at, attempt.error))
            .collect())
    }

    /// Records one delivery attempt.
    pub async fn record_delivery_attempt(
        &self,
        id: DeliveryId,
        attempt: &DeliveryAttempt,
    ) -> Result<DeliveryRecord> {
        let txn = self.begin_write().await?;
        let model = message_delivery::Entity::find_by_id(id.0)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("delivery", id))?;
        let (at, error) = match attempt {
            DeliveryAttempt::Delivered { at } => (*at, None),
            DeliveryAttempt::Failed { at, error, .. } => (*at, Some(error.clone())),
        };
        message_delivery_attempt::ActiveModel {
            delivery_id: Set(id.0),
            at: Set(micros(at)),
            error: Set(error),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let mut active: message_delivery::ActiveModel = model.clone().into();
        active.attempts = Set(model.attempts.saturating_add(1));
        match attempt {
            DeliveryAttempt::Delivered { at } => {
                active.status = Set(DeliveryStatus::Delivered.as_str().to_owned());
                active.delivered_at = Set(Some(micros(*at)));
                active.next_attempt_at = Set(None);
            }
            DeliveryAttempt::Failed {
                error, retry_at, ..
            } => {
                let status = if retry_at.is_some() {
                    DeliveryStatus::Pending
                } else {
                    DeliveryStatus::Failed
                };
                active.status = Set(status.as_str().to_owned());
                active.last_error = Set(Some(error.clone()));
                active.next_attempt_at = Set(retry_at.map(micros));
            }
        }
        let model = sea_orm::ActiveModelTrait::update(active, &txn).await?;
        txn.commit().await?;
        model.try_into()
    }
}

fn pending_delivery(
    message: i64,
    channel: &str,
    target: &str,
    now: DateTime<Utc>,
) -> message_delivery::ActiveModel {
    message_delivery::ActiveModel {
        message_id: Set(message),
        channel: Set(channel.to_owned()),
        target: Set(target.to_owned()),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        last_error: Set(None),
        delivered_at: Set(None),
        next_attempt_at: Set(Some(now)),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Stores a message with its recipients and queued deliveries inside the caller's
/// transaction (see [`Store::store_and_queue_message`]).
pub(crate) async fn insert_message<C: ConnectionTrait>(
    conn: &C,
    new: &NewMessage,
    recipients: &[UserId],
    deliveries: &[(&str, &str)],
) -> Result<StoredMessage> {
    let inserted = message::Entity::insert(message::ActiveModel {
        kind: Set(new.kind.as_str().to_owned()),
        subject: Set(new.subject.clone()),
        body: Set(new.body.clone()),
        customer_id: Set(new.customer.map(|c| c.0)),
        connector_guid: Set(new.connector.as_ref().map(ToString::to_string)),
        job_guid: Set(new.job.as_ref().map(ToString::to_string)),
        dedup_key: Set(new.dedup_key.clone()),
        severity: Set(new.severity.map(|severity| severity.as_str().to_owned())),
        created_at: Set(micros(new.created_at)),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(message::Column::DedupKey)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    let id: i64 = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::DedupKey.eq(new.dedup_key.as_str()))
        .into_tuple()
        .one(conn)
        .await?
        .ok_or_else(|| Error::not_found("message", &new.dedup_key))?;
    if inserted == 1 && !recipients.is_empty() {
        let mut users: Vec<i64> = recipients.iter().map(|u| u.0).collect();
        users.sort_unstable();
        users.dedup();
        message_recipient::Entity::insert_many(users.into_iter().map(|user| {
            message_recipient::ActiveModel {
                message_id: Set(id),
                user_id: Set(user),
                read_at: Set(None),
                ..Default::default()
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    if inserted == 1 {
        let now = micros(new.created_at);
        for (channel, target) in deliveries {
            message_delivery::Entity::insert(pending_delivery(id, channel, target, now))
                .on_conflict(
                    OnConflict::columns([
                        message_delivery::Column::MessageId,
                        message_delivery::Column::Channel,
                        message_delivery::Column::Target,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(conn)
                .await?;
        }
    }
    Ok(StoredMessage {
        id: MessageId(id),
        created: inserted == 1,
    })
}
