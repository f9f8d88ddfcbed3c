//! XML wire types, exactly as Keepit sends them, and their conversion into [`crate::model`] types.
//!
//! Every field is optional text and every list defaults to empty: Keepit documents
//! few shapes with certainty, so decoding is lenient and the conversion decides
//! what is required. Unknown elements are ignored. Text is trimmed during conversion
//! (Keepit pads some values with spaces).
//!
//! The small single-object answers are read with serde (`quick_xml::de`). The large
//! lists (audit pages, connectors, jobs) are read by the streaming reader in
//! [`crate::xml`] into borrowed types, one item at a time.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::Result;
use crate::xml::{self, Open, XmlCursor};

/// A text field of a streamed wire type: `None` when the element is absent, the
/// untrimmed text (borrowed from the body where possible) otherwise.
pub(crate) type Text<'a> = Option<Cow<'a, str>>;

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

/// One `<cloud>` or `<device>` entry of `GET /users/{a}/devices` (v4), read by
/// [`crate::xml`]; [`read_devices`] walks the list.
#[derive(Debug, Default)]
pub(crate) struct Device<'a> {
    pub(crate) guid: Text<'a>,
    pub(crate) name: Text<'a>,
    pub(crate) kind: Text<'a>,
    pub(crate) agent_type: Text<'a>,
    pub(crate) created: Text<'a>,
    pub(crate) accessible: Text<'a>,
    pub(crate) backup_retention: Text<'a>,
    pub(crate) orglink: Text<'a>,
    pub(crate) deletion_deadline: Text<'a>,
}

impl<'a> Device<'a> {
    fn read(xml: &mut XmlCursor<'a>, element: &Open<'a>) -> Result<Self> {
        let mut device = Device::default();
        while let Some(child) = xml.next_child(element)? {
            let slot = match child.local_name() {
                b"guid" => &mut device.guid,
                b"name" => &mut device.name,
                b"type" => &mut device.kind,
                b"agent-type" => &mut device.agent_type,
                b"created" => &mut device.created,
                b"accessible" => &mut device.accessible,
                b"backup-retention" => &mut device.backup_retention,
                b"orglink" => &mut device.orglink,
                b"deletion-deadline" => &mut device.deletion_deadline,
                _ => {
                    xml.skip(child)?;
                    continue;
                }
            };
            xml.field(slot, child)?;
        }
        Ok(device)
    }
}

/// Walks a device list: `<cloud>` entries and, for some non-cloud agents (seen in
/// one script only), `<device>` entries. `each` gets `true` for a `<cloud>` entry.
/// An `Err` from `each` is a conversion error: see [`xml::read_list`].
pub(crate) fn read_devices<'a>(
    xml: &mut XmlCursor<'a>,
    mut each: impl FnMut(bool, Device<'a>) -> Result<()>,
) -> Result<()> {
    xml::read_list(xml, &["devices"], |xml, item| {
        let cloud = match item.local_name() {
            b"cloud" => true,
            b"device" => false,
            _ => {
                xml.skip(item)?;
                return Ok(None);
            }
        };
        let device = Device::read(xml, &item)?;
        Ok(each(cloud, device).err())
    })
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

/// A `<job>`, read by [`crate::xml`]; [`read_jobs`] walks a `<jobs>` list.
#[derive(Debug, Default)]
pub(crate) struct Job<'a> {
    pub(crate) guid: Text<'a>,
    pub(crate) kind: Text<'a>,
    pub(crate) description: Text<'a>,
    pub(crate) priority: Text<'a>,
    pub(crate) active: Text<'a>,
    pub(crate) scheduled: Text<'a>,
    pub(crate) start: Text<'a>,
    pub(crate) dispatched: Text<'a>,
    pub(crate) started: Text<'a>,
    pub(crate) succeeded: Text<'a>,
    pub(crate) failed: Text<'a>,
    pub(crate) cancelled: Text<'a>,
    pub(crate) progress: Text<'a>,
    pub(crate) execsummary: Text<'a>,
    pub(crate) stats: Option<Vec<Stat<'a>>>,
    pub(crate) snaptime: Text<'a>,
}

#[derive(Debug, Default)]
pub(crate) struct Stat<'a> {
    pub(crate) name: Text<'a>,
    pub(crate) value: Text<'a>,
}

impl<'a> Job<'a> {
    /// Reads the children of a `<job>` element (or of a root that is one).
    pub(crate) fn read(xml: &mut XmlCursor<'a>, element: &Open<'a>) -> Result<Self> {
        let mut job = Job::default();
        while let Some(child) = xml.next_child(element)? {
            let slot = match child.local_name() {
                b"guid" => &mut job.guid,
                b"type" => &mut job.kind,
                b"description" => &mut job.description,
                b"priority" => &mut job.priority,
                b"active" => &mut job.active,
                b"scheduled" => &mut job.scheduled,
                b"start" => &mut job.start,
                b"dispatched" => &mut job.dispatched,
                b"started" => &mut job.started,
                b"succeeded" => &mut job.succeeded,
                b"failed" => &mut job.failed,
                b"cancelled" => &mut job.cancelled,
                b"progress" => &mut job.progress,
                b"execsummary" => &mut job.execsummary,
                b"snaptime" => &mut job.snaptime,
                b"stats" => {
                    if job.stats.is_some() {
                        return Err(xml.duplicate(&child));
                    }
                    let mut stats = Vec::new();
                    while let Some(stat) = xml.next_child(&child)? {
                        if stat.local_name() != b"stat" {
                            xml.skip(stat)?;
                            continue;
                        }
                        let mut entry = Stat::default();
                        while let Some(part) = xml.next_child(&stat)? {
                            match part.local_name() {
                                b"name" => xml.field(&mut entry.name, part)?,
                                b"value" => xml.field(&mut entry.value, part)?,
                                _ => xml.skip(part)?,
                            }
                        }
                        stats.push(entry);
                    }
                    job.stats = Some(stats);
                    continue;
                }
                _ => {
                    xml.skip(child)?;
                    continue;
                }
            };
            xml.field(slot, child)?;
        }
        Ok(job)
    }
}

/// Walks a `<jobs>` list, handing each `<job>` to `each`. An `Err` from `each` is a
/// conversion error: see [`xml::read_list`].
pub(crate) fn read_jobs<'a>(
    xml: &mut XmlCursor<'a>,
    mut each: impl FnMut(Job<'a>) -> Result<()>,
) -> Result<()> {
    xml::read_list(xml, &["jobs"], |xml, item| {
        if item.local_name() != b"job" {
            xml.skip(item)?;
            return Ok(None);
        }
        let job = Job::read(xml, &item)?;
        Ok(each(job).err())
    })
}

/// The decoded `execsummary`: an XML document carried as escaped text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ExecSummary {
    pub(crate) summary: Option<String>,
}

/// One `<record>` of `PUT /audit/filter/pretty`, read by [`crate::xml`];
/// [`read_audit`] walks an `<audit>` page.
#[derive(Debug, Default)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) time: Text<'a>,
    pub(crate) account: Text<'a>,
    pub(crate) company: Text<'a>,
    pub(crate) token: Text<'a>,
    pub(crate) client_ip: Text<'a>,
    pub(crate) acl: Text<'a>,
    pub(crate) method: Text<'a>,
    pub(crate) allowed: Text<'a>,
    pub(crate) succeeded: Text<'a>,
    pub(crate) area: Text<'a>,
    pub(crate) message: Text<'a>,
    pub(crate) device: Text<'a>,
    /// The `<parameter>` entries of `<metadata>`; `None` without a `<metadata>` element.
    pub(crate) metadata: Option<Vec<Parameter<'a>>>,
}

#[derive(Debug, Default)]
pub(crate) struct Parameter<'a> {
    pub(crate) key: Text<'a>,
    pub(crate) value: Text<'a>,
}

impl<'a> AuditRecord<'a> {
    fn read(xml: &mut XmlCursor<'a>, element: &Open<'a>) -> Result<Self> {
        let mut record = AuditRecord::default();
        while let Some(child) = xml.next_child(element)? {
            let slot = match child.local_name() {
                b"time" => &mut record.time,
                b"account" => &mut record.account,
                b"company" => &mut record.company,
                b"token" => &mut record.token,
                b"client-ip" => &mut record.client_ip,
                b"acl" => &mut record.acl,
                b"method" => &mut record.method,
                b"allowed" => &mut record.allowed,
                b"succeeded" => &mut record.succeeded,
                b"area" => &mut record.area,
                b"message" => &mut record.message,
                b"device" => &mut record.device,
                b"metadata" => {
                    if record.metadata.is_some() {
                        return Err(xml.duplicate(&child));
                    }
                    let mut parameters = Vec::new();
                    while let Some(parameter) = xml.next_child(&child)? {
                        if parameter.local_name() != b"parameter" {
                            xml.skip(parameter)?;
                            continue;
                        }
                        let mut entry = Parameter::default();
                        while let Some(part) = xml.next_child(&parameter)? {
                            match part.local_name() {
                                b"key" => xml.field(&mut entry.key, part)?,
                                b"value" => xml.field(&mut entry.value, part)?,
                                _ => xml.skip(part)?,
                            }
                        }
                        parameters.push(entry);
                    }
                    record.metadata = Some(parameters);
                    continue;
                }
                _ => {
                    xml.skip(child)?;
                    continue;
                }
            };
            xml.field(slot, child)?;
        }
        Ok(record)
    }
}

/// Walks an `<audit>` page, handing each `<record>` to `each`. An `Err` from `each`
/// is a conversion error: see [`xml::read_list`].
pub(crate) fn read_audit<'a>(
    xml: &mut XmlCursor<'a>,
    mut each: impl FnMut(AuditRecord<'a>) -> Result<()>,
) -> Result<()> {
    xml::read_list(xml, &["audit"], |xml, item| {
        if item.local_name() != b"record" {
            xml.skip(item)?;
            return Ok(None);
        }
        let record = AuditRecord::read(xml, &item)?;
        Ok(each(record).err())
    })
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
