//! Request accounting: every request the mock received, and numbers derived from them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keepit_domain::AccountId;

use crate::faults::FaultKind;

/// One request as the mock saw it. Passwords are never recorded, only usernames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Arrival order, from 0.
    pub seq: usize,
    /// HTTP method, upper case.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The endpoint template, e.g. `GET /users/{a}/devices` (see [`endpoint_template`](crate::endpoint_template)).
    pub endpoint: String,
    /// The `Accept` header as sent.
    pub accept: Option<String>,
    /// The Basic-auth username as sent (accepted or not).
    pub username: Option<String>,
    /// Whether the credentials were accepted.
    pub authenticated: bool,
    /// The account GUID the request was about (path segment or audit filter body).
    pub account: Option<AccountId>,
    /// The status answered; `None` when the connection was dropped on purpose.
    pub status: Option<u16>,
    /// The fault injected into this request, if any.
    pub fault: Option<FaultKind>,
    /// True when no mock answered and the catch-all said 404.
    pub unmatched: bool,
    /// The latency added before the answer was sent.
    pub delay: Duration,
    /// When the request arrived, measured from the start of the mock.
    pub received_at: Duration,
    arrived: Instant,
    answered: Option<Instant>,
}

/// Totals over the recorded requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Every request received.
    pub total: usize,
    /// Requests per endpoint template.
    pub by_endpoint: BTreeMap<String, usize>,
    /// Answers per status code (dropped connections are not counted here).
    pub by_status: BTreeMap<u16, usize>,
    /// Injected faults per kind.
    pub faults: BTreeMap<FaultKind, usize>,
    /// Requests nobody expected (answered by the catch-all).
    pub unmatched: usize,
    /// The largest number of requests that were in flight inside the mock at once.
    ///
    /// A request is in flight from its arrival until its answer leaves the mock,
    /// which is the moment the mock handled it plus the injected latency.
    /// wiremock handles requests one at a time and only the latency overlaps,
    /// so this counts how many requests were waiting out their latency together.
    pub max_in_flight: usize,
}

/// The shared log behind [`MockKeepit::requests`](crate::MockKeepit::requests).
#[derive(Debug)]
pub(crate) struct RequestLog {
    started: Instant,
    entries: Vec<RecordedRequest>,
}

/// What the gate knows when a request arrives.
pub(crate) struct Arrival {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) accept: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) authenticated: bool,
    pub(crate) account: Option<AccountId>,
}

impl RequestLog {
    pub(crate) fn new() -> Self {
        RequestLog {
            started: Instant::now(),
            entries: Vec::new(),
        }
    }

    pub(crate) fn arrive(&mut self, arrival: Arrival) -> usize {
        let now = Instant::now();
        let seq = self.entries.len();
        let endpoint = crate::endpoint::endpoint_template(&arrival.method, &arrival.path);
        self.entries.push(RecordedRequest {
            seq,
            method: arrival.method,
            path: arrival.path,
            query: arrival.query,
            endpoint,
            accept: arrival.accept,
            username: arrival.username,
            authenticated: arrival.authenticated,
            account: arrival.account,
            status: None,
            fault: None,
            unmatched: false,
            delay: Duration::ZERO,
            received_at: now.saturating_duration_since(self.started),
            arrived: now,
            answered: None,
        });
        seq
    }

    /// Records how a request was answered.
    pub(crate) fn answer(
        &mut self,
        seq: usize,
        status: Option<u16>,
        fault: Option<FaultKind>,
        delay: Duration,
        unmatched: bool,
    ) {
        if let Some(entry) = self.entries.get_mut(seq) {
            entry.status = status;
            entry.fault = fault.or(entry.fault);
            entry.delay = delay;
            entry.unmatched = unmatched;
            entry.answered = Some(Instant::now());
        }
    }

    pub(crate) fn entries(&self) -> &[RecordedRequest] {
        &self.entries
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn stats(&self) -> RequestStats {
        let mut stats = RequestStats {
            total: self.entries.len(),
            ..RequestStats::default()
        };
        for entry in &self.entries {
            *stats.by_endpoint.entry(entry.endpoint.clone()).or_default() += 1;
            if let Some(status) = entry.status {
                *stats.by_status.entry(status).or_default() += 1;
            }
            if let Some(fault) = entry.fault {
                *stats.faults.entry(fault).or_default() += 1;
            }
            if entry.unmatched {
                stats.unmatched += 1;
            }
        }
        stats.max_in_flight = max_in_flight(self.entries.iter().map(|entry| {
            let answered = entry.answered.unwrap_or(entry.arrived);
            (entry.arrived, answered + entry.delay)
        }));
        stats
    }
}

/// The largest number of overlapping `[start, end)` intervals.
/// An interval of zero length still counts as one request in flight.
pub(crate) fn max_in_flight(intervals: impl Iterator<Item = (Instant, Instant)>) -> usize {
    let mut events: Vec<(Instant, i8)> = Vec::new();
    for (start, end) in intervals {
        let end = end.max(start + Duration::from_nanos(1));
        events.push((start, 1));
        events.push((end, -1));
    }
    // At the same instant an answer leaving frees its slot before a new arrival takes one.
    events.sort_unstable();
    let mut current: i64 = 0;
    let mut max: i64 = 0;
    for (_, delta) in events {
        current += i64::from(delta);
        max = max.max(current);
    }
    usize::try_from(max).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_intervals_are_counted() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let intervals = [
            (t0, t0 + ms(100)),
            (t0 + ms(10), t0 + ms(110)),
            (t0 + ms(20), t0 + ms(120)),
            (t0 + ms(200), t0 + ms(300)),
        ];
        assert_eq!(max_in_flight(intervals.into_iter()), 3);
    }

    #[test]
    fn back_to_back_intervals_do_not_overlap() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let intervals = [(t0, t0 + ms(100)), (t0 + ms(100), t0 + ms(200))];
        assert_eq!(max_in_flight(intervals.into_iter()), 1);
    }

    #[test]
    fn instant_requests_count_as_one() {
        let t0 = Instant::now();
        assert_eq!(max_in_flight([(t0, t0)].into_iter()), 1);
        assert_eq!(max_in_flight(std::iter::empty()), 0);
    }
}
