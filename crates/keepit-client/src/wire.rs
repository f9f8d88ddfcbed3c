//! XML wire types, exactly as Keepit sends them, and their conversion into [`crate::model`] types.
//!
//! Every field is optional text and every list defaults to empty: Keepit documents
//! few shapes with certainty, so decoding is lenient and the conversion decides
//! what is required. Unknown elements are ignored. Text is trimmed during conversion
//! (Keepit pads some values with spaces).

use serde::Deserialize;

/// `GET /users/`: the account owning the credentials.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WhoAmI {
    pub(crate) id: Option<String>,
}

/// `GET /users/{a}`: account settings.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountSettings {
    pub(crate) enabled: Option<String>,
    pub(crate) created: Option<String>,
    pub(crate) product: Option<String>,
    pub(crate) parent: Option<String>,
    pub(crate) subscribed: Option<String>,
    pub(crate) deletion: Option<String>,
    pub(crate) external_id: Option<String>,
}

/// `GET /users/{a}/users`: direct child accounts (v0 ids, or v1/v3 user objects).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Users {
    #[serde(default)]
    pub(crate) user: Vec<User>,
    /// The v0 shape: bare ids.
    #[serde(default)]
    pub(crate) id: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct User {
    pub(crate) id: Option<String>,
    pub(crate) created: Option<String>,
    pub(crate) parent_id: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) full_name: Option<String>,
    pub(crate) company_name: Option<String>,
    #[serde(rename = "deletion-deadline")]
    pub(crate) deletion_deadline: Option<String>,
    pub(crate) contact: Option<Contact>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Contact {
    pub(crate) email: Option<String>,
    pub(crate) companyname: Option<String>,
    pub(crate) fullname: Option<String>,
}

/// `GET /users/{a}/devices` (v4).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Devices {
    #[serde(default)]
    pub(crate) cloud: Vec<Device>,
    /// Some non-cloud agents may be listed as `<device>` (seen in one script only).
    #[serde(default)]
    pub(crate) device: Vec<Device>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Device {
    pub(crate) guid: Option<String>,
    pub(crate) name: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(rename = "agent-type")]
    pub(crate) agent_type: Option<String>,
    pub(crate) created: Option<String>,
    pub(crate) accessible: Option<String>,
    #[serde(rename = "backup-retention")]
    pub(crate) backup_retention: Option<String>,
    pub(crate) orglink: Option<String>,
    #[serde(rename = "deletion-deadline")]
    pub(crate) deletion_deadline: Option<String>,
}

/// `GET .../health?reason=true`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DevHealth {
    pub(crate) health: Option<String>,
    pub(crate) reason: Option<String>,
}

/// `GET .../status`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DevStatus {
    #[serde(default)]
    pub(crate) entry: Vec<StatusEntry>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusEntry {
    pub(crate) status: Option<String>,
    pub(crate) ecode: Option<String>,
    pub(crate) adata: Option<StatusData>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatusData {
    pub(crate) objectsuploaded: Option<String>,
    pub(crate) objectstotal: Option<String>,
    pub(crate) ecode: Option<String>,
}

/// `<history>` with `<backup>` entries (latest snapshot, snapshot range).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct History {
    #[serde(default)]
    pub(crate) backup: Vec<Backup>,
    /// Some responses put the snapshot fields at the root instead.
    pub(crate) tstamp: Option<String>,
    pub(crate) root: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) size: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Backup {
    pub(crate) tstamp: Option<String>,
    pub(crate) root: Option<String>,
    pub(crate) id: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) size: Option<String>,
    pub(crate) account: Option<String>,
}

/// `GET /users/{a}/monitoring/backup/summary`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BackupSummary {
    #[serde(default)]
    pub(crate) device: Vec<BackupSummaryDevice>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BackupSummaryDevice {
    pub(crate) guid: Option<String>,
    #[serde(rename = "last-snapshot-time")]
    pub(crate) last_snapshot_time: Option<String>,
    #[serde(rename = "last-complete-snapshot-time")]
    pub(crate) last_complete_snapshot_time: Option<String>,
    #[serde(rename = "last-snapshot-size")]
    pub(crate) last_snapshot_size: Option<String>,
    #[serde(rename = "size-change")]
    pub(crate) size_change: Option<String>,
}

/// `<jobs>` with `<job>` entries.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Jobs {
    #[serde(default)]
    pub(crate) job: Vec<Job>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Job {
    pub(crate) guid: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) priority: Option<String>,
    pub(crate) active: Option<String>,
    pub(crate) scheduled: Option<String>,
    pub(crate) start: Option<String>,
    pub(crate) dispatched: Option<String>,
    pub(crate) started: Option<String>,
    pub(crate) succeeded: Option<String>,
    pub(crate) failed: Option<String>,
    pub(crate) cancelled: Option<String>,
    pub(crate) progress: Option<String>,
    pub(crate) execsummary: Option<String>,
    pub(crate) stats: Option<Stats>,
    pub(crate) snaptime: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Stats {
    #[serde(default)]
    pub(crate) stat: Vec<Stat>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Stat {
    pub(crate) name: Option<String>,
    pub(crate) value: Option<String>,
}

/// The decoded `execsummary`: an XML document carried as escaped text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExecSummary {
    pub(crate) summary: Option<String>,
}

/// `PUT /audit/filter/pretty`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Audit {
    #[serde(default)]
    pub(crate) record: Vec<AuditRecord>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditRecord {
    pub(crate) time: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) company: Option<String>,
    pub(crate) token: Option<String>,
    #[serde(rename = "client-ip")]
    pub(crate) client_ip: Option<String>,
    pub(crate) acl: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) allowed: Option<String>,
    pub(crate) succeeded: Option<String>,
    pub(crate) area: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) metadata: Option<Metadata>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default)]
    pub(crate) parameter: Vec<Parameter>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Parameter {
    pub(crate) key: Option<String>,
    pub(crate) value: Option<String>,
}

/// Keepit's XML error body: `<error><code/><description/>[<start-time/>]</error>`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) code: Option<String>,
    pub(crate) description: Option<String>,
}

impl ErrorBody {
    /// Parses an `<error>` body; `None` for anything else (plain text, HTML).
    pub(crate) fn parse(body: &str) -> Option<ErrorBody> {
        let trimmed = body.trim();
        if !trimmed.starts_with("<error") {
            return None;
        }
        let parsed: ErrorBody = quick_xml::de::from_str(trimmed).ok()?;
        Some(ErrorBody {
            code: parsed
                .code
                .map(|code| code.trim().to_owned())
                .filter(|code| !code.is_empty()),
            description: parsed.description.map(|text| text.trim().to_owned()),
        })
    }
}

/// Escapes text for an XML element body.
pub(crate) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}
