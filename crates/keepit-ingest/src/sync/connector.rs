//! One connector of an account: new jobs from its cursor, health, running jobs, and
//! the status they add up to.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use keepit_client::Connector;
use keepit_domain::{AccountId, ConnectorId, Health, JobStatus, SnapshotKind};
use keepit_store::{CursorMove, JobRecord, StoredConnector, StoredConnectorStatus};

use crate::error::Result;

use super::JOBS_STREAM;
use super::account::{ConnectorDone, Pass, advance};
use super::records::{job_record, status_record};

impl Pass<'_> {
    #[allow(clippy::too_many_arguments)] // One call site; a struct would only rename the list.
    pub(super) async fn connector(
        &self,
        account: &AccountId,
        connector: &Connector,
        previous: Option<&(StoredConnector, Option<StoredConnectorStatus>)>,
        summary: Option<&keepit_client::BackupSummaryEntry>,
        summary_supported: bool,
        unfinished: &[keepit_domain::JobId],
        known: &HashMap<keepit_domain::JobId, JobStatus>,
        cursors: &HashMap<(Option<ConnectorId>, String), DateTime<Utc>>,
    ) -> Result<ConnectorDone> {
        if !connector.state().is_active() {
            // Inaccessible or leaving connectors are listed but not watched.
            return Ok(ConnectorDone {
                status: None,
                jobs: Vec::new(),
                cursor: None,
            });
        }
        let client = &self.integration.client;
        let previous_status = previous
            .and_then(|(_, status)| status.as_ref())
            .map(|stored| &stored.status);

        // Job history is read on every pass, from the cursor: it is the one signal that
        // a backup failed, and it costs one request when nothing happened.
        let jobs_key = self.cursor_key(account, Some(&connector.id), JOBS_STREAM);
        let jobs_cursor = cursors
            .get(&(Some(connector.id.clone()), JOBS_STREAM.to_owned()))
            .copied();
        let from = match jobs_cursor {
            Some(cursor) => cursor - self.config.job_overlap,
            None => self.now - self.config.first_sync_window,
        };
        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        let finished: Vec<keepit_client::Job> = client
            .job_history_windows(
                account.clone(),
                connector.id.clone(),
                from,
                self.now,
                self.config.job_window,
            )
            .try_collect()
            .await?;
        for job in finished {
            if seen.insert(job.id.clone()) {
                jobs.push(job_record(account, &connector.id, &job, self.now));
            }
        }
        let new_jobs = jobs
            .iter()
            .any(|job| known.get(&job.job) != Some(&job.status));

        // Health, error codes and running jobs change with jobs or with time: they are
        // read again when new jobs arrived, when something was running, and at least
        // every `refresh_every`.
        let refresh = previous_status
            .is_none_or(|status| self.now - status.checked_at >= self.config.refresh_every)
            || new_jobs
            || !unfinished.is_empty();
        let (health, error_code) = match previous_status {
            Some(status) if !refresh => (
                keepit_client::ConnectorHealth::new(status.health, status.health_reason.clone()),
                status.error_code.clone(),
            ),
            _ => {
                let health = client.connector_health(account, &connector.id).await?;
                // The status endpoint explains problems: a healthy connector has nothing
                // to explain, and an unhealthy one whose health and reason are unchanged
                // keeps the error code already stored.
                let unchanged = previous_status.filter(|status| {
                    status.health == health.health && status.health_reason == health.reason
                });
                let error_code = match (health.health, unchanged) {
                    (Health::Healthy, _) => None,
                    (_, Some(status)) => status.error_code.clone(),
                    (_, None) => client
                        .connector_status(account, &connector.id)
                        .await?
                        .and_then(|status| status.error_code().cloned()),
                };
                (health, error_code)
            }
        };
        if refresh {
            for job in client.active_jobs(account, &connector.id).await? {
                if seen.insert(job.id.clone()) {
                    jobs.push(job_record(account, &connector.id, &job, self.now));
                }
            }
            // Jobs stored as running that neither list mentions any more: ask for each.
            for id in unfinished.iter().filter(|id| !seen.contains(*id)) {
                match client.job(account, &connector.id, id).await {
                    Ok(job) => jobs.push(job_record(account, &connector.id, &job, self.now)),
                    Err(keepit_client::Error::NotFound { .. }) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        // History windows select finished jobs by their end, so the cursor is the newest end
        // seen (never past now: scheduled jobs can lie in the future).
        let newest = jobs
            .iter()
            .filter_map(JobRecord::ended_at)
            .filter(|ended| *ended <= self.now)
            .max();
        let cursor = advance(jobs_cursor, newest, self.now).map(|position| CursorMove {
            key: jobs_key,
            position,
        });

        let snapshot = match summary {
            Some(entry) => (
                entry.last_snapshot_at,
                entry.last_snapshot_at.map(|_| {
                    if entry.last_complete_snapshot_at == entry.last_snapshot_at {
                        SnapshotKind::Complete
                    } else {
                        SnapshotKind::Partial
                    }
                }),
                entry.last_snapshot_size,
                entry.last_complete_snapshot_at,
            ),
            None if summary_supported => (None, None, None, None),
            None => match client.latest_snapshot(account, &connector.id).await? {
                Some(snapshot) => {
                    let complete =
                        (snapshot.kind == SnapshotKind::Complete).then_some(snapshot.taken_at);
                    (
                        Some(snapshot.taken_at),
                        Some(snapshot.kind),
                        snapshot.size,
                        complete,
                    )
                }
                None => (None, None, None, None),
            },
        };
        let status = status_record(
            connector,
            previous_status,
            &health,
            error_code,
            &jobs,
            snapshot,
            self.now,
        );
        Ok(ConnectorDone {
            status: Some(status),
            jobs,
            cursor,
        })
    }
}
