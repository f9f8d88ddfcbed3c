//! What changed in one account since the previous pass, as events for messages.
//!
//! The first pass over an account reports nothing: everything would be "new", and an
//! MSP does not want a message for every connector and job it already has.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use keepit_alerts::{ChangeEvent, ConnectorRef};
use keepit_client::Connector;
use keepit_domain::{ConnectorId, DownloadKind, JobFamily, JobId, JobStatus};
use keepit_store::{
    AuditEventRecord, ConnectorStatusRecord, JobRecord, PassAccount, StoredConnector,
    StoredConnectorStatus,
};

/// What the store knew about the account before this pass.
pub(crate) struct AccountHistory<'a> {
    /// Whether the account was synced before (its audit cursor exists).
    pub(crate) synced_before: bool,
    /// The customer the account belongs to.
    pub(crate) customer: Option<keepit_domain::CustomerId>,
    /// Connectors and their statuses as stored.
    pub(crate) previous: &'a HashMap<ConnectorId, (StoredConnector, Option<StoredConnectorStatus>)>,
    /// Jobs already stored, with their status.
    pub(crate) known_jobs: &'a HashMap<JobId, JobStatus>,
}

pub(crate) fn detect(
    history: &AccountHistory<'_>,
    account: &PassAccount,
    connectors: &[Connector],
    statuses: &[ConnectorStatusRecord],
    jobs: &[JobRecord],
    audit: &[AuditEventRecord],
    now: DateTime<Utc>,
) -> Vec<ChangeEvent> {
    if !history.synced_before {
        return Vec::new();
    }
    let customer = history.customer;
    let reference = |connector: &Connector| ConnectorRef {
        customer,
        customer_name: account.name.clone(),
        account: account.account.clone(),
        connector: connector.id.clone(),
        connector_name: connector.name.clone(),
        kind: connector.kind.clone(),
    };
    let by_id: HashMap<&ConnectorId, &Connector> = connectors
        .iter()
        .map(|connector| (&connector.id, connector))
        .collect();
    let mut events = Vec::new();

    for connector in connectors {
        match history.previous.get(&connector.id) {
            None => events.push(ChangeEvent::ConnectorAdded {
                connector: reference(connector),
            }),
            Some((stored, _)) => {
                if let (None, Some(deadline)) =
                    (stored.record.deletion_deadline, connector.deletion_deadline)
                {
                    events.push(ChangeEvent::ScheduledForDeletion {
                        connector: reference(connector),
                        deadline,
                    });
                }
            }
        }
    }

    for status in statuses {
        let Some(connector) = by_id.get(&status.connector) else {
            continue;
        };
        let previous = history
            .previous
            .get(&status.connector)
            .and_then(|(_, stored)| stored.as_ref())
            .map(|stored| &stored.status);
        if let Some(previous) = previous
            && previous.health != status.health
        {
            events.push(ChangeEvent::HealthChanged {
                connector: reference(connector),
                from: previous.health,
                to: status.health,
                reason: status.failure_reason.clone(),
                seen_at: now,
            });
        }
    }

    let mut first_success_reported: Vec<&ConnectorId> = Vec::new();
    let mut ordered: Vec<&JobRecord> = jobs.iter().collect();
    ordered.sort_by_key(|job| job.sort_time(now));
    for job in ordered {
        let Some(connector) = by_id.get(&job.connector) else {
            continue;
        };
        let known = history.known_jobs.get(&job.job);
        if job.status.is_finished() {
            if known.is_some_and(|status| status.is_finished()) {
                continue;
            }
            let never_succeeded = history
                .previous
                .get(&job.connector)
                .and_then(|(_, status)| status.as_ref())
                .is_none_or(|status| status.status.last_successful_backup_at.is_none());
            let first_successful_backup = job.job_type.family() == JobFamily::Backup
                && job.status == JobStatus::Successful
                && never_succeeded
                && !first_success_reported.contains(&&job.connector);
            if first_successful_backup {
                first_success_reported.push(&job.connector);
            }
            events.push(ChangeEvent::JobFinished {
                connector: reference(connector),
                job: job.job.clone(),
                job_type: job.job_type.clone(),
                status: job.status,
                reason: job.failure_reason.clone(),
                first_successful_backup,
            });
        } else if known.is_none() && job.status == JobStatus::InProgress {
            events.push(ChangeEvent::JobStarted {
                connector: reference(connector),
                job: job.job.clone(),
                job_type: job.job_type.clone(),
            });
        }
    }

    for record in audit {
        let message = record.message.to_lowercase();
        let kind = if message.contains("compliance report") {
            Some(DownloadKind::ComplianceReport)
        } else if message.contains("pst")
            && (message.contains("link") || message.contains("download"))
        {
            Some(DownloadKind::Pst)
        } else if message.contains("csv") && message.contains("download") {
            Some(DownloadKind::Csv)
        } else {
            None
        };
        if let Some(kind) = kind {
            events.push(ChangeEvent::DownloadLinkReady {
                account: record.account.clone(),
                customer: history.customer,
                kind,
                requested_by: record.actor.clone().filter(|actor| actor.contains('@')),
                at: record.time,
            });
        }
    }
    events
}
