//! The Job Monitor: job lists, CSV export, job reports and skipped-items reports.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Months, Utc};
use futures::StreamExt as _;
use keepit_domain::{FailureReason, JobId};
use keepit_store::{JobQuery, StoredJob};

use crate::AppState;
use crate::dto::{
    ErrorEnvelope, JobDto, JobPageDto, JobReportDto, RawStatisticDto, ReasonDto, time,
};
use crate::error::{AppError, ErrorCode};
use crate::query::{job_query, pairs};
use crate::routes::{csv_error, csv_response, csv_writer};

/// `GET /jobs`: jobs matching the filters, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/jobs",
    tag = "jobs",
    params(
        ("customer" = Option<i64>, Query, description = "Only this customer's jobs"),
        ("account" = Option<String>, Query, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Only this Keepit account's jobs (GUID)"),
        ("connector" = Option<String>, Query, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Only this connector's jobs (GUID)"),
        ("status" = Option<Vec<crate::openapi::JobStatusCode>>, Query, description = "scheduled, in_progress, successful, incomplete, unsuccessful, cancelled; repeat or comma-separate"),
        ("type" = Option<Vec<crate::openapi::JobTypeCode>>, Query, description = "backup, restore, srestore, pstrestore, zipdownload; repeat or comma-separate"),
        ("span" = Option<String>, Query, pattern = "^ *[0-9][0-9.]* *[a-zA-Zµ]+( *[0-9][0-9.]* *[a-zA-Zµ]+)* *$", description = "Only the last span, such as 24h, 7d, 30d or 1h30m (not with from)"),
        ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339; jobs at or after"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339; jobs before"),
        ("q" = Option<String>, Query, description = "Free text: connector or customer name, description, failure"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size, 1 to 500 (default 50)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of jobs", body = JobPageDto),
        (status = 400, description = "A parameter is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<JobPageDto>, AppError> {
    let query = job_query(&pairs(raw.as_deref()), state.clock.now())?;
    let page = state.store.jobs(&query).await?;
    Ok(Json(JobPageDto {
        jobs: page.jobs.iter().map(JobDto::from).collect(),
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}

/// The CSV columns of `GET /jobs.csv`.
const CSV_HEADER: &[&str] = &[
    "job_guid",
    "type",
    "status",
    "needs_attention",
    "customer_id",
    "customer_name",
    "account_guid",
    "connector_guid",
    "connector_name",
    "scheduled_at",
    "started_at",
    "ended_at",
    "sort_time",
    "failure_reason",
    "failure_summary",
    "description",
];

fn csv_row(job: &JobDto) -> [String; 16] {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        job.job_guid.clone(),
        job.job_type.clone(),
        job.status.clone(),
        job.needs_attention.to_string(),
        job.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        text(&job.customer_name),
        job.account_guid.clone(),
        job.connector_guid.clone(),
        text(&job.connector_name),
        text(&job.scheduled_at),
        text(&job.started_at),
        text(&job.ended_at),
        job.sort_time.clone(),
        text(&job.failure_reason),
        text(&job.failure_summary),
        text(&job.description),
    ]
}

/// `GET /jobs.csv`: the same query as `GET /jobs`, every page, as CSV with a header row.
#[utoipa::path(
    get,
    path = "/jobs.csv",
    tag = "jobs",
    params(
        ("customer" = Option<i64>, Query, description = "As for /jobs"),
        ("account" = Option<String>, Query, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "As for /jobs"),
        ("connector" = Option<String>, Query, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "As for /jobs"),
        ("status" = Option<Vec<crate::openapi::JobStatusCode>>, Query, description = "As for /jobs"),
        ("type" = Option<Vec<crate::openapi::JobTypeCode>>, Query, description = "As for /jobs"),
        ("span" = Option<String>, Query, pattern = "^ *[0-9][0-9.]* *[a-zA-Zµ]+( *[0-9][0-9.]* *[a-zA-Zµ]+)* *$", description = "As for /jobs"),
        ("from" = Option<String>, Query, format = DateTime, description = "As for /jobs"),
        ("to" = Option<String>, Query, format = DateTime, description = "As for /jobs"),
        ("q" = Option<String>, Query, description = "As for /jobs"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Rows fetched per database page; every page is exported"),
        ("cursor" = Option<String>, Query, description = "Start after this position"),
    ),
    responses(
        (status = 200, description = "Jobs as RFC 4180 CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A parameter is invalid; the message names it", body = ErrorEnvelope),
    )
)]
pub(crate) async fn jobs_csv(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let mut query = job_query(&pairs(raw.as_deref()), state.clock.now())?;
    query.limit = Some(query.limit.unwrap_or(JobQuery::MAX_LIMIT));
    // The first page is read before answering, so that a database failure still gets a
    // proper status. Later pages are streamed one at a time: an export of a whole
    // year's jobs never sits in memory. A failure after the first page can only cut
    // the download short; it is logged.
    let first = state.store.jobs(&query).await?;
    let head = csv_rows(Some(CSV_HEADER), &first.jobs)?;
    let store = state.store.clone();
    let rest = futures::stream::try_unfold(
        (store, query, first.next),
        |(store, mut query, next)| async move {
            let Some(cursor) = next else {
                return Ok(None);
            };
            query.cursor = Some(cursor);
            let page = store.jobs(&query).await.inspect_err(|error| {
                tracing::error!(%error, "a jobs.csv export stopped after a database failure");
            })?;
            let chunk = csv_rows(None, &page.jobs).map_err(|error| {
                tracing::error!(?error, "a jobs.csv export stopped");
                std::io::Error::other("writing CSV failed")
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Some((
                chunk,
                (store, query, page.next),
            )))
        },
    );
    let body = futures::stream::once(std::future::ready(Ok(head))).chain(rest);
    Ok(csv_response(Body::from_stream(body), "jobs.csv"))
}

/// CSV lines for `jobs`, after `header` when one is given.
fn csv_rows(header: Option<&[&str]>, jobs: &[StoredJob]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv_writer();
    if let Some(header) = header {
        writer.write_record(header).map_err(csv_error)?;
    }
    for job in jobs {
        writer
            .write_record(csv_row(&JobDto::from(job)))
            .map_err(csv_error)?;
    }
    writer
        .into_inner()
        .map_err(|error| csv_error(error.into_error()))
}

fn parse_job_id(text: &str) -> Result<JobId, AppError> {
    JobId::new(text).map_err(|error| AppError::invalid("job_guid", error))
}

async fn find_job(state: &AppState, guid: &str) -> Result<StoredJob, AppError> {
    let id = parse_job_id(guid)?;
    state
        .store
        .job(&id)
        .await?
        .ok_or_else(|| AppError::not_found("job", guid))
}

/// Until when Keepit keeps a job's skipped-items log: one month after it ended.
fn skipped_items_deadline(job: &StoredJob) -> Option<DateTime<Utc>> {
    job.record
        .ended_at()
        .and_then(|ended| ended.checked_add_months(Months::new(1)))
}

/// `GET /jobs/{job_guid}`: the job's report.
#[utoipa::path(
    get,
    path = "/jobs/{job_guid}",
    tag = "jobs",
    params(("job_guid" = String, Path, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Keepit's job GUID")),
    responses(
        (status = 200, description = "The job's report", body = JobReportDto),
        (status = 404, description = "No such job", body = ErrorEnvelope),
    )
)]
pub(crate) async fn job_report(
    State(state): State<AppState>,
    Path(job_guid): Path<String>,
) -> Result<Json<JobReportDto>, AppError> {
    let job = find_job(&state, &job_guid).await?;
    let reason = job.record.failure_reason.as_ref().map(|reason| {
        let scope = FailureReason::scope_of(job.record.job_type.family());
        ReasonDto::new(reason, reason.entry(scope))
    });
    let available = skipped_items_deadline(&job).is_some_and(|until| state.clock.now() <= until);
    Ok(Json(JobReportDto {
        job: JobDto::from(&job),
        reason,
        skipped_items_available: available,
        raw_statistics: job
            .record
            .raw_stats
            .iter()
            .map(|(name, value)| RawStatisticDto {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }))
}

/// `GET /jobs/{job_guid}/skipped-items.csv`: the job's skipped items, fetched from Keepit.
#[utoipa::path(
    get,
    path = "/jobs/{job_guid}/skipped-items.csv",
    tag = "jobs",
    params(("job_guid" = String, Path, pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$", description = "Keepit's job GUID")),
    responses(
        (status = 200, description = "Skipped items as CSV: time, account, connector, job, message", content_type = "text/csv", body = String),
        (status = 404, description = "No such job", body = ErrorEnvelope),
        (status = 409, description = "The job has not ended yet, or no integration sees its account any more", body = ErrorEnvelope),
        (status = 410, description = "The job ended more than one month ago; Keepit no longer has the report", body = ErrorEnvelope),
        (status = 502, description = "Keepit failed", body = ErrorEnvelope),
        (status = 503, description = "No master key or no credentials to ask Keepit with", body = ErrorEnvelope),
    )
)]
pub(crate) async fn skipped_items_csv(
    State(state): State<AppState>,
    Path(job_guid): Path<String>,
) -> Result<Response, AppError> {
    let job = find_job(&state, &job_guid).await?;
    let (Some(started), Some(ended), Some(deadline)) = (
        job.record.started.or(job.record.scheduled),
        job.record.ended_at(),
        skipped_items_deadline(&job),
    ) else {
        return Err(AppError::client(
            ErrorCode::Conflict,
            format!("job {job_guid} has not ended; its skipped items are reported when it ends"),
        ));
    };
    if state.clock.now() > deadline {
        return Err(AppError::client(
            ErrorCode::Gone,
            format!(
                "job {job_guid} ended at {}; Keepit keeps skipped-items reports for one month, so this one expired at {}",
                time(ended),
                time(deadline)
            ),
        ));
    }
    let client = crate::keepit::client_for_account(&state, &job.record.account).await?;
    let items = client
        .skipped_items(&job.record.account, &job.record.job, started, ended)
        .await
        .map_err(|source| AppError::Upstream {
            message: format!(
                "fetching the skipped items from Keepit failed: {}",
                crate::keepit::upstream_category(&source).1
            ),
            source,
        })?;
    let mut writer = csv_writer();
    writer
        .write_record(["time", "account", "connector", "job", "message"])
        .map_err(csv_error)?;
    for item in items {
        writer
            .write_record([
                item.time.map(time).unwrap_or_default(),
                item.account.unwrap_or_default(),
                item.connector.unwrap_or_default(),
                item.job.unwrap_or_default(),
                item.message,
            ])
            .map_err(csv_error)?;
    }
    let body = writer
        .into_inner()
        .map_err(|error| csv_error(error.into_error()))?;
    Ok(csv_response(
        Body::from(body),
        &format!("skipped-items-{}.csv", job.record.job.as_str()),
    ))
}
