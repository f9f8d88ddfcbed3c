//! Turning what changed between two syncs into the messages people receive.
//!
//! The sync reports [`ChangeEvent`]s; [`compose`] turns each into at most one
//! [`MessageDraft`] with a stable deduplication key, so a message is stored once even
//! when the same change is seen by two syncs. Who receives a draft is decided by
//! `keepit_domain::route_message` from the draft's kind and person.

use chrono::{DateTime, Utc};
use keepit_domain::{
    AccountId, ConnectorId, ConnectorKind, CustomerId, DownloadKind, FailureReason, Health,
    JobFamily, JobId, JobStatus, JobType, MessageKind, ReasonScope,
};

/// The connector a change is about, with the names people know it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRef {
    /// The customer, once the account is matched to one.
    pub customer: Option<CustomerId>,
    /// The customer's name.
    pub customer_name: String,
    /// The Keepit account.
    pub account: AccountId,
    /// The connector.
    pub connector: ConnectorId,
    /// The connector's name.
    pub connector_name: String,
    /// What it backs up.
    pub kind: ConnectorKind,
}

/// Something that changed between two syncs.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeEvent {
    /// A connector appeared.
    ConnectorAdded {
        /// The connector.
        connector: ConnectorRef,
    },
    /// A connector's health changed.
    HealthChanged {
        /// The connector.
        connector: ConnectorRef,
        /// The health before.
        from: Health,
        /// The health now.
        to: Health,
        /// Why, when known.
        reason: Option<FailureReason>,
        /// When the change was seen.
        seen_at: DateTime<Utc>,
    },
    /// A connector was scheduled for deletion.
    ScheduledForDeletion {
        /// The connector.
        connector: ConnectorRef,
        /// When Keepit will delete it.
        deadline: DateTime<Utc>,
    },
    /// A job was seen running for the first time.
    JobStarted {
        /// The connector.
        connector: ConnectorRef,
        /// The job.
        job: JobId,
        /// Its type.
        job_type: JobType,
    },
    /// A job finished.
    JobFinished {
        /// The connector.
        connector: ConnectorRef,
        /// The job.
        job: JobId,
        /// Its type.
        job_type: JobType,
        /// Its decided status.
        status: JobStatus,
        /// Why it failed, when it did.
        reason: Option<FailureReason>,
        /// Whether this is the connector's first successful backup.
        first_successful_backup: bool,
    },
    /// A download link was generated (seen in the audit log).
    DownloadLinkReady {
        /// The account.
        account: AccountId,
        /// The customer, when known.
        customer: Option<CustomerId>,
        /// What the link is for.
        kind: DownloadKind,
        /// The e-mail address of whoever asked for it, when Keepit recorded one.
        requested_by: Option<String>,
        /// When the link was generated.
        at: DateTime<Utc>,
    },
}

/// A message ready to be stored and routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDraft {
    /// The kind of message.
    pub kind: MessageKind,
    /// A key that is the same for the same change, so the message is stored once.
    pub dedup_key: String,
    /// One line.
    pub subject: String,
    /// A few sentences, with the reason and what to do where there is one.
    pub body: String,
    /// The customer concerned.
    pub customer: Option<CustomerId>,
    /// The connector concerned.
    pub connector: Option<ConnectorId>,
    /// The job concerned.
    pub job: Option<JobId>,
    /// For personal messages: the e-mail address of the one person who receives it.
    pub person_email: Option<String>,
}

fn reason_text(reason: Option<&FailureReason>, scope: ReasonScope) -> String {
    match reason {
        Some(reason) => match reason.entry(scope) {
            Some(entry) => format!(
                "\n\nReason: {}. {}\nWhat to do: {}",
                entry.title, entry.explanation, entry.resolution
            ),
            None => format!("\n\nKeepit reported: {}", reason.raw().unwrap_or_default()),
        },
        None => String::new(),
    }
}

fn draft(
    kind: MessageKind,
    key: String,
    subject: String,
    body: String,
    connector: &ConnectorRef,
    job: Option<&JobId>,
) -> MessageDraft {
    MessageDraft {
        kind,
        dedup_key: key,
        subject,
        body,
        customer: connector.customer,
        connector: Some(connector.connector.clone()),
        job: job.cloned(),
        person_email: None,
    }
}

/// The message for a change, or `None` when the change is not worth one
/// (a successful backup that is not the first, a health change to unknown, ...).
pub fn compose(event: &ChangeEvent) -> Option<MessageDraft> {
    match event {
        ChangeEvent::ConnectorAdded { connector: c } => Some(draft(
            MessageKind::ConnectorAdded,
            format!("connector-added:{}", c.connector),
            format!(
                "New connector for {}: {}",
                c.customer_name, c.connector_name
            ),
            format!(
                "{} now has a {} connector, {}, in Keepit.",
                c.customer_name,
                c.kind.display_name(),
                c.connector_name
            ),
            c,
            None,
        )),
        ChangeEvent::HealthChanged {
            connector: c,
            from,
            to,
            reason,
            seen_at,
        } => {
            if from == to || *to == Health::Unknown {
                return None;
            }
            Some(draft(
                MessageKind::ConnectorHealthChanged,
                format!(
                    "health:{}:{}:{}",
                    c.connector,
                    to.as_str(),
                    seen_at.timestamp()
                ),
                format!(
                    "{} / {}: health is now {}",
                    c.customer_name, c.connector_name, to
                ),
                format!(
                    "The health of {} ({}) changed from {from} to {to}.{}",
                    c.connector_name,
                    c.customer_name,
                    reason_text(reason.as_ref(), ReasonScope::Backup)
                ),
                c,
                None,
            ))
        }
        ChangeEvent::ScheduledForDeletion {
            connector: c,
            deadline,
        } => Some(draft(
            MessageKind::ConnectorScheduledForDeletion,
            format!("deletion:{}:{}", c.connector, deadline.timestamp()),
            format!(
                "{} / {} is scheduled for deletion",
                c.customer_name, c.connector_name
            ),
            format!(
                "Keepit will delete the connector {} of {} on {}. Its backups stop being watched now.",
                c.connector_name,
                c.customer_name,
                deadline.format("%Y-%m-%d %H:%M UTC")
            ),
            c,
            None,
        )),
        ChangeEvent::JobStarted {
            connector: c,
            job,
            job_type,
        } => {
            if job_type.family() != JobFamily::Restore
                || matches!(job_type, JobType::PstDownload | JobType::ZipDownload)
            {
                return None;
            }
            Some(draft(
                MessageKind::RestoreStarted,
                format!("job:{job}:started"),
                format!(
                    "{} / {}: a restore started",
                    c.customer_name, c.connector_name
                ),
                format!(
                    "A {} job started on {} ({}).",
                    job_type.display_name().to_lowercase(),
                    c.connector_name,
                    c.customer_name
                ),
                c,
                Some(job),
            ))
        }
        ChangeEvent::JobFinished {
            connector: c,
            job,
            job_type,
            status,
            reason,
            first_successful_backup,
        } => {
            let (kind, verb) = match (job_type.family(), status) {
                (JobFamily::Backup, JobStatus::Successful) if *first_successful_backup => (
                    MessageKind::InitialBackupCompleted,
                    "completed its first backup",
                ),
                (JobFamily::Backup, JobStatus::Unsuccessful) => (
                    MessageKind::BackupUnsuccessful,
                    "had an unsuccessful backup",
                ),
                (JobFamily::Backup, JobStatus::Incomplete) => {
                    (MessageKind::BackupIncomplete, "had an incomplete backup")
                }
                (JobFamily::Restore, _)
                    if matches!(job_type, JobType::PstDownload | JobType::ZipDownload) =>
                {
                    return None;
                }
                (JobFamily::Restore, JobStatus::Successful) => (
                    MessageKind::RestoreSuccessful,
                    "finished a restore successfully",
                ),
                (JobFamily::Restore, JobStatus::Unsuccessful) => (
                    MessageKind::RestoreUnsuccessful,
                    "had an unsuccessful restore",
                ),
                (JobFamily::Restore, JobStatus::Incomplete) => {
                    (MessageKind::RestoreIncomplete, "had an incomplete restore")
                }
                _ => return None,
            };
            let scope = FailureReason::scope_of(job_type.family());
            Some(draft(
                kind,
                format!("job:{job}:{}", kind.as_str()),
                format!("{} / {} {verb}", c.customer_name, c.connector_name),
                format!(
                    "The {} connector {} of {} {verb} (job {job}).{}",
                    c.kind.display_name(),
                    c.connector_name,
                    c.customer_name,
                    reason_text(reason.as_ref(), scope)
                ),
                c,
                Some(job),
            ))
        }
        ChangeEvent::DownloadLinkReady {
            account,
            customer,
            kind,
            requested_by,
            at,
        } => {
            let what = match kind {
                DownloadKind::Pst => "PST file",
                DownloadKind::Csv => "CSV report",
                DownloadKind::ComplianceReport => "compliance report",
            };
            Some(MessageDraft {
                kind: MessageKind::DownloadLinkReady(*kind),
                dedup_key: format!(
                    "download:{account}:{}:{}",
                    MessageKind::DownloadLinkReady(*kind).as_str(),
                    at.timestamp()
                ),
                subject: format!("Your {what} download link is ready"),
                body: format!(
                    "Keepit generated the {what} you asked for (account {account}). Open Keepit to download it; the link is for you alone."
                ),
                customer: *customer,
                connector: None,
                job: None,
                person_email: requested_by.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
