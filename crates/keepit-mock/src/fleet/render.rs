//! Writing the fleet's truth as Keepit's XML (and CSV), in the shapes of `keepit-api.md`.

use keepit_domain::{AccountId, JobStatistics};

use crate::fleet::truth::{
    TruthAccount, TruthAuditEvent, TruthConnector, TruthJob, TruthSkippedItem, TruthSnapshot,
};
use crate::xml::{XmlWriter, escape, timestamp};

/// `GET /users/`.
pub(crate) fn whoami(parent: &AccountId) -> String {
    let mut xml = XmlWriter::new();
    xml.open("user").text("id", parent.as_str()).close("user");
    xml.finish()
}

/// `GET /users/{a}` (v0).
pub(crate) fn account(account: &TruthAccount) -> String {
    let mut xml = XmlWriter::new();
    xml.open("user")
        .text("enabled", "true")
        .time("created", account.created)
        .opt_text("product", account.product.as_deref())
        .opt_text("parent", account.parent.as_ref().map(AccountId::as_str))
        .text("subscribed", "true")
        .opt_time("deletion", account.deletion_deadline)
        .close("user");
    xml.finish()
}

/// `GET /users/{a}/users` in the shape of the requested version (0, 1 or 3).
pub(crate) fn children(children: &[&TruthAccount], version: u32) -> String {
    let mut xml = XmlWriter::new();
    if children.is_empty() {
        xml.empty("users");
        return xml.finish();
    }
    xml.open("users");
    for child in children {
        if version == 0 {
            xml.text("id", child.id.as_str());
            continue;
        }
        xml.open("user")
            .text("id", child.id.as_str())
            .time("created", child.created)
            .opt_text("parent_id", child.parent.as_ref().map(AccountId::as_str));
        if version >= 3 {
            xml.opt_time("deletion-deadline", child.deletion_deadline)
                .open("contact")
                .text("email", &child.email)
                .text("companyname", &child.company_name)
                .text("fullname", &child.full_name)
                .text("country", &child.country)
                .close("contact");
        } else {
            xml.text("email", &child.email)
                .text("full_name", &child.full_name)
                .text("company_name", &child.company_name);
        }
        xml.close("user");
    }
    xml.close("users");
    xml.finish()
}

/// `GET /users/{a}/devices`; `agent_type` only from v4 on, as Keepit does.
pub(crate) fn devices(connectors: &[&TruthConnector], agent_type: bool) -> String {
    let mut xml = XmlWriter::new();
    if connectors.is_empty() {
        xml.empty("devices");
        return xml.finish();
    }
    xml.open("devices");
    for connector in connectors {
        cloud(&mut xml, connector, agent_type);
    }
    xml.close("devices");
    xml.finish()
}

/// `GET /users/{a}/devices/{d}`.
pub(crate) fn device(connector: &TruthConnector, agent_type: bool) -> String {
    let mut xml = XmlWriter::new();
    cloud(&mut xml, connector, agent_type);
    xml.finish()
}

fn cloud(xml: &mut XmlWriter, connector: &TruthConnector, agent_type: bool) {
    xml.open("cloud")
        .text("guid", connector.id.as_str())
        .text("name", &connector.name)
        .text("type", connector.kind.wire_type());
    if agent_type {
        xml.opt_text("agent-type", connector.kind.agent_type());
    }
    xml.time("created", connector.created)
        .text(
            "accessible",
            if connector.accessible {
                "true"
            } else {
                "false"
            },
        )
        .opt_text("backup-retention", connector.backup_retention.as_deref());
    if connector.backup_retention.is_some() {
        xml.time("backup-retention-updated", connector.created);
    }
    xml.opt_text("orglink", connector.orglink.as_deref())
        .opt_time("deletion-deadline", connector.deletion_deadline)
        .close("cloud");
}

/// `GET …/health[?reason=true]`.
pub(crate) fn health(connector: &TruthConnector, with_reason: bool) -> String {
    let mut xml = XmlWriter::new();
    xml.open("devhealth")
        .text("health", connector.health.as_str());
    if with_reason {
        xml.text("reason", connector.health_reason.as_str());
    }
    xml.close("devhealth");
    xml.finish()
}

/// `GET …/status`: a first entry with progress counts (and the error code, if any), and
/// the current entry last, as Keepit's tools read it.
pub(crate) fn status(connector: &TruthConnector) -> String {
    let total = connector
        .latest_snapshot()
        .map(|snapshot| snapshot.size / 1_048_576 + 1)
        .unwrap_or(0);
    let mut xml = XmlWriter::new();
    xml.open("devstatus");
    let failing = connector.ecode.is_some() || connector.status_code != 0;
    xml.open("entry")
        .display("status", if failing { 3 } else { connector.status_code })
        .open("adata")
        .display("objectsuploaded", if failing { total / 2 } else { total })
        .display("objectstotal", total)
        .opt_text("ecode", connector.ecode.as_deref())
        .close("adata")
        .close("entry");
    if failing {
        xml.open("entry")
            .display("status", connector.status_code)
            .opt_text("ecode", connector.ecode.as_deref())
            .close("entry");
    }
    xml.close("devstatus");
    xml.finish()
}

/// `<history>` with snapshots (S1, S3).
pub(crate) fn history(snapshots: &[&TruthSnapshot], account: &AccountId) -> String {
    let mut xml = XmlWriter::new();
    if snapshots.is_empty() {
        xml.empty("history");
        return xml.finish();
    }
    xml.open("history");
    for snapshot in snapshots {
        xml.open("backup")
            .time("tstamp", snapshot.tstamp)
            .text("root", &snapshot.root)
            .text("type", snapshot.kind.as_str())
            .display("size", snapshot.size)
            .text("account", account.as_str())
            .close("backup");
    }
    xml.close("history");
    xml.finish()
}

/// `<history><count>` (S4).
pub(crate) fn count(count: usize) -> String {
    let mut xml = XmlWriter::new();
    xml.open("history").display("count", count).close("history");
    xml.finish()
}

/// `GET /users/{a}/monitoring/backup/summary` (M3).
pub(crate) fn backup_summary(connectors: &[&TruthConnector]) -> String {
    let mut xml = XmlWriter::new();
    if connectors.is_empty() {
        xml.empty("backup-summary");
        return xml.finish();
    }
    xml.open("backup-summary");
    for connector in connectors {
        let Some(latest) = connector.latest_snapshot() else {
            continue;
        };
        let change = size_change(connector);
        xml.open("device")
            .text("guid", connector.id.as_str())
            .time("last-snapshot-time", latest.tstamp)
            .opt_time(
                "last-complete-snapshot-time",
                connector
                    .latest_complete_snapshot()
                    .map(|snapshot| snapshot.tstamp),
            )
            .display("last-snapshot-size", latest.size)
            .display("size-change", change)
            .close("device");
    }
    xml.close("backup-summary");
    xml.finish()
}

/// The newest snapshot's size minus the one before it (0 with fewer than two snapshots).
fn size_change(connector: &TruthConnector) -> i128 {
    match connector.snapshots.as_slice() {
        [.., previous, latest] => i128::from(latest.size) - i128::from(previous.size),
        _ => 0,
    }
}

/// `GET …/devices/{d}/monitoring/backup/summary` (M2).
pub(crate) fn device_backup_summary(connector: &TruthConnector) -> String {
    let mut xml = XmlWriter::new();
    xml.open("backup-summary");
    if let Some(latest) = connector.latest_snapshot() {
        let change = size_change(connector);
        xml.time("last-snapshot-time", latest.tstamp)
            .opt_time(
                "last-complete-snapshot-time",
                connector
                    .latest_complete_snapshot()
                    .map(|snapshot| snapshot.tstamp),
            )
            .display("last-snapshot-size", latest.size)
            .display("size-change", change);
    }
    xml.close("backup-summary");
    xml.finish()
}

/// `GET …/devices/{d}/monitoring/summary?from=&to=` (M1): added, removed and (never
/// reported by the fleet) modified items and bytes of the backups that ended in the window.
pub(crate) fn monitoring_summary(backups: &[&TruthJob]) -> String {
    let mut added = keepit_domain::Volume::default();
    let mut removed = keepit_domain::Volume::default();
    for job in backups {
        if let Some(JobStatistics::Backup(stats)) = job.statistics() {
            added.count += stats.added.count;
            added.bytes += stats.added.bytes;
            removed.count += stats.removed.count;
            removed.bytes += stats.removed.bytes;
        }
    }
    let mut xml = XmlWriter::new();
    xml.open("summary")
        .open("size")
        .display("added", added.bytes)
        .display("removed", removed.bytes)
        .display("modified", 0)
        .close("size")
        .open("count")
        .display("added", added.count)
        .display("removed", removed.count)
        .display("modified", 0)
        .close("count")
        .close("summary");
    xml.finish()
}

/// `<jobs>` (J1, J2).
pub(crate) fn jobs(jobs: &[&TruthJob]) -> String {
    let mut xml = XmlWriter::new();
    if jobs.is_empty() {
        xml.empty("jobs");
        return xml.finish();
    }
    xml.open("jobs");
    for job in jobs {
        job_element(&mut xml, job);
    }
    xml.close("jobs");
    xml.finish()
}

/// `<job>` (J3).
pub(crate) fn job(job: &TruthJob) -> String {
    let mut xml = XmlWriter::new();
    job_element(&mut xml, job);
    xml.finish()
}

fn job_element(xml: &mut XmlWriter, job: &TruthJob) {
    let observation = &job.observation;
    xml.open("job")
        .text("guid", job.id.as_str())
        .text("description", &job.description)
        .text("type", observation.job_type.as_str())
        .display("priority", job.priority)
        .text("active", if observation.active { "true" } else { "false" })
        .opt_time("scheduled", observation.scheduled)
        .opt_time("start", observation.start)
        .opt_time("dispatched", job.dispatched)
        .opt_time("started", observation.started)
        .opt_time("succeeded", observation.succeeded)
        .opt_time("failed", observation.failed)
        .opt_time("cancelled", observation.cancelled);
    if let Some(progress) = observation.progress {
        xml.text("progress", &format!("{progress:?}"));
    }
    if let Some(summary) = observation.failure_summary.as_deref() {
        // The summary is XML inside a text element: escaped once for the inner document
        // and once more as the outer element's text.
        let inner = format!(
            "<execsummary><summary>{}</summary></execsummary>",
            escape(summary)
        );
        xml.text("execsummary", &inner);
    }
    if let Some(statistics) = observation.statistics {
        xml.open("stats");
        let stats: [(&str, u64); 6] = match statistics {
            JobStatistics::Backup(stats) => [
                ("added-count", stats.added.count),
                ("added-size", stats.added.bytes),
                ("removed-count", stats.removed.count),
                ("removed-size", stats.removed.bytes),
                ("skipped-count", stats.skipped.count),
                ("skipped-size", stats.skipped.bytes),
            ],
            JobStatistics::Restore(stats) => [
                ("restored-count", stats.restored.count),
                ("restored-size", stats.restored.bytes),
                ("overwritten-count", stats.overwritten.count),
                ("overwritten-size", stats.overwritten.bytes),
                ("skipped-count", stats.skipped.count),
                ("skipped-size", stats.skipped.bytes),
            ],
        };
        for (name, value) in stats {
            xml.open("stat")
                .text("name", name)
                .display("value", value)
                .close("stat");
        }
        xml.close("stats");
    }
    xml.close("job");
}

/// `PUT /audit/filter/pretty` (L1).
pub(crate) fn audit(events: &[&TruthAuditEvent]) -> String {
    let mut xml = XmlWriter::new();
    if events.is_empty() {
        xml.empty("audit");
        return xml.finish();
    }
    xml.open("audit");
    for event in events {
        xml.open("record")
            .time("time", event.time)
            .text("account", event.account.as_str())
            .text("company", &event.company)
            .text("token", &event.token)
            .text("client-ip", &event.client_ip)
            .text("acl", &event.acl)
            .text("method", &event.method)
            .text("allowed", if event.allowed { "true" } else { "false" })
            .text("succeeded", if event.succeeded { "true" } else { "false" })
            .text("area", &event.area)
            .text("message", &event.message)
            .opt_text(
                "device",
                event.device.as_ref().map(|device| device.as_str()),
            );
        if event.metadata.is_empty() {
            xml.empty("metadata");
        } else {
            xml.open("metadata");
            for (key, value) in &event.metadata {
                xml.open("parameter")
                    .text("key", key)
                    .text("value", value)
                    .close("parameter");
            }
            xml.close("metadata");
        }
        xml.close("record");
    }
    xml.close("audit");
    xml.finish()
}

/// `PUT /users/{a}/log/filter` with `Accept: text/csv` (K1).
pub(crate) fn skipped_csv(items: &[TruthSkippedItem]) -> String {
    let mut out = String::from("time,account,device,job,message\n");
    for item in items {
        out.push_str(&timestamp(item.time));
        out.push(',');
        out.push_str(item.account.as_str());
        out.push(',');
        out.push_str(item.device.as_str());
        out.push(',');
        out.push_str(item.job.as_str());
        out.push(',');
        out.push_str(&csv_field(&item.message));
        out.push('\n');
    }
    out
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}
