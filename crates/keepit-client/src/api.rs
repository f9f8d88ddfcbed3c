//! One method per Keepit endpoint, plus the recursive account walk and the paging streams.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use keepit_domain::{AccountId, ConnectorId, JobId};

use crate::client::{CSV, Call, KeepitClient, V1, V3, V4};
use crate::error::{Error, Result};
use crate::model::{
    AccountInfo, AccountNode, AuditPage, AuditRecord, BackupSummaryEntry, ChildAccount,
    ConnectionReport, Connector, ConnectorHealth, DeviceStatus, Job, SkippedItem, Snapshot,
    account_id, decode_audit_records, decode_connectors, decode_jobs, decode_single_job,
    parse_time,
};
use crate::wire::{self, escape};

/// Deepest account tree the walk follows; deeper trees are reported as a configuration problem.
const MAX_TREE_DEPTH: usize = 16;
/// Root elements of a snapshot answer: `<history>` as documented, or a lone `<backup>`
/// (one older tool accepts it; [`wire::History`] reads its fields at the root).
pub(crate) const HISTORY_ROOTS: &[&str] = &["history", "backup"];
/// Keepit refuses snapshot-range pages of 100 or more.
const SNAPSHOT_PAGE: u32 = 99;

/// Which jobs a history query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHistoryFilter {
    /// Start of the window (required by Keepit).
    pub from: DateTime<Utc>,
    /// End of the window; Keepit's default is now.
    pub to: Option<DateTime<Utc>>,
    /// Finished jobs only (`active-only=false`), the usual choice for history.
    pub finished_only: bool,
    /// Only jobs of these wire types (`backup`, `restore`, ...); empty for all.
    pub types: Vec<String>,
    /// Most jobs to return (Keepit accepts 1 to 10,000).
    pub limit: Option<u32>,
}

impl JobHistoryFilter {
    /// Finished jobs of every type between `from` and `to`.
    pub fn finished_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        JobHistoryFilter {
            from,
            to: Some(to),
            finished_only: true,
            types: Vec::new(),
            limit: None,
        }
    }

    fn to_xml(&self) -> String {
        let mut body = format!("<filter><from-time>{}</from-time>", iso(self.from));
        if let Some(to) = self.to {
            body.push_str(&format!("<to-time>{}</to-time>", iso(to)));
        }
        match self.types.as_slice() {
            [] => {}
            [single] => body.push_str(&format!("<type>{}</type>", escape(single))),
            many => {
                body.push_str("<types>");
                for job_type in many {
                    body.push_str(&format!("<type>{}</type>", escape(job_type)));
                }
                body.push_str("</types>");
            }
        }
        if let Some(limit) = self.limit {
            body.push_str(&format!("<limit>{}</limit>", limit.clamp(1, 10_000)));
        }
        if self.finished_only {
            body.push_str("<active-only>false</active-only>");
        }
        body.push_str("</filter>");
        body
    }
}

/// Which audit records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The account whose log is read.
    pub account: AccountId,
    /// Start of the window (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End of the window.
    pub to: Option<DateTime<Utc>>,
    /// Include the records of descendant accounts.
    pub recursive: bool,
    /// Only records of this Keepit area, such as `Backup/Restore`.
    pub area: Option<String>,
}

impl AuditQuery {
    /// Records of one account between `from` and `to`.
    pub fn between(account: AccountId, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        AuditQuery {
            account,
            from: Some(from),
            to: Some(to),
            recursive: false,
            area: None,
        }
    }

    fn to_xml(&self) -> String {
        let mut body = format!(
            "<filter><account>{}</account>",
            escape(self.account.as_str())
        );
        if let Some(from) = self.from {
            body.push_str(&format!("<from>{}</from>", iso(from)));
        }
        if let Some(to) = self.to {
            body.push_str(&format!("<to>{}</to>", iso(to)));
        }
        if let Some(area) = &self.area {
            body.push_str(&format!("<area>{}</area>", escape(area)));
        }
        if self.recursive {
            body.push_str("<recursive>true</recursive>");
        }
        body.push_str("</filter>");
        body
    }
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn device_path(account: &AccountId, connector: &ConnectorId, rest: &str) -> String {
    format!("users/{account}/devices/{connector}{rest}")
}

impl KeepitClient {
    /// The account that owns the credentials (`GET /users/`).
    pub async fn whoami(&self) -> Result<AccountId> {
        const ENDPOINT: &str = "GET /users/";
        let reply: wire::WhoAmI = self
            .fetch_xml(&Call::get(ENDPOINT, "users/".into(), V4), &["user"])
            .await?;
        account_id(ENDPOINT, "id", reply.id.as_deref())
    }

    /// One account's settings (`GET /users/{a}`).
    pub async fn account(&self, account: &AccountId) -> Result<AccountInfo> {
        const ENDPOINT: &str = "GET /users/{a}";
        // Without a version Keepit answers with its v0 shape, which is the documented one.
        let call = Call::get(ENDPOINT, format!("users/{account}"), "application/xml");
        let reply: wire::AccountSettings = self.fetch_xml(&call, &["user"]).await?;
        AccountInfo::from_wire(ENDPOINT, account.clone(), reply)
    }

    /// The direct child accounts of `parent` (`GET /users/{a}/users`).
    /// Keepit answers 404 for an account without children; that is an empty list here.
    pub async fn child_accounts(&self, parent: &AccountId) -> Result<Vec<ChildAccount>> {
        const ENDPOINT: &str = "GET /users/{a}/users";
        let call = Call::get(ENDPOINT, format!("users/{parent}/users"), V3)
            .query("all", "1")
            .query("include_contact_details", "1");
        let Some(reply) = self
            .fetch_xml_or_none::<wire::Users>(&call, &["users"])
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut children = reply
            .user
            .into_iter()
            .map(|user| ChildAccount::from_wire(ENDPOINT, user))
            .collect::<Result<Vec<_>>>()?;
        for id in reply.id {
            children.push(ChildAccount::from_bare_id(ENDPOINT, parent, id)?);
        }
        Ok(children)
    }

    /// Every account below `root`, breadth first, each with its depth.
    ///
    /// The walk is cycle-safe (an account is visited once, and `root` never reappears)
    /// and asks for the children of one level's accounts concurrently, within the
    /// client's concurrency limit.
    pub async fn account_tree(&self, root: &AccountId) -> Result<Vec<AccountNode>> {
        let mut seen: HashSet<AccountId> = HashSet::from([root.clone()]);
        let mut nodes = Vec::new();
        let mut level: VecDeque<AccountId> = VecDeque::from([root.clone()]);
        let mut depth = 0;
        while !level.is_empty() {
            depth += 1;
            if depth > MAX_TREE_DEPTH {
                return Err(Error::Config(format!(
                    "the account tree is deeper than {MAX_TREE_DEPTH} levels"
                )));
            }
            let parents: Vec<AccountId> = level.drain(..).collect();
            let listings: Vec<Vec<ChildAccount>> = stream::iter(parents)
                .map(|parent| async move { self.child_accounts(&parent).await })
                .buffered(crate::client::DEFAULT_MAX_CONCURRENCY)
                .try_collect()
                .await?;
            for child in listings.into_iter().flatten() {
                if seen.insert(child.id.clone()) {
                    level.push_back(child.id.clone());
                    nodes.push(AccountNode {
                        account: child,
                        depth,
                    });
                }
            }
        }
        Ok(nodes)
    }

    /// Checks the credentials and reports the parent account and how many customer
    /// accounts are visible below it.
    ///
    /// The parent is the account given to the builder, else the one owning the credentials.
    pub async fn test_connection(&self) -> Result<ConnectionReport> {
        let owner = self.whoami().await?;
        let account = match &self.inner.account {
            Some(configured) => {
                // Fails with NotFound or Forbidden when the credentials cannot reach it.
                self.account(configured).await?;
                configured.clone()
            }
            None => owner,
        };
        let customer_accounts = self.account_tree(&account).await?.len();
        Ok(ConnectionReport {
            account,
            customer_accounts,
        })
    }

    /// An account's connectors (`GET /users/{a}/devices`, v4). With `include_deleted`,
    /// connectors scheduled for deletion are listed too (`?all=1`).
    pub async fn connectors(
        &self,
        account: &AccountId,
        include_deleted: bool,
    ) -> Result<Vec<Connector>> {
        const ENDPOINT: &str = "GET /users/{a}/devices";
        let mut call = Call::get(ENDPOINT, format!("users/{account}/devices"), V4);
        if include_deleted {
            call = call.query("all", "1");
        }
        let reply = self.send(&call).await?;
        decode_connectors(ENDPOINT, &reply.body)
    }

    /// A connector's health with its reason (`GET .../health?reason=true`).
    pub async fn connector_health(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
    ) -> Result<ConnectorHealth> {
        const ENDPOINT: &str = "GET /users/{a}/devices/{d}/health";
        let call = Call::get(ENDPOINT, device_path(account, connector, "/health"), V4)
            .query("reason", "true");
        let reply: wire::DevHealth = self.fetch_xml(&call, &["devhealth"]).await?;
        Ok(ConnectorHealth::from_wire(reply))
    }

    /// A connector's status entries and error code (`GET .../status`); `None` when
    /// Keepit answers 404 (the connector no longer exists).
    pub async fn connector_status(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
    ) -> Result<Option<DeviceStatus>> {
        const ENDPOINT: &str = "GET /users/{a}/devices/{d}/status";
        let call = Call::get(ENDPOINT, device_path(account, connector, "/status"), V4);
        match self
            .fetch_xml_or_none::<wire::DevStatus>(&call, &["devstatus"])
            .await?
        {
            Some(reply) => DeviceStatus::from_wire(ENDPOINT, reply).map(Some),
            None => Ok(None),
        }
    }

    /// The latest snapshot (`GET .../history/latest`, v4); `None` when there is none yet.
    pub async fn latest_snapshot(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
    ) -> Result<Option<Snapshot>> {
        self.latest(
            account,
            connector,
            "GET /users/{a}/devices/{d}/history/latest",
            "/history/latest",
            V4,
        )
        .await
    }

    /// The latest indexed snapshot (`GET .../history/latest_imported`, v1); `None` while onboarding.
    pub async fn latest_imported_snapshot(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
    ) -> Result<Option<Snapshot>> {
        self.latest(
            account,
            connector,
            "GET /users/{a}/devices/{d}/history/latest_imported",
            "/history/latest_imported",
            V1,
        )
        .await
    }

    async fn latest(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
        endpoint: &'static str,
        suffix: &str,
        accept: &'static str,
    ) -> Result<Option<Snapshot>> {
        let call = Call::get(endpoint, device_path(account, connector, suffix), accept);
        let Some(history) = self
            .fetch_xml_or_none::<wire::History>(&call, HISTORY_ROOTS)
            .await?
        else {
            return Ok(None);
        };
        Ok(Snapshot::list_from_history(endpoint, history)?
            .into_iter()
            .max_by_key(|snapshot| snapshot.taken_at))
    }

    /// One page of snapshots from `start` within `span` (`PUT .../history/range`).
    /// `count` is capped at 99, Keepit's limit.
    pub async fn snapshot_page(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
        start: DateTime<Utc>,
        span: Duration,
        count: u32,
    ) -> Result<Vec<Snapshot>> {
        const ENDPOINT: &str = "PUT /users/{a}/devices/{d}/history/range";
        let body = format!(
            "<range><start>{}</start><span>PT{}S</span><count>{}</count></range>",
            iso(start),
            span.as_secs().max(1),
            count.clamp(1, SNAPSHOT_PAGE)
        );
        let call = Call::put_filter(
            ENDPOINT,
            device_path(account, connector, "/history/range"),
            V4,
            body,
        );
        let history: wire::History = self.fetch_xml(&call, HISTORY_ROOTS).await?;
        let mut snapshots = Snapshot::list_from_history(ENDPOINT, history)?;
        snapshots.sort_by_key(|snapshot| snapshot.taken_at);
        Ok(snapshots)
    }

    /// Every snapshot taken in `[from, to)`, oldest first, fetched page by page.
    ///
    /// Keepit has no cursor for this endpoint: the next page starts one second after
    /// the last snapshot seen, until a page comes back short.
    pub fn snapshots(
        &self,
        account: AccountId,
        connector: ConnectorId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Stream<Item = Result<Snapshot>> + '_ {
        stream::try_unfold(Some(from), move |cursor| {
            let account = account.clone();
            let connector = connector.clone();
            async move {
                let Some(start) = cursor.filter(|start| *start < to) else {
                    return Ok(None);
                };
                let span = (to - start).to_std().unwrap_or(Duration::from_secs(1));
                let page = self
                    .snapshot_page(&account, &connector, start, span, SNAPSHOT_PAGE)
                    .await?;
                let page: Vec<Snapshot> = page
                    .into_iter()
                    .filter(|snapshot| snapshot.taken_at >= start && snapshot.taken_at < to)
                    .collect();
                let next = match page.last() {
                    Some(last) if page.len() as u32 >= SNAPSHOT_PAGE => {
                        Some(last.taken_at + chrono::Duration::seconds(1))
                    }
                    _ => None,
                };
                Ok(Some((stream::iter(page.into_iter().map(Ok)), next)))
            }
        })
        .try_flatten()
    }

    /// The last backup of every connector of an account in one call
    /// (`GET /users/{a}/monitoring/backup/summary`).
    ///
    /// This endpoint is only known from an older revision of Keepit's own tooling, so
    /// callers should be ready for it to be missing: a 404 gives an empty list, and
    /// connectors without indexed snapshots are absent from the answer.
    pub async fn backup_summary(&self, account: &AccountId) -> Result<Vec<BackupSummaryEntry>> {
        const ENDPOINT: &str = "GET /users/{a}/monitoring/backup/summary";
        let call = Call::get(
            ENDPOINT,
            format!("users/{account}/monitoring/backup/summary"),
            V4,
        );
        let Some(reply) = self
            .fetch_xml_or_none::<wire::BackupSummary>(&call, &["backup-summary"])
            .await?
        else {
            return Ok(Vec::new());
        };
        reply
            .device
            .into_iter()
            .map(|device| BackupSummaryEntry::from_wire(ENDPOINT, device))
            .collect()
    }

    /// Running and queued jobs of a connector (`GET .../jobs` with `active-jobs-only: true`).
    pub async fn active_jobs(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
    ) -> Result<Vec<Job>> {
        const ENDPOINT: &str = "GET /users/{a}/devices/{d}/jobs";
        let call = Call::get(ENDPOINT, device_path(account, connector, "/jobs"), V4)
            .header("active-jobs-only", "true");
        let reply = self.send(&call).await?;
        decode_jobs(ENDPOINT, &reply.body)
    }

    /// Job history of a connector (`PUT .../jobs` with a filter).
    pub async fn job_history(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
        filter: &JobHistoryFilter,
    ) -> Result<Vec<Job>> {
        const ENDPOINT: &str = "PUT /users/{a}/devices/{d}/jobs";
        let call = Call::put_filter(
            ENDPOINT,
            device_path(account, connector, "/jobs"),
            V4,
            filter.to_xml(),
        );
        let reply = self.send(&call).await?;
        decode_jobs(ENDPOINT, &reply.body)
    }

    /// Finished jobs of a connector in `[from, to)`, asked for in windows of at most
    /// `window` (Keepit's own tooling uses one day), oldest window first. A job that
    /// two windows both return is yielded once.
    pub fn job_history_windows(
        &self,
        account: AccountId,
        connector: ConnectorId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        window: Duration,
    ) -> impl Stream<Item = Result<Job>> + '_ {
        let window = chrono::Duration::from_std(window.max(Duration::from_secs(60)))
            .unwrap_or(chrono::Duration::days(1));
        stream::try_unfold((from, HashSet::<JobId>::new()), move |(start, mut seen)| {
            let account = account.clone();
            let connector = connector.clone();
            async move {
                if start >= to {
                    return Ok(None);
                }
                let end = (start + window).min(to);
                let jobs = self
                    .job_history(
                        &account,
                        &connector,
                        &JobHistoryFilter::finished_between(start, end),
                    )
                    .await?;
                let fresh: Vec<Job> = jobs
                    .into_iter()
                    .filter(|job| seen.insert(job.id.clone()))
                    .collect();
                Ok(Some((stream::iter(fresh.into_iter().map(Ok)), (end, seen))))
            }
        })
        .try_flatten()
    }

    /// One job with its execution summary (`GET .../jobs/{j}`).
    pub async fn job(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
        job: &JobId,
    ) -> Result<Job> {
        const ENDPOINT: &str = "GET /users/{a}/devices/{d}/jobs/{j}";
        let call = Call::get(
            ENDPOINT,
            device_path(account, connector, &format!("/jobs/{job}")),
            V4,
        );
        let body = self.send(&call).await?.body;
        decode_single_job(ENDPOINT, &body)
    }

    /// Cancels a running job (`PUT .../jobs/{j}`). Never retried.
    ///
    /// keepit-watch itself never calls this: it is here for services that embed the client.
    pub async fn cancel_job(
        &self,
        account: &AccountId,
        connector: &ConnectorId,
        job: &JobId,
    ) -> Result<()> {
        const ENDPOINT: &str = "PUT /users/{a}/devices/{d}/jobs/{j}";
        let body = format!("<job><cancelled>{}</cancelled></job>", iso(Utc::now()));
        let mut call = Call::put_filter(
            ENDPOINT,
            device_path(account, connector, &format!("/jobs/{job}")),
            V4,
            body,
        );
        call.retry_safe = false;
        self.send(&call).await.map(|_| ())
    }

    /// A job's skipped items, read from the account log as CSV (`PUT /users/{a}/log/filter`).
    ///
    /// Keepit keeps this log for about one month after the job.
    pub async fn skipped_items(
        &self,
        account: &AccountId,
        job: &JobId,
        started: DateTime<Utc>,
        ended: DateTime<Utc>,
    ) -> Result<Vec<SkippedItem>> {
        const ENDPOINT: &str = "PUT /users/{a}/log/filter";
        let body = format!(
            "<and><contains><arg>job</arg><arg>{job}</arg></contains>\
             <equal><arg>path</arg><arg>/uservisiblemsg</arg></equal>\
             <submatch><arg>text</arg><arg>\"Failed to\"</arg></submatch>\
             <greater><arg>{}</arg><arg>time</arg><arg>{}</arg></greater></and>",
            iso(ended),
            iso(started)
        );
        let call = Call::put_filter(ENDPOINT, format!("users/{account}/log/filter"), CSV, body);
        let reply = self.send(&call).await?;
        parse_skipped_items(ENDPOINT, &reply.body)
    }

    /// One page of the audit log (`PUT /audit/filter/pretty`).
    pub async fn audit_page(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u32,
    ) -> Result<AuditPage> {
        const ENDPOINT: &str = "PUT /audit/filter/pretty";
        let call = Call::put_filter(ENDPOINT, "audit/filter/pretty".into(), V4, query.to_xml())
            .query("limit", limit.clamp(1, 10_000).to_string())
            .query("offset", offset.to_string());
        let reply = self.send(&call).await?;
        let next_offset = match reply.headers.get("next-offset") {
            None => None,
            Some(value) => {
                let raw = value.to_str().unwrap_or_default().trim();
                let next: u64 = raw.parse().map_err(|_| Error::Decode {
                    endpoint: ENDPOINT,
                    reason: format!(
                        "header next-offset holds {raw:?}, which is not a whole number"
                    ),
                    snippet: String::new(),
                })?;
                // A next offset that does not move forward would page forever.
                (next > offset).then_some(next)
            }
        };
        // Keepit's own tooling drops records without an account; so do we, visibly.
        let records = decode_audit_records(ENDPOINT, &reply.body, true)?;
        Ok(AuditPage {
            records,
            next_offset,
        })
    }

    /// Every record matching `query`, following `next-offset` from page to page.
    pub fn audit_log(
        &self,
        query: AuditQuery,
        page_size: u32,
    ) -> impl Stream<Item = Result<AuditRecord>> + '_ {
        stream::try_unfold(Some(0u64), move |offset| {
            let query = query.clone();
            async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let page = self.audit_page(&query, offset, page_size).await?;
                Ok(Some((
                    stream::iter(page.records.into_iter().map(Ok)),
                    page.next_offset,
                )))
            }
        })
        .try_flatten()
    }
}

pub(crate) fn parse_skipped_items(endpoint: &'static str, body: &str) -> Result<Vec<SkippedItem>> {
    let decode = |reason: String| Error::Decode {
        endpoint,
        reason,
        snippet: crate::redact::redact_snippet(body),
    };
    let trimmed = body.trim_start_matches('\u{feff}');
    // Even an empty log starts with its header line; an empty body is no answer.
    if trimmed.trim().is_empty() {
        return Err(decode(
            "the body is empty where a CSV log was expected".into(),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(trimmed.as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| decode(format!("bad CSV header: {err}")))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|header| header.eq_ignore_ascii_case(name))
    };
    let message =
        column("message").ok_or_else(|| decode("the CSV has no message column".into()))?;
    let (time, account, device, job) = (
        column("time"),
        column("account"),
        column("device"),
        column("job"),
    );
    let mut items = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| decode(format!("bad CSV row: {err}")))?;
        let get = |index: Option<usize>| {
            index
                .and_then(|index| record.get(index))
                .map(str::to_owned)
                .filter(|value| !value.is_empty())
        };
        items.push(SkippedItem {
            time: get(time).and_then(|value| parse_time(&value)),
            account: get(account),
            connector: get(device),
            job: get(job),
            message: get(Some(message)).unwrap_or_default(),
        });
    }
    Ok(items)
}
