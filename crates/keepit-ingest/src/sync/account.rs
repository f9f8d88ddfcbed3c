//! One account of a pass: its connectors, their jobs and status, its audit log, and
//! the one commit that stores them with the cursors that cover them.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt as _, TryStreamExt as _, stream};
use keepit_alerts::ChangeEvent;
use keepit_client::AuditQuery;
use keepit_domain::{AccountId, ConnectorId, JobStatus};
use keepit_store::{
    AccountSyncBatch, AuditEventRecord, ConnectorFilter, ConnectorRecord, ConnectorStatusRecord,
    CursorKey, CursorMove, JobQuery, JobRecord, PassAccount, Store, StoredConnector,
    StoredConnectorStatus,
};

use crate::changes::{self, AccountHistory};
use crate::config::SyncConfig;
use crate::error::{Error, Result};

use super::records::{audit_record, connector_record};
use super::{AUDIT_STREAM, Integration, within};

/// One pass over one integration, as its accounts see it.
pub(super) struct Pass<'a> {
    pub(super) store: &'a Store,
    pub(super) integration: &'a Integration,
    pub(super) config: &'a SyncConfig,
    pub(super) now: DateTime<Utc>,
}

pub(super) struct AccountDone {
    pub(super) report: keepit_store::AccountSyncReport,
    pub(super) connectors_seen: u64,
    pub(super) changes: Vec<ChangeEvent>,
}

/// What one connector contributed to its account's batch.
pub(super) struct ConnectorDone {
    pub(super) status: Option<ConnectorStatusRecord>,
    pub(super) jobs: Vec<JobRecord>,
    pub(super) cursor: Option<CursorMove>,
}

impl Pass<'_> {
    pub(super) fn cursor_key(
        &self,
        account: &AccountId,
        connector: Option<&ConnectorId>,
        stream: &str,
    ) -> CursorKey {
        CursorKey {
            integration: self.integration.id,
            account: account.clone(),
            connector: connector.cloned(),
            stream: stream.to_owned(),
        }
    }

    pub(super) async fn account(&self, node: &PassAccount) -> Result<AccountDone> {
        let account = &node.account;
        within(self.config.account_deadline, self.account_inner(node))
            .await
            .map_err(|source| Error::Account {
                account: account.clone(),
                source: Box::new(source),
            })
    }

    async fn account_inner(&self, node: &PassAccount) -> Result<AccountDone> {
        let client = &self.integration.client;
        let account = &node.account;
        let previous: HashMap<ConnectorId, (StoredConnector, Option<StoredConnectorStatus>)> = self
            .store
            .connectors_with_status(&ConnectorFilter {
                account: Some(account.clone()),
                include_removed: true,
                ..ConnectorFilter::default()
            })
            .await?
            .into_iter()
            .map(|(connector, status)| (connector.record.connector.clone(), (connector, status)))
            .collect();

        let connectors = client.connectors(account, true).await?;
        // Requests that depend only on the connector list go out while the database
        // answers: one account-level call gives the last snapshot of every connector
        // that has one.
        let summary_request = async {
            if connectors
                .iter()
                .any(|connector| connector.state().is_active())
            {
                Ok::<_, Error>(client.backup_summary(account).await?)
            } else {
                Ok(Vec::new())
            }
        };
        // Every cursor of the account in one query, instead of one per connector.
        let (summary, stored_cursors, unfinished, known_jobs) = tokio::try_join!(
            summary_request,
            async {
                Ok::<_, Error>(
                    self.store
                        .sync_cursors_of_account(self.integration.id, account)
                        .await?,
                )
            },
            self.unfinished_jobs(account),
            self.known_jobs(account),
        )?;
        let summary_supported = !summary.is_empty();
        let summary: HashMap<ConnectorId, keepit_client::BackupSummaryEntry> = summary
            .into_iter()
            .map(|entry| (entry.connector.clone(), entry))
            .collect();
        let cursors: HashMap<(Option<ConnectorId>, String), DateTime<Utc>> = stored_cursors
            .into_iter()
            .filter_map(|cursor| {
                let time = DateTime::parse_from_rfc3339(&cursor.position)
                    .ok()?
                    .with_timezone(&Utc);
                Some(((cursor.key.connector, cursor.key.stream), time))
            })
            .collect();
        let cursors = &cursors;

        // The connectors and the audit log are independent: both are read at once, and
        // both land in the one commit below, with the cursors that cover them.
        let audit_key = self.cursor_key(account, None, AUDIT_STREAM);
        let audit_cursor = cursors.get(&(None, AUDIT_STREAM.to_owned())).copied();
        let audit_from = match audit_cursor {
            Some(cursor) => {
                (cursor - self.config.audit_overlap).max(self.now - self.config.audit_window)
            }
            None => self.now - self.config.audit_window,
        };
        // The connectors' futures are made first and then run at most
        // `connector_concurrency` at a time. (Making them inside a `map` closure over the
        // list would tie the pass's future to a higher-ranked closure type the compiler
        // cannot prove `Send`, so the pass could not be spawned.)
        let mut reads = Vec::with_capacity(connectors.len());
        for connector in &connectors {
            let unfinished = unfinished
                .get(&connector.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            reads.push(self.connector(
                account,
                connector,
                previous.get(&connector.id),
                summary.get(&connector.id),
                summary_supported,
                unfinished,
                &known_jobs,
                cursors,
            ));
        }
        let connector_reads = stream::iter(reads)
            .buffered(self.config.connector_concurrency.max(1))
            .try_collect::<Vec<ConnectorDone>>();
        let audit_read = async {
            Ok::<_, Error>(
                client
                    .audit_log(
                        AuditQuery::between(account.clone(), audit_from, self.now),
                        self.config.audit_page_size,
                    )
                    .try_collect::<Vec<keepit_client::AuditRecord>>()
                    .await?,
            )
        };
        let (done, records) = tokio::try_join!(connector_reads, audit_read)?;
        let audit_events: Vec<AuditEventRecord> = records.iter().map(audit_record).collect();

        let records: Vec<ConnectorRecord> = connectors
            .iter()
            .map(|connector| connector_record(account, connector))
            .collect();
        let statuses: Vec<ConnectorStatusRecord> =
            done.iter().filter_map(|item| item.status.clone()).collect();
        let jobs: Vec<JobRecord> = done
            .iter()
            .flat_map(|item| item.jobs.iter().cloned())
            .collect();
        let mut cursors: Vec<CursorMove> =
            done.iter().filter_map(|item| item.cursor.clone()).collect();
        // The audit cursor is the newest record seen, so a pass that finds nothing new
        // leaves it (and the database) untouched; the next window starts at it minus
        // the overlap.
        let newest_audit = audit_events.iter().map(|event| event.time).max();
        if let Some(position) = advance(audit_cursor, newest_audit, self.now) {
            cursors.push(CursorMove {
                key: audit_key,
                position,
            });
        }

        let customer = self
            .store
            .keepit_account(account)
            .await?
            .and_then(|record| record.customer);
        let history = AccountHistory {
            synced_before: audit_cursor.is_some(),
            customer,
            previous: &previous,
            known_jobs: &known_jobs,
        };
        let changes = changes::detect(
            &history,
            node,
            &connectors,
            &statuses,
            &jobs,
            &audit_events,
            self.now,
        );

        let batch = AccountSyncBatch {
            account: account.clone(),
            connectors: records,
            connectors_complete: true,
            statuses,
            jobs,
            audit_events,
            cursors,
            now: self.now,
        };
        let report = self.store.commit_account_sync(&batch).await?;
        Ok(AccountDone {
            report,
            connectors_seen: connectors.len() as u64,
            changes,
        })
    }

    /// Stored jobs of the account that were still scheduled or running, by connector.
    async fn unfinished_jobs(
        &self,
        account: &AccountId,
    ) -> Result<HashMap<ConnectorId, Vec<keepit_domain::JobId>>> {
        let mut unfinished: HashMap<ConnectorId, Vec<keepit_domain::JobId>> = HashMap::new();
        let mut query = JobQuery {
            account: Some(account.clone()),
            statuses: vec![JobStatus::InProgress, JobStatus::Scheduled],
            limit: Some(JobQuery::MAX_LIMIT),
            ..JobQuery::default()
        };
        loop {
            let page = self.store.jobs(&query).await?;
            for job in page.jobs {
                // A job scheduled for later changes nothing until its start passes.
                if job.record.status == JobStatus::Scheduled && job.sort_time > self.now {
                    continue;
                }
                unfinished
                    .entry(job.record.connector.clone())
                    .or_default()
                    .push(job.record.job.clone());
            }
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(unfinished)
    }

    /// Jobs of the account stored with a start inside the history window, with their
    /// status, to tell new and newly finished jobs from known ones.
    async fn known_jobs(
        &self,
        account: &AccountId,
    ) -> Result<HashMap<keepit_domain::JobId, JobStatus>> {
        let mut known = HashMap::new();
        let mut query = JobQuery {
            account: Some(account.clone()),
            from: Some(self.now - self.config.first_sync_window - TimeDelta::days(1)),
            limit: Some(JobQuery::MAX_LIMIT),
            ..JobQuery::default()
        };
        loop {
            let page = self.store.jobs(&query).await?;
            for job in page.jobs {
                known.insert(job.record.job.clone(), job.record.status);
            }
            match page.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(known)
    }
}

/// The new position of a time cursor: the newest item seen when it is past the
/// cursor; `now` for a stream read for the first time that had nothing; otherwise
/// no move, so a pass that found nothing new writes nothing.
pub(super) fn advance(
    cursor: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<String> {
    match (cursor, newest) {
        (None, None) => Some(now.to_rfc3339()),
        (None, Some(newest)) => Some(newest.to_rfc3339()),
        (Some(cursor), Some(newest)) if newest > cursor => Some(newest.to_rfc3339()),
        (Some(_), _) => None,
    }
}
