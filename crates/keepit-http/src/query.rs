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

/// Refuses a parameter the route does not know, so that a misspelt filter is an error
/// rather than silently ignored.
pub(crate) fn only_known(pairs: &[(String, String)], known: &[&str]) -> Result<(), AppError> {
    match pairs.iter().find(|(key, _)| !known.contains(&key.as_str())) {
        Some((unknown, _)) => Err(AppError::invalid(
            unknown,
            format!("unknown parameter; expected one of {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The only value of a parameter that may appear once.
pub(crate) fn single<'a>(
    pairs: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, AppError> {
    let mut values = pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.trim());
    let first = values.next();
    if values.next().is_some() {
        return Err(AppError::invalid(name, "given more than once"));
    }
    // An empty value is kept, so that a typed parameter given as `limit=` is refused
    // rather than read as absent.
    Ok(first)
}

/// Every value of a repeatable parameter, with comma lists split.
fn many<'a>(pairs: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(key, _)| key == name)
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
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

/// The longest span accepted: ten years, far more than any Keepit history.
const MAX_SPAN_DAYS: i64 = 3_660;

/// Parses a span such as `24h`, `7d`, `30d`, `90m` or `1h30m`: keepit-watch's one
/// duration grammar (`keepit_domain::parse_duration`, as the command-line flags).
fn parse_span(text: &str) -> Result<TimeDelta, AppError> {
    let span =
        keepit_domain::parse_duration(text).map_err(|error| AppError::invalid("span", error))?;
    TimeDelta::from_std(span)
        .ok()
        .filter(|delta| *delta > TimeDelta::zero() && *delta <= TimeDelta::days(MAX_SPAN_DAYS))
        .ok_or_else(|| {
            AppError::invalid(
                "span",
                format!("{text:?} must be longer than zero and at most {MAX_SPAN_DAYS} days"),
            )
        })
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
    only_known(pairs, KNOWN)?;
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
        query.from = Some(
            query
                .to
                .unwrap_or(now)
                .checked_sub_signed(span)
                .ok_or_else(|| AppError::invalid("span", "reaches before the earliest time"))?,
        );
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(AppError::invalid("from", "must not be later than to"));
    }
    query.text = single(pairs, "q")?
        .filter(|text| !text.is_empty())
        .map(str::to_owned);
    query.limit = parse_limit(single(pairs, "limit")?, JobQuery::MAX_LIMIT)?;
    query.cursor = single(pairs, "cursor")?
        .map(|text| JobCursor::decode(text).map_err(|error| AppError::invalid("cursor", error)))
        .transpose()?;
    Ok(query)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    fn query(raw: &str) -> Result<JobQuery, AppError> {
        job_query(&pairs(Some(raw)), now())
    }

    fn rejected_parameter(raw: &str) -> String {
        match query(raw) {
            Ok(parsed) => panic!("{raw:?} was accepted as {parsed:?}"),
            Err(error) => error
                .parameter()
                .unwrap_or_else(|| panic!("{raw:?} gave {error:?}"))
                .to_owned(),
        }
    }

    #[test]
    fn spans_count_back_from_to_or_now() {
        assert_eq!(
            query("span=24h").unwrap().from,
            Some(now() - TimeDelta::hours(24))
        );
        let parsed = query("span=7d&to=2026-01-10T00:00:00Z").unwrap();
        assert_eq!(
            parsed.from,
            Some(Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap())
        );
        assert_eq!(
            query("span=90m").unwrap().from,
            Some(now() - TimeDelta::minutes(90))
        );
        assert_eq!(
            query("span=3660d").unwrap().from,
            Some(now() - TimeDelta::days(3_660))
        );
        // The command line's grammar: units combine, fractions are allowed.
        assert_eq!(
            query("span=1h30m").unwrap().from,
            Some(now() - TimeDelta::minutes(90))
        );
        assert_eq!(
            query("span=1.5d").unwrap().from,
            Some(now() - TimeDelta::hours(36))
        );
    }

    #[test]
    fn bad_spans_name_the_parameter_instead_of_panicking() {
        for span in [
            "",
            "d",
            "é",
            "1é",
            "é1d",
            "0d",
            "-1d",
            "0s",
            "24",
            "11y",
            "3661d",
            "100000000d",
            "9223372036854775807w",
            "1h-",
        ] {
            let raw = format!(
                "span={}",
                url::form_urlencoded::byte_serialize(span.as_bytes()).collect::<String>()
            );
            // An empty value is refused too: the document types it, and `span=` is
            // not a span.
            assert_eq!(rejected_parameter(&raw), "span", "{span:?}");
        }
        assert_eq!(
            rejected_parameter("span=1d&from=2026-01-01T00:00:00Z"),
            "span"
        );
    }

    #[test]
    fn every_parameter_rejects_garbage_by_name() {
        let garbage = [
            "%FF%FE",
            "é",
            "\u{0}",
            "-1",
            "99999999999999999999999",
            "a,b",
            "'; drop",
        ];
        for name in [
            "customer", "status", "type", "span", "from", "to", "limit", "cursor",
        ] {
            for value in garbage {
                let raw = format!(
                    "{name}={}",
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                );
                if let Err(error) = query(&raw) {
                    assert_eq!(error.parameter(), Some(name), "{raw}: {error:?}");
                }
            }
        }
        assert_eq!(rejected_parameter("limit=0"), "limit");
        assert_eq!(rejected_parameter("limit=501"), "limit");
        assert_eq!(rejected_parameter("status=done"), "status");
        assert_eq!(rejected_parameter("type=archive"), "type");
        assert_eq!(rejected_parameter("customer=1&customer=2"), "customer");
        assert_eq!(rejected_parameter("colour=red"), "colour");
        assert_eq!(
            rejected_parameter("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"),
            "from"
        );
    }

    #[test]
    fn statuses_and_types_repeat_or_comma_separate_without_duplicates() {
        let parsed = query("status=successful,cancelled&status=successful&type=backup").unwrap();
        assert_eq!(
            parsed.statuses,
            vec![JobStatus::Successful, JobStatus::Cancelled]
        );
        assert_eq!(parsed.types, vec![JobType::Backup]);
    }

    /// Query strings built from the route's own parameter names and hostile values.
    fn query_string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("customer"),
            Just("account"),
            Just("connector"),
            Just("status"),
            Just("type"),
            Just("from"),
            Just("to"),
            Just("span"),
            Just("q"),
            Just("limit"),
            Just("cursor"),
            Just("stauts"),
        ];
        let value = prop_oneof![
            Just("2026-04-01T00:00:00Z".to_owned()),
            Just("failed,successful".to_owned()),
            Just("9223372036854775807d".to_owned()),
            Just("-1".to_owned()),
            Just("500".to_owned()),
            Just("%FF%00".to_owned()),
            "[0-9]{1,20}[mhdwy]?",
            "[a-z0-9,=&%+ -]{0,16}",
            any::<String>(),
        ];
        proptest::collection::vec((key, value), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn any_query_is_a_query_or_names_its_bad_parameter(raw in query_string()) {
            match query(&raw) {
                Ok(parsed) => {
                    if let (Some(from), Some(to)) = (parsed.from, parsed.to) {
                        proptest::prop_assert!(from <= to);
                    }
                    if let Some(limit) = parsed.limit {
                        proptest::prop_assert!((1..=JobQuery::MAX_LIMIT).contains(&limit));
                    }
                }
                Err(error) => {
                    proptest::prop_assert!(error.parameter().is_some(), "{raw:?} gave {error:?}");
                }
            }
        }

        #[test]
        fn limits_are_whole_numbers_in_range(text in proptest::prelude::any::<String>(), number in 0u64..1000) {
            let _ = parse_limit(Some(&text), 500);
            let accepted = parse_limit(Some(&number.to_string()), 500).is_ok();
            proptest::prop_assert_eq!(accepted, (1..=500).contains(&number));
        }
    }
}
