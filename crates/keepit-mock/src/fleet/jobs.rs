//! Building jobs whose domain status is known: the same builder serves generation and
//! [`Fleet::push_job`](crate::Fleet::push_job).

use chrono::{DateTime, TimeDelta, Utc};
use keepit_domain::{
    BackupStatistics, JobFamily, JobId, JobObservation, JobStatistics, JobStatus, JobType,
    ReasonCode, RestoreStatistics, Volume, decide_status,
};
use rand::Rng;
use rand::rngs::StdRng;

use crate::fleet::names;
use crate::fleet::scenario::failure_summary;
use crate::fleet::truth::{TruthConnector, TruthJob};

/// What a job should look like.
#[derive(Debug, Clone)]
pub(crate) struct JobPlan {
    pub(crate) job_type: JobType,
    /// The status the job is built for; the stored status is whatever `decide_status` says.
    pub(crate) target: JobStatus,
    pub(crate) reason: Option<ReasonCode>,
    /// Requested start (Keepit's `scheduled` and `start`).
    pub(crate) start: DateTime<Utc>,
    /// Time from `started` to the end, for finished jobs.
    pub(crate) run: TimeDelta,
    /// Whether a person asked for the job (`[manual]` in the description).
    pub(crate) manual: bool,
}

/// Builds a job for `connector` following `plan`; `ordinal` is the connector's number
/// within its account, as Keepit prints it in descriptions.
pub(crate) fn build_job(
    rng: &mut StdRng,
    plan: &JobPlan,
    connector: &TruthConnector,
    ordinal: usize,
    now: DateTime<Utc>,
) -> TruthJob {
    let id = JobId::new(&names::guid(rng, 4)).expect("generated GUIDs are valid ids");
    let family = plan.job_type.family();
    let mut observation = JobObservation::new(plan.job_type.clone());
    observation.scheduled = Some(plan.start);
    observation.start = Some(plan.start);
    let mut dispatched = None;
    let mut reason = None;

    let started = plan.start + TimeDelta::seconds(rng.random_range(3..25));
    if plan.target != JobStatus::Scheduled {
        if rng.random_bool(0.7) {
            dispatched = Some(plan.start + TimeDelta::seconds(rng.random_range(1..3)));
        }
        observation.started = Some(started.min(now));
    }
    let end = started + plan.run.max(TimeDelta::seconds(1));
    let summary = |code: ReasonCode| Some(failure_summary(code).to_owned());

    match (plan.target, family) {
        (JobStatus::Scheduled, _) => {}
        (JobStatus::InProgress, _) => {
            observation.active = true;
            observation.progress = Some(f64::from(rng.random_range(5u32..95)) / 100.0);
        }
        (JobStatus::Successful, JobFamily::Backup) => {
            observation.succeeded = Some(end);
            observation.progress = Some(1.0);
            let skipped = if rng.random_bool(0.12) {
                volume(rng, 1, 30)
            } else {
                Volume::default()
            };
            let added = if rng.random_bool(0.1) {
                Volume::default()
            } else {
                volume(rng, 1, 5_000)
            };
            observation.statistics = Some(JobStatistics::Backup(BackupStatistics {
                added,
                removed: volume(rng, 0, 300),
                skipped,
            }));
        }
        (JobStatus::Successful, JobFamily::Restore) => {
            observation.succeeded = Some(end);
            observation.progress = Some(1.0);
            observation.statistics = Some(JobStatistics::Restore(RestoreStatistics {
                restored: volume(rng, 1, 2_000),
                overwritten: if rng.random_bool(0.3) {
                    volume(rng, 1, 50)
                } else {
                    Volume::default()
                },
                skipped: Volume::default(),
            }));
        }
        (JobStatus::Incomplete, JobFamily::Backup) => {
            let code = plan.reason.unwrap_or(ReasonCode::JobAborted);
            observation.failed = Some(end);
            observation.progress = Some(f64::from(rng.random_range(20u32..90)) / 100.0);
            observation.statistics = Some(JobStatistics::Backup(BackupStatistics {
                added: volume(rng, 1, 3_000),
                removed: volume(rng, 0, 100),
                skipped: volume(rng, 1, 40),
            }));
            observation.failure_summary = summary(code);
            reason = Some(code);
        }
        (JobStatus::Incomplete, JobFamily::Restore) => {
            let code = plan.reason.unwrap_or(ReasonCode::SomeItemsSkipped);
            observation.progress = Some(1.0);
            if code == ReasonCode::SomeItemsSkipped {
                observation.succeeded = Some(end);
            } else {
                observation.failed = Some(end);
                observation.progress = Some(f64::from(rng.random_range(20u32..90)) / 100.0);
            }
            observation.statistics = Some(JobStatistics::Restore(RestoreStatistics {
                restored: volume(rng, 1, 1_500),
                overwritten: Volume::default(),
                skipped: volume(rng, 1, 40),
            }));
            observation.failure_summary = summary(code);
            reason = Some(code);
        }
        (JobStatus::Unsuccessful, JobFamily::Backup) => {
            let code = plan.reason.unwrap_or(ReasonCode::EncounteredProblem);
            observation.failed = Some(end);
            observation.progress = Some(0.0);
            if rng.random_bool(0.5) {
                observation.statistics = Some(JobStatistics::Backup(BackupStatistics::default()));
            }
            observation.failure_summary = summary(code);
            reason = Some(code);
        }
        (JobStatus::Unsuccessful, JobFamily::Restore) => {
            let code = plan.reason.unwrap_or(ReasonCode::EncounteredProblem);
            if code == ReasonCode::AllItemsSkipped {
                observation.succeeded = Some(end);
                observation.progress = Some(1.0);
                observation.statistics = Some(JobStatistics::Restore(RestoreStatistics {
                    restored: Volume::default(),
                    overwritten: Volume::default(),
                    skipped: volume(rng, 1, 200),
                }));
            } else {
                observation.failed = Some(end);
                observation.progress = Some(f64::from(rng.random_range(0u32..30)) / 100.0);
                observation.statistics = Some(JobStatistics::Restore(RestoreStatistics {
                    restored: Volume::default(),
                    overwritten: Volume::default(),
                    skipped: Volume::default(),
                }));
            }
            observation.failure_summary = summary(code);
            reason = Some(code);
        }
        (JobStatus::Cancelled, _) => {
            observation.cancelled = Some(end);
            observation.progress = Some(f64::from(rng.random_range(5u32..60)) / 100.0);
        }
    }

    let status = decide_status(&observation, now);
    TruthJob {
        id,
        account: connector.account.clone(),
        connector: connector.id.clone(),
        description: description(&plan.job_type, plan.manual, connector, ordinal),
        priority: if family == JobFamily::Backup { 0 } else { 5 },
        dispatched,
        observation,
        status,
        reason,
    }
}

fn volume(rng: &mut StdRng, min: u64, max: u64) -> Volume {
    let count = rng.random_range(min..=max);
    let bytes = if count == 0 {
        0
    } else {
        count * rng.random_range(2_048u64..2_097_152)
    };
    Volume { count, bytes }
}

/// Keepit's description pattern: `[type][tag][auto|manual][connector type]{name(n)}`.
fn description(
    job_type: &JobType,
    manual: bool,
    connector: &TruthConnector,
    ordinal: usize,
) -> String {
    let tag = match job_type {
        JobType::Backup => "bl",
        JobType::ZipDownload | JobType::PstDownload => "dl",
        _ => "rs",
    };
    let trigger = if manual { "manual" } else { "auto" };
    let connector_type = connector
        .kind
        .agent_type()
        .unwrap_or_else(|| connector.kind.wire_type());
    format!(
        "[{}][{tag}][{trigger}][{connector_type}]{{{}({ordinal})}}",
        job_type.as_str(),
        connector.name
    )
}
