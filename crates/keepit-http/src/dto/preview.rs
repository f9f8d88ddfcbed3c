//! A rule's dry run as the API answers it (`POST /alert-rules/preview`).

use chrono::SecondsFormat;
use keepit_alerts::PreviewReport;
use keepit_alerts::preview::{Difference, Outcome, PreviewFinding, REPLAY_STEP, Replay};
use keepit_domain::{AlertState, ConnectorId, ReasonScope, Severity};
use serde::Serialize;
use utoipa::ToSchema;

/// What a rule would do: now, and over the stored history. Nothing is changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulePreviewDto {
    /// When "now" was.
    #[schema(format = DateTime)]
    pub at: String,
    /// The rule as sent, now (evaluated as if enabled).
    pub candidate: PreviewOutcomeDto,
    /// The rule as stored, now; `null` for a new rule.
    pub current: Option<PreviewOutcomeDto>,
    /// Connectors whose state would change from the stored rule's (from nothing,
    /// for a new rule), escalations first; at most 500 are listed.
    pub differences: Vec<PreviewDifferenceDto>,
    /// How many connectors' state would change, listed or not.
    pub differences_total: u32,
    /// The replay of the stored backup history.
    pub history: PreviewHistoryDto,
}

/// What a rule would hold open across the fleet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewOutcomeDto {
    /// Watched connectors the rule applies to.
    pub watched: u32,
    /// Connectors it would hold in pending.
    pub pending: u32,
    /// Connectors it would hold in firing.
    pub firing: u32,
    /// Those connectors, firing first; at most 500 are listed.
    pub findings: Vec<PreviewFindingDto>,
}

/// One connector the rule would hold open.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewFindingDto {
    /// The connector's GUID.
    pub connector_guid: String,
    /// Its name.
    pub connector_name: String,
    /// Its customer's id, once matched.
    pub customer_id: Option<i64>,
    /// The customer's name (the account GUID while unmatched).
    pub customer_name: String,
    /// `pending` or `firing`.
    #[schema(value_type = crate::openapi::AlertStateCode)]
    pub state: String,
    /// `warning` or `critical`.
    #[schema(value_type = crate::openapi::SeverityCode)]
    pub severity: String,
    /// Keepit's failure reason code, when one is known.
    pub reason_code: Option<String>,
    /// The catalogue's title for it.
    pub reason_title: Option<String>,
    /// Why, in one sentence.
    pub detail: String,
}

/// One connector whose state would change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewDifferenceDto {
    /// The connector's GUID.
    pub connector_guid: String,
    /// Its name.
    pub connector_name: String,
    /// Its customer's id, once matched.
    pub customer_id: Option<i64>,
    /// The customer's name.
    pub customer_name: String,
    /// State under the stored rule; `null` when nothing would be open.
    #[schema(value_type = Option<crate::openapi::AlertStateCode>)]
    pub before_state: Option<String>,
    /// Severity under the stored rule.
    #[schema(value_type = Option<crate::openapi::SeverityCode>)]
    pub before_severity: Option<String>,
    /// State under the rule as sent; `null` when nothing would be open.
    #[schema(value_type = Option<crate::openapi::AlertStateCode>)]
    pub after_state: Option<String>,
    /// Severity under the rule as sent.
    #[schema(value_type = Option<crate::openapi::SeverityCode>)]
    pub after_severity: Option<String>,
    /// Why, in one sentence.
    pub detail: String,
}

/// The stored history replayed through the engine.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewHistoryDto {
    /// The first hour replayed.
    #[schema(format = DateTime)]
    pub from: String,
    /// Days replayed.
    pub days: i64,
    /// The engine ran once per this many minutes of history.
    pub step_minutes: i64,
    /// The rule as sent.
    pub candidate: ReplayDto,
    /// The rule as stored; `null` for a new rule.
    pub current: Option<ReplayDto>,
}

/// What a replay counted. Nobody acknowledges or silences in a replay, so the
/// notices are the most the rule would have sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayDto {
    /// Alerts already open when the replay began.
    pub open_at_start: u32,
    /// Alerts it would have opened.
    pub opened: u32,
    /// Alerts that would have reached firing (paged someone).
    pub paged: u32,
    /// Alerts it would have resolved.
    pub resolved: u32,
    /// Notices it would have sent (openings, escalations, reminders, resolutions).
    pub notices: u32,
    /// Alerts it would hold open at the end.
    pub open_at_end: u32,
}

/// Names of a connector for a listing: (customer, connector).
fn names<'a>(report: &'a PreviewReport, connector: &'a ConnectorId) -> (String, String) {
    report
        .names
        .get(connector)
        .cloned()
        .unwrap_or_else(|| ("unknown customer".to_owned(), connector.to_string()))
}

fn pair(value: Option<(AlertState, Severity)>) -> (Option<String>, Option<String>) {
    match value {
        Some((state, severity)) => (
            Some(state.as_str().to_owned()),
            Some(severity.as_str().to_owned()),
        ),
        None => (None, None),
    }
}

impl PreviewOutcomeDto {
    fn new(report: &PreviewReport, outcome: &Outcome) -> PreviewOutcomeDto {
        PreviewOutcomeDto {
            watched: outcome.watched,
            pending: outcome.pending,
            firing: outcome.firing,
            findings: outcome
                .findings
                .iter()
                .map(|finding| PreviewFindingDto::new(report, finding))
                .collect(),
        }
    }
}

impl PreviewFindingDto {
    fn new(report: &PreviewReport, finding: &PreviewFinding) -> PreviewFindingDto {
        let (customer_name, connector_name) = names(report, &finding.connector);
        PreviewFindingDto {
            connector_guid: finding.connector.to_string(),
            connector_name,
            customer_id: finding.customer.map(|customer| customer.0),
            customer_name,
            state: finding.state.as_str().to_owned(),
            severity: finding.severity.as_str().to_owned(),
            reason_code: finding.reason.as_ref().map(super::reason_code),
            reason_title: finding
                .reason
                .as_ref()
                .and_then(|reason| reason.entry(ReasonScope::Backup))
                .map(|entry| entry.title.to_owned()),
            detail: finding.detail.clone(),
        }
    }
}

impl PreviewDifferenceDto {
    fn new(report: &PreviewReport, difference: &Difference) -> PreviewDifferenceDto {
        let (customer_name, connector_name) = names(report, &difference.connector);
        let (before_state, before_severity) = pair(difference.before);
        let (after_state, after_severity) = pair(difference.after);
        PreviewDifferenceDto {
            connector_guid: difference.connector.to_string(),
            connector_name,
            customer_id: difference.customer.map(|customer| customer.0),
            customer_name,
            before_state,
            before_severity,
            after_state,
            after_severity,
            detail: difference.detail.clone(),
        }
    }
}

impl From<&Replay> for ReplayDto {
    fn from(replay: &Replay) -> Self {
        ReplayDto {
            open_at_start: replay.open_at_start,
            opened: replay.opened,
            paged: replay.paged,
            resolved: replay.resolved,
            notices: replay.notices,
            open_at_end: replay.open_at_end,
        }
    }
}

impl From<&PreviewReport> for RulePreviewDto {
    fn from(report: &PreviewReport) -> Self {
        let preview = &report.preview;
        RulePreviewDto {
            at: preview.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            candidate: PreviewOutcomeDto::new(report, &preview.candidate),
            current: preview
                .current
                .as_ref()
                .map(|outcome| PreviewOutcomeDto::new(report, outcome)),
            differences: preview
                .differences
                .iter()
                .map(|difference| PreviewDifferenceDto::new(report, difference))
                .collect(),
            differences_total: preview.differences_total,
            history: PreviewHistoryDto {
                from: preview
                    .history_from
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                days: (preview.at - preview.history_from).num_days(),
                step_minutes: REPLAY_STEP.num_minutes(),
                candidate: ReplayDto::from(&preview.candidate_history),
                current: preview.current_history.as_ref().map(ReplayDto::from),
            },
        }
    }
}
