//! Serving a fleet: one wiremock mock whose responder routes by path and looks every
//! answer up by GUID, and [`FleetServer`], the handle to the served fleet.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{
    AccountId, ConnectorId, ConnectorKind, Health, HealthReason, JobId, JobType, SnapshotKind,
};
use wiremock::{Match, Request, Respond, ResponseTemplate};

use crate::error::Result;
use crate::fleet::truth::{Cancellation, TruthAuditEvent, TruthConnector, TruthJob};
use crate::fleet::{Fleet, GroundTruth, JobOutcome, render};
use crate::gate::{Reply, Shared};
use crate::xml::{self, Element};

/// A handle to a served fleet: read its ground truth and change it while a test runs.
///
/// Cheap to clone; every clone sees the same fleet. Changes are visible to the next
/// request.
#[derive(Debug, Clone)]
pub struct FleetServer {
    fleet: Arc<RwLock<Fleet>>,
}

impl FleetServer {
    pub(crate) fn new(fleet: Fleet) -> Self {
        FleetServer {
            fleet: Arc::new(RwLock::new(fleet)),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Fleet> {
        self.fleet.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Fleet> {
        self.fleet.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` with the fleet (for any of [`Fleet`]'s accessors).
    pub fn with_fleet<R>(&self, read: impl FnOnce(&Fleet) -> R) -> R {
        read(&self.read())
    }

    /// A full copy of the ground truth, statuses decided at the fleet's clock.
    pub fn ground_truth(&self) -> GroundTruth {
        self.read().ground_truth()
    }

    /// The MSP's top account.
    pub fn parent(&self) -> AccountId {
        self.read().parent().clone()
    }

    /// The fleet's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.read().now()
    }

    /// The cancellations received so far.
    pub fn cancellations(&self) -> Vec<Cancellation> {
        self.read().cancellations().to_vec()
    }

    /// See [`Fleet::advance_clock`].
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.write().advance_clock(by);
    }

    /// See [`Fleet::add_connector`].
    pub fn add_connector(&self, account: &AccountId, kind: ConnectorKind) -> Result<ConnectorId> {
        self.write().add_connector(account, kind)
    }

    /// See [`Fleet::move_account_out`].
    pub fn move_account_out(&self, account: &AccountId) -> Result<()> {
        self.write().move_account_out(account)
    }

    /// See [`Fleet::move_account_back`].
    pub fn move_account_back(&self, account: &AccountId) -> Result<()> {
        self.write().move_account_back(account)
    }

    /// See [`Fleet::remove_connector`].
    pub fn remove_connector(&self, connector: &ConnectorId) -> Result<TruthConnector> {
        self.write().remove_connector(connector)
    }

    /// See [`Fleet::schedule_connector_deletion`].
    pub fn schedule_connector_deletion(
        &self,
        connector: &ConnectorId,
        deadline: DateTime<Utc>,
    ) -> Result<()> {
        self.write()
            .schedule_connector_deletion(connector, deadline)
    }

    /// See [`Fleet::set_connector_health`].
    pub fn set_connector_health(
        &self,
        connector: &ConnectorId,
        health: Health,
        reason: HealthReason,
    ) -> Result<()> {
        self.write().set_connector_health(connector, health, reason)
    }

    /// See [`Fleet::set_connector_error_code`].
    pub fn set_connector_error_code(
        &self,
        connector: &ConnectorId,
        ecode: Option<&str>,
    ) -> Result<()> {
        self.write().set_connector_error_code(connector, ecode)
    }

    /// See [`Fleet::push_job`].
    pub fn push_job(&self, connector: &ConnectorId, outcome: JobOutcome) -> Result<TruthJob> {
        self.write().push_job(connector, outcome)
    }

    /// See [`Fleet::push_audit_events`].
    pub fn push_audit_events(&self, account: &AccountId, n: usize) -> Result<Vec<TruthAuditEvent>> {
        self.write().push_audit_events(account, n)
    }

    /// Answers one request from the fleet.
    fn answer(&self, request: &Request) -> Reply {
        let path = request.url.path().to_owned();
        let segments: Vec<&str> = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        let method = request.method.as_str();
        // The only request that changes the fleet: cancelling a job.
        if method == "PUT"
            && let ["users", account, "devices", connector, "jobs", job] = segments.as_slice()
        {
            return self.cancel(request, account, connector, job);
        }
        let fleet = self.read();
        route(&fleet, request, method, &segments)
    }

    fn cancel(&self, request: &Request, account: &str, connector: &str, job: &str) -> Reply {
        let mut fleet = self.write();
        let Some(found) = find_job(&fleet, account, connector, job) else {
            return Reply::not_found();
        };
        let id = found.id.clone();
        let at = if request.body.iter().all(u8::is_ascii_whitespace) {
            fleet.now()
        } else {
            match xml::parse(&request.body) {
                Ok(body) => body
                    .child_text("cancelled")
                    .and_then(xml::parse_time)
                    .unwrap_or_else(|| fleet.now()),
                Err(message) => return Reply::bad_request(&message),
            }
        };
        match fleet.cancel_job(&id, at) {
            Ok(_) => Reply::with(200, String::new(), "application/xml"),
            Err(_) => Reply::not_found(),
        }
    }
}

/// Matches the paths a fleet answers: everything under `/users` and `/audit`.
pub(crate) struct FleetPaths;

impl Match for FleetPaths {
    fn matches(&self, request: &Request) -> bool {
        let path = request.url.path();
        path == "/users" || path.starts_with("/users/") || path.starts_with("/audit/")
    }
}

/// The fleet's one responder.
pub(crate) struct FleetResponder {
    pub(crate) shared: Arc<Shared>,
    pub(crate) fleet: FleetServer,
}

impl Respond for FleetResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.shared
            .finish(request, |request| self.fleet.answer(request))
    }
}

/// The response schema version asked for: `application/vnd.keepit.v{N}…`, 0 without one.
fn accept_version(request: &Request) -> u32 {
    let Some(accept) = request
        .headers
        .get("accept")
        .and_then(|value| value.to_str().ok())
    else {
        return 0;
    };
    let Some(start) = accept.find("vnd.keepit.v") else {
        return 0;
    };
    accept[start + "vnd.keepit.v".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

fn query<'r>(request: &'r Request, key: &str) -> Option<std::borrow::Cow<'r, str>> {
    request
        .url
        .query_pairs()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value)
}

fn query_flag(request: &Request, key: &str) -> bool {
    query(request, key).is_some_and(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes"
        )
    })
}

fn find_connector<'f>(
    fleet: &'f Fleet,
    account: &str,
    connector: &str,
) -> Option<&'f TruthConnector> {
    let account = AccountId::new(account).ok()?;
    let connector = ConnectorId::new(connector).ok()?;
    fleet
        .connector(&connector)
        .filter(|found| found.account == account)
}

fn find_job<'f>(
    fleet: &'f Fleet,
    account: &str,
    connector: &str,
    job: &str,
) -> Option<&'f TruthJob> {
    let connector = find_connector(fleet, account, connector)?;
    let job = JobId::new(job).ok()?;
    fleet
        .job(&job)
        .filter(|found| found.connector == connector.id)
}

fn route(fleet: &Fleet, request: &Request, method: &str, segments: &[&str]) -> Reply {
    match (method, segments) {
        ("GET", ["users"]) => Reply::xml(render::whoami(fleet.parent())),
        ("GET", ["users", account]) => match AccountId::new(account)
            .ok()
            .and_then(|id| fleet.account(&id).cloned())
        {
            Some(found) => Reply::xml(render::account(&found)),
            None => Reply::account_not_found(),
        },
        ("GET", ["users", account, "users"]) => children(fleet, request, account),
        ("GET", ["users", account, "devices"]) => devices(fleet, request, account),
        ("GET", ["users", account, "monitoring", "backup", "summary"]) => {
            backup_summary(fleet, request, account)
        }
        ("PUT", ["users", account, "log", "filter"]) => skipped_items(fleet, request, account),
        ("PUT", ["audit", "filter", "pretty"]) => audit(fleet, request),
        ("GET", ["users", account, "devices", connector, rest @ ..]) => {
            if AccountId::new(account)
                .ok()
                .and_then(|id| fleet.account(&id))
                .is_none()
            {
                return Reply::account_not_found();
            }
            let Some(found) = find_connector(fleet, account, connector) else {
                return Reply::not_found();
            };
            match rest {
                [] => Reply::xml(render::device(found, accept_version(request) >= 4)),
                ["health"] => Reply::xml(render::health(found, query_flag(request, "reason"))),
                ["status"] => Reply::xml(render::status(found)),
                ["history", "latest" | "latest_imported"] => match found.latest_snapshot() {
                    Some(snapshot) => Reply::xml(render::history(&[snapshot], &found.account)),
                    None => Reply::not_found(),
                },
                ["jobs"] => active_jobs(fleet, request, found),
                ["monitoring", "backup", "summary"] => match found.latest_snapshot() {
                    Some(_) => Reply::xml(render::device_backup_summary(found)),
                    // Keepit answers 404 while a connector is onboarding.
                    None => Reply::not_found(),
                },
                ["monitoring", "summary"] => monitoring_summary(fleet, request, found),
                ["jobs", job] => match find_job(fleet, account, connector, job) {
                    Some(job) => Reply::xml(render::job(job)),
                    None => Reply::not_found(),
                },
                _ => Reply::not_found(),
            }
        }
        ("PUT", ["users", account, "devices", connector, rest @ ..]) => {
            if AccountId::new(account)
                .ok()
                .and_then(|id| fleet.account(&id))
                .is_none()
            {
                return Reply::account_not_found();
            }
            let Some(found) = find_connector(fleet, account, connector) else {
                return Reply::not_found();
            };
            match rest {
                ["history", "range"] => snapshot_range(request, found, false),
                ["history", "count"] => snapshot_range(request, found, true),
                ["jobs"] => job_history(fleet, request, found),
                _ => Reply::not_found(),
            }
        }
        _ => Reply::not_found(),
    }
}

fn children(fleet: &Fleet, request: &Request, account: &str) -> Reply {
    let Some(found) = AccountId::new(account)
        .ok()
        .and_then(|id| fleet.account(&id))
    else {
        return Reply::account_not_found();
    };
    if found.children.is_empty() {
        // Keepit answers 404 for an account without sub-accounts.
        return Reply::not_found();
    }
    let children: Vec<_> = found
        .children
        .iter()
        .filter_map(|id| fleet.account(id))
        .collect();
    let version = accept_version(request);
    let mut reply = Reply::xml(render::children(&children, version));
    if version >= 3 {
        reply = reply.header("x-total-count", children.len().to_string());
    }
    reply
}

fn devices(fleet: &Fleet, request: &Request, account: &str) -> Reply {
    let Some(found) = AccountId::new(account)
        .ok()
        .and_then(|id| fleet.account(&id))
    else {
        return Reply::account_not_found();
    };
    let all = query_flag(request, "all");
    let connectors: Vec<&TruthConnector> = found
        .connectors
        .iter()
        .filter_map(|id| fleet.connector(id))
        .filter(|connector| all || connector.deletion_deadline.is_none())
        .collect();
    Reply::xml(render::devices(&connectors, accept_version(request) >= 4))
}

fn backup_summary(fleet: &Fleet, request: &Request, account: &str) -> Reply {
    let Some(found) = AccountId::new(account)
        .ok()
        .and_then(|id| fleet.account(&id))
    else {
        return Reply::account_not_found();
    };
    let wanted_type = query(request, "type").map(|value| value.trim().to_ascii_lowercase());
    let connectors: Vec<&TruthConnector> = found
        .connectors
        .iter()
        .filter_map(|id| fleet.connector(id))
        .filter(|connector| connector.accessible && connector.deletion_deadline.is_none())
        .filter(|connector| !connector.snapshots.is_empty())
        .filter(|connector| {
            wanted_type.as_deref().is_none_or(|wanted| {
                connector.kind.wire_type() == wanted || connector.kind.agent_type() == Some(wanted)
            })
        })
        .collect();
    Reply::xml(render::backup_summary(&connectors))
}

fn parse_body(request: &Request, root: &str) -> std::result::Result<Element, Reply> {
    let body = xml::parse(&request.body).map_err(|message| Reply::bad_request(&message))?;
    if body.name != root {
        return Err(Reply::bad_request(&format!(
            "expected a <{root}> body, got <{}>",
            body.name
        )));
    }
    Ok(body)
}

fn snapshot_range(request: &Request, connector: &TruthConnector, count_only: bool) -> Reply {
    let body = match parse_body(request, "range") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(start) = body.child_text("start").and_then(xml::parse_time) else {
        return Reply::bad_request("<start> is missing or not an ISO 8601 timestamp");
    };
    let Some(span) = body.child_text("span").and_then(xml::parse_duration) else {
        return Reply::bad_request("<span> is missing or not an ISO 8601 duration");
    };
    let limit = if count_only {
        usize::MAX
    } else {
        match body.child_text("count").map(str::parse::<usize>) {
            Some(Ok(count)) if (1..100).contains(&count) => count,
            _ => return Reply::bad_request("<count> must be a number from 1 to 99"),
        }
    };
    let kind = body.child_text("type").map(SnapshotKind::from_wire);
    let reverse = xml::parse_flag(body.child("reverse")).unwrap_or(false);
    let window = if reverse {
        start.checked_sub_signed(span).map(|from| (from, start))
    } else {
        start.checked_add_signed(span).map(|to| (start, to))
    };
    let Some((from, to)) = window else {
        return Reply::bad_request("<start> and <span> reach beyond the representable time range");
    };
    let snapshots = &connector.snapshots;
    let first = snapshots.partition_point(|snapshot| snapshot.tstamp < from);
    let last = snapshots
        .partition_point(|snapshot| snapshot.tstamp < to)
        .max(first);
    let in_window = snapshots[first..last]
        .iter()
        .filter(|snapshot| kind.as_ref().is_none_or(|kind| &snapshot.kind == kind));
    if count_only {
        return Reply::xml(render::count(in_window.count()));
    }
    let selected: Vec<_> = if reverse {
        in_window.rev().take(limit).collect()
    } else {
        in_window.take(limit).collect()
    };
    Reply::xml(render::history(&selected, &connector.account))
}

fn monitoring_summary(fleet: &Fleet, request: &Request, connector: &TruthConnector) -> Reply {
    let bound = |key: &str| match query(request, key) {
        None => Ok(None),
        Some(raw) => xml::parse_time(&raw)
            .map(Some)
            .ok_or_else(|| Reply::bad_request(&format!("{key} is not an ISO 8601 timestamp"))),
    };
    let (from, to) = match (bound("from"), bound("to")) {
        (Ok(from), Ok(to)) => (
            from.unwrap_or(fleet.now() - TimeDelta::days(1)),
            to.unwrap_or(fleet.now()),
        ),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let backups: Vec<&TruthJob> = fleet
        .jobs_of(&connector.id)
        .iter()
        .filter(|job| *job.job_type() == JobType::Backup)
        .filter(|job| job.ended_at().is_some_and(|end| end >= from && end < to))
        .collect();
    Reply::xml(render::monitoring_summary(&backups))
}

fn active_jobs(fleet: &Fleet, request: &Request, connector: &TruthConnector) -> Reply {
    let only_active = request
        .headers
        .get("active-jobs-only")
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| !value.trim().eq_ignore_ascii_case("false"));
    let jobs: Vec<&TruthJob> = fleet
        .jobs_of(&connector.id)
        .iter()
        .filter(|job| !only_active || !job.is_finished())
        .collect();
    Reply::xml(render::jobs(&jobs))
}

fn job_history(fleet: &Fleet, request: &Request, connector: &TruthConnector) -> Reply {
    let body = match parse_body(request, "filter") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(from) = body.child_text("from-time").and_then(xml::parse_time) else {
        return Reply::bad_request("<from-time> is missing or not an ISO 8601 timestamp");
    };
    let to = match body.child_text("to-time") {
        Some(raw) => match xml::parse_time(raw) {
            Some(to) => to,
            None => return Reply::bad_request("<to-time> is not an ISO 8601 timestamp"),
        },
        None => fleet.now(),
    };
    let limit = match body.child_text("limit").map(str::parse::<usize>) {
        None => usize::MAX,
        Some(Ok(limit)) if limit > 0 => limit,
        Some(_) => return Reply::bad_request("<limit> must be a positive number"),
    };
    let active_only = xml::parse_flag(body.child("active-only"));
    let failed_only = xml::parse_flag(body.child("failed-only")).unwrap_or(false);
    let reverse = xml::parse_flag(body.child("reverse")).unwrap_or(false);
    let mut types: Vec<JobType> = Vec::new();
    if let Some(single) = body.child_text("type") {
        types.push(JobType::from_wire(single));
    }
    if let Some(many) = body.child("types") {
        types.extend(
            many.children
                .iter()
                .filter(|child| child.name == "type")
                .map(|child| JobType::from_wire(&child.text)),
        );
    }
    let all = fleet.jobs_of(&connector.id);
    // Finished jobs are sorted by end time: the window is a slice.
    let first = all.partition_point(|job| job.ended_at().is_some_and(|end| end < from));
    // A window that ends before it starts is empty.
    let last = all
        .partition_point(|job| job.ended_at().is_some_and(|end| end < to))
        .max(first);
    let finished = all[first..last].iter();
    let unfinished = all.iter().filter(|job| !job.is_finished());
    let candidates: Vec<&TruthJob> = match active_only {
        Some(true) => unfinished.collect(),
        Some(false) => finished.collect(),
        None => finished.chain(unfinished).collect(),
    };
    let mut selected: Vec<&TruthJob> = candidates
        .into_iter()
        .filter(|job| types.is_empty() || types.contains(job.job_type()))
        .filter(|job| !failed_only || job.observation.failed.is_some())
        .collect();
    if reverse {
        selected.reverse();
    }
    selected.truncate(limit);
    Reply::xml(render::jobs(&selected))
}

fn skipped_items(fleet: &Fleet, request: &Request, account: &str) -> Reply {
    let Some(account) = AccountId::new(account)
        .ok()
        .filter(|id| fleet.account(id).is_some())
    else {
        return Reply::account_not_found();
    };
    let body = match xml::parse(&request.body) {
        Ok(body) => body,
        Err(message) => return Reply::bad_request(&message),
    };
    let job = body
        .walk()
        .into_iter()
        .filter(|element| element.name == "arg")
        .filter_map(|element| JobId::new(&element.text).ok())
        .find_map(|id| fleet.job(&id).filter(|job| job.account == account));
    let items = job
        .map(|job| fleet.skipped_items(&job.id))
        .unwrap_or_default();
    Reply::with(200, render::skipped_csv(&items), "text/csv")
}

/// Default page size of the audit log, as Keepit's own tools use it.
const AUDIT_DEFAULT_LIMIT: usize = 500;
/// Largest page Keepit's tools document.
const AUDIT_MAX_LIMIT: usize = 10_000;

fn audit(fleet: &Fleet, request: &Request) -> Reply {
    let body = match parse_body(request, "filter") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let account = match body.child_text("account") {
        Some(raw) => match AccountId::new(raw)
            .ok()
            .filter(|id| fleet.account(id).is_some())
        {
            Some(id) => id,
            None => return Reply::account_not_found(),
        },
        None => fleet.parent().clone(),
    };
    let from = match body.child_text("from") {
        Some(raw) => match xml::parse_time(raw) {
            Some(from) => from,
            None => return Reply::bad_request("<from> is not an ISO 8601 timestamp"),
        },
        None => fleet.now() - TimeDelta::days(14),
    };
    let to = match body.child_text("to") {
        Some(raw) => match xml::parse_time(raw) {
            Some(to) => to,
            None => return Reply::bad_request("<to> is not an ISO 8601 timestamp"),
        },
        // Inclusive of events stamped exactly at the clock.
        None => fleet.now() + TimeDelta::seconds(1),
    };
    let recursive = xml::parse_flag(body.child("recursive")).unwrap_or(false);
    let area = body.child_text("area").map(str::to_ascii_lowercase);
    let limit = match query(request, "limit").map(|raw| raw.trim().parse::<usize>()) {
        None => AUDIT_DEFAULT_LIMIT,
        Some(Ok(limit)) if limit > 0 => limit.min(AUDIT_MAX_LIMIT),
        Some(_) => return Reply::bad_request("limit must be a positive number"),
    };
    let offset = match query(request, "offset").map(|raw| raw.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => return Reply::bad_request("offset must be a number"),
    };
    let scope = if recursive {
        fleet.descendants(&account)
    } else {
        vec![account]
    };
    let mut events: Vec<&TruthAuditEvent> = Vec::new();
    for id in &scope {
        let all = fleet.audit_events_of(id);
        let first = all.partition_point(|event| event.time < from);
        let last = all.partition_point(|event| event.time < to).max(first);
        events.extend(all[first..last].iter().filter(|event| {
            area.as_deref()
                .is_none_or(|area| event.area.to_ascii_lowercase() == area)
        }));
    }
    events.sort_by_key(|event| (event.time, event.seq));
    let total = events.len();
    let page: Vec<&TruthAuditEvent> = events.into_iter().skip(offset).take(limit).collect();
    let mut reply = Reply::xml(render::audit(&page));
    let next = offset.saturating_add(page.len());
    if !page.is_empty() && next < total {
        reply = reply.header("next-offset", next.to_string());
    }
    reply
}

#[cfg(test)]
mod tests;
