//! Parsing the Job Monitor's query string into a store [`JobQuery`].
//!
//! The query string is read by hand (not with serde) so that `status` and `type` may
//! repeat, and so that every bad value is reported with the parameter's name.

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{ConnectorId, JobStatus, JobType};
use keepit_store::{CustomerId, JobCursor, JobQuery};

use crate::error::AppError;

/// The query parameters of `GET /jobs`, as text pairs.
pub(crate) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|raw| {
        url::form_urlencoded::parse(raw.as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// The only value of a parameter that may appear once.
fn single<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, AppError> {
    let mut values = pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.trim());
    let first = values.next();
    if values.next().is_some() {
        return Err(AppError::invalid(name, "given more than once"));
    }
    Ok(first.filter(|value| !value.is_empty()))
}

/// Every value of a repeatable parameter, with comma lists split.
fn many<'a>(pairs: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(key, _)| key == name)
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// Parses an RFC 3339 time.
pub(crate) fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            AppError::invalid(
                name,
                format!("{text:?} is not an RFC 3339 time such as 2024-05-01T00:00:00Z"),
            )
        })
}

/// Parses a span such as `24h`, `7d`, `30d` or `90m`.
fn parse_span(text: &str) -> Result<TimeDelta, AppError> {
    let bad = || {
        AppError::invalid(
            "span",
            format!("{text:?} is not a span such as 24h, 7d or 30d"),
        )
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    if number <= 0 {
        return Err(bad());
    }
    let delta = match unit {
        "m" => TimeDelta::try_minutes(number),
        "h" => TimeDelta::try_hours(number),
        "d" => TimeDelta::try_days(number),
        "w" => TimeDelta::try_weeks(number),
        _ => None,
    };
    delta.ok_or_else(bad)
}

/// Parses a page size between 1 and `max`.
pub(crate) fn parse_limit(text: Option<&str>, max: u32) -> Result<Option<u32>, AppError> {
    text.map(|text| match text.parse::<u32>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(AppError::invalid(
            "limit",
            format!("{text:?} is not a whole number between 1 and {max}"),
        )),
    })
    .transpose()
}

/// Parses a customer id.
pub(crate) fn parse_customer(name: &str, text: &str) -> Result<CustomerId, AppError> {
    text.parse::<i64>()
        .map(CustomerId)
        .map_err(|_| AppError::invalid(name, format!("{text:?} is not a customer id")))
}

/// Builds the store query from `GET /jobs`'s parameters; `now` anchors `span`.
pub(crate) fn job_query(
    pairs: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<JobQuery, AppError> {
    const KNOWN: &[&str] = &[
        "customer",
        "account",
        "connector",
        "status",
        "type",
        "span",
        "from",
        "to",
        "q",
        "limit",
        "cursor",
    ];
    if let Some((unknown, _)) = pairs.iter().find(|(key, _)| !KNOWN.contains(&key.as_str())) {
        return Err(AppError::invalid(
            unknown,
            format!("unknown parameter; expected one of {}", KNOWN.join(", ")),
        ));
    }
    let mut query = JobQuery::default();
    if let Some(text) = single(pairs, "customer")? {
        query.customer = Some(parse_customer("customer", text)?);
    }
    if let Some(text) = single(pairs, "account")? {
        query.account = Some(
            keepit_domain::AccountId::new(text)
                .map_err(|error| AppError::invalid("account", error))?,
        );
    }
    if let Some(text) = single(pairs, "connector")? {
        query.connector =
            Some(ConnectorId::new(text).map_err(|error| AppError::invalid("connector", error))?);
    }
    for text in many(pairs, "status") {
        let status = JobStatus::parse(text).map_err(|error| AppError::invalid("status", error))?;
        if !query.statuses.contains(&status) {
            query.statuses.push(status);
        }
    }
    for text in many(pairs, "type") {
        let job_type = JobType::from_wire(text);
        if let JobType::Other(other) = &job_type {
            let known: Vec<String> = JobType::known().map(|t| t.as_str().to_owned()).collect();
            return Err(AppError::invalid(
                "type",
                format!(
                    "unknown job type {other:?}; expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        if !query.types.contains(&job_type) {
            query.types.push(job_type);
        }
    }
    let span = single(pairs, "span")?.map(parse_span).transpose()?;
    query.from = single(pairs, "from")?
        .map(|text| parse_time("from", text))
        .transpose()?;
    query.to = single(pairs, "to")?
        .map(|text| parse_time("to", text))
        .transpose()?;
    if let Some(span) = span {
        if query.from.is_some() {
            return Err(AppError::invalid("span", "cannot be combined with from"));
        }
        query.from = Some(query.to.unwrap_or(now) - span);
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(AppError::invalid("from", "must not be later than to"));
    }
    query.text = single(pairs, "q")?.map(str::to_owned);
    query.limit = parse_limit(single(pairs, "limit")?, JobQuery::MAX_LIMIT)?;
    query.cursor = single(pairs, "cursor")?
        .map(|text| JobCursor::decode(text).map_err(|error| AppError::invalid("cursor", error)))
        .transpose()?;
    Ok(query)
}
