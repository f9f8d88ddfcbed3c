//! A seeded, generated fleet of Keepit accounts, connectors, jobs and audit events,
//! with its ground truth in domain types.
//!
//! [`Fleet::generate`] builds the fleet from a [`FleetSpec`]; the same spec (seed
//! included) always gives the same fleet and, once served, the same bytes.
//! [`MockKeepit::serve_fleet`](crate::MockKeepit::serve_fleet) serves it and returns a
//! [`FleetServer`], a handle that reads and changes the served fleet while a test runs.

mod audit_templates;
mod generate;
mod jobs;
mod names;
mod render;
mod scenario;
pub(crate) mod server;
mod truth;

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use keepit_domain::{
    AccountId, ConnectorId, ConnectorKind, Health, HealthReason, JobFamily, JobId, JobStatus,
    JobType, ReasonCode, decide_status,
};
use rand::rngs::StdRng;

use crate::error::{Error, Result};

pub use scenario::{ConnectorScenario, failure_summary};
pub use server::FleetServer;
pub use truth::{
    AccountRole, Cancellation, TruthAccount, TruthAuditEvent, TruthConnector, TruthJob,
    TruthSkippedItem, TruthSnapshot,
};

/// What to generate.
///
/// ```
/// use keepit_mock::FleetSpec;
///
/// let spec = FleetSpec { seed: 7, accounts: 50, ..FleetSpec::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSpec {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of customer accounts (partners and sub-partners come on top).
    pub accounts: usize,
    /// Levels below the MSP's account: 1 puts every customer directly under the MSP;
    /// 2 (the default) adds resellers with customers of their own; each further level
    /// adds a level of sub-resellers. Some customers always sit directly under the MSP.
    pub depth: usize,
    /// Connectors per customer account, inclusive bounds.
    pub connectors_per_account: (usize, usize),
    /// When set, the fleet has exactly this many connectors, spread over the customers
    /// (`connectors_per_account` is then ignored).
    pub total_connectors: Option<usize>,
    /// Length of the generated history, in days before `now`.
    pub days_of_history: u32,
    /// Scheduled backups per connector and day.
    pub jobs_per_connector_per_day: u32,
    /// Audit events per account and day.
    pub audit_events_per_account_per_day: u32,
    /// The fleet's "now": the end of the history. Whole seconds are kept.
    pub now: DateTime<Utc>,
}

impl Default for FleetSpec {
    /// 25 customers under resellers (depth 2), 2 to 6 connectors each, 14 days of
    /// history with two backups a day, three audit events per account and day, seed 42,
    /// and a fixed `now` of 2026-01-08T00:00:00Z so the default fleet never changes.
    fn default() -> Self {
        FleetSpec {
            seed: 42,
            accounts: 25,
            depth: 2,
            connectors_per_account: (2, 6),
            total_connectors: None,
            days_of_history: 14,
            jobs_per_connector_per_day: 2,
            audit_events_per_account_per_day: 3,
            now: Utc
                .with_ymd_and_hms(2026, 1, 8, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        }
    }
}

impl FleetSpec {
    /// The default spec with another seed.
    pub fn seeded(seed: u64) -> Self {
        FleetSpec {
            seed,
            ..FleetSpec::default()
        }
    }

    /// A large fleet: 500 customers and 2,500 connectors over 14 days.
    pub fn large(seed: u64) -> Self {
        FleetSpec {
            seed,
            accounts: 500,
            total_connectors: Some(2_500),
            ..FleetSpec::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let invalid = |message: &str| Err(Error::InvalidSpec(message.to_owned()));
        if self.accounts == 0 {
            return invalid("accounts must be at least 1");
        }
        if self.depth == 0 {
            return invalid("depth must be at least 1");
        }
        let (min, max) = self.connectors_per_account;
        if min > max {
            return invalid("connectors_per_account: the minimum is larger than the maximum");
        }
        if self.days_of_history == 0 {
            return invalid("days_of_history must be at least 1");
        }
        if self.jobs_per_connector_per_day > 96 {
            return invalid("jobs_per_connector_per_day must be at most 96");
        }
        Ok(())
    }
}

/// What a pushed job should end as (see [`Fleet::push_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The job's type.
    pub job_type: JobType,
    /// The status to build the job for.
    pub status: JobStatus,
    /// The failure reason to write into its summary (ignored for successful,
    /// scheduled, running and cancelled jobs).
    pub reason: Option<ReasonCode>,
}

impl JobOutcome {
    /// A backup ending with `status`.
    pub fn backup(status: JobStatus) -> Self {
        JobOutcome {
            job_type: JobType::Backup,
            status,
            reason: None,
        }
    }

    /// A job of `job_type` ending with `status`.
    pub fn of(job_type: JobType, status: JobStatus) -> Self {
        JobOutcome {
            job_type,
            status,
            reason: None,
        }
    }

    /// With this failure reason.
    pub fn with_reason(mut self, reason: ReasonCode) -> Self {
        self.reason = Some(reason);
        self
    }
}

/// A generated fleet: accounts, connectors, jobs and audit events, indexed by GUID.
///
/// Its `Debug` output is a summary (seed, clock and counts), not the whole fleet.
#[derive(Clone)]
pub struct Fleet {
    spec: FleetSpec,
    now: DateTime<Utc>,
    parent: AccountId,
    accounts: Vec<TruthAccount>,
    account_index: HashMap<AccountId, usize>,
    connectors: HashMap<ConnectorId, ConnectorEntry>,
    job_index: HashMap<JobId, ConnectorId>,
    /// Per account (same index as `accounts`), sorted by time then sequence number.
    audit: Vec<Vec<TruthAuditEvent>>,
    cancellations: Vec<Cancellation>,
    /// Drives every change made after generation, so changes are reproducible too.
    rng: StdRng,
    next_audit_seq: u64,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("seed", &self.spec.seed)
            .field("now", &self.now)
            .field("parent", &self.parent)
            .field("accounts", &self.accounts.len())
            .field("connectors", &self.connectors.len())
            .field("jobs", &self.job_index.len())
            .field("audit_events", &self.audit_event_count())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConnectorEntry {
    pub(crate) truth: TruthConnector,
    /// The connector's number within its account, as printed in job descriptions.
    pub(crate) ordinal: usize,
    /// Finished jobs by end time, then unfinished jobs by requested start.
    pub(crate) jobs: Vec<TruthJob>,
}

/// Sort key of a connector's jobs.
pub(crate) fn job_order(job: &TruthJob) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        job.ended_at().unwrap_or(DateTime::<Utc>::MAX_UTC),
        job.observation
            .start
            .or(job.observation.scheduled)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    )
}

/// A full copy of the fleet's ground truth at one moment, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// The fleet's clock.
    pub now: DateTime<Utc>,
    /// The MSP's top account (what `GET /users/` answers).
    pub parent: AccountId,
    /// Every account, parents before children.
    pub accounts: Vec<TruthAccount>,
    /// Every connector, in account order (deletion-pending ones included).
    pub connectors: Vec<TruthConnector>,
    /// Every job, in connector order; statuses decided at `now`.
    pub jobs: Vec<TruthJob>,
    /// Every audit event, oldest first.
    pub audit_events: Vec<TruthAuditEvent>,
    /// Every cancellation received.
    pub cancellations: Vec<Cancellation>,
}

impl GroundTruth {
    /// One account.
    pub fn account(&self, id: &AccountId) -> Option<&TruthAccount> {
        self.accounts.iter().find(|account| &account.id == id)
    }

    /// The customer accounts.
    pub fn customers(&self) -> impl Iterator<Item = &TruthAccount> {
        self.accounts
            .iter()
            .filter(|account| account.role == AccountRole::Customer)
    }

    /// One connector.
    pub fn connector(&self, id: &ConnectorId) -> Option<&TruthConnector> {
        self.connectors.iter().find(|connector| &connector.id == id)
    }

    /// One job.
    pub fn job(&self, id: &JobId) -> Option<&TruthJob> {
        self.jobs.iter().find(|job| &job.id == id)
    }

    /// The jobs of one connector, oldest end first, unfinished last.
    pub fn jobs_of(&self, connector: &ConnectorId) -> Vec<&TruthJob> {
        self.jobs
            .iter()
            .filter(|job| &job.connector == connector)
            .collect()
    }

    /// The connectors whose last successful backup is older than `threshold`
    /// (or that never backed up), among those that are accessible and not being deleted.
    pub fn stale_connectors(&self, threshold: TimeDelta) -> Vec<&TruthConnector> {
        self.connectors
            .iter()
            .filter(|connector| connector.state().is_active())
            .filter(|connector| connector.is_stale(self.now, threshold))
            .collect()
    }

    /// The audit events of `account` (and its descendants when `recursive`), oldest first.
    pub fn audit_events_of(&self, account: &AccountId, recursive: bool) -> Vec<&TruthAuditEvent> {
        let mut scope = vec![account.clone()];
        if recursive {
            let mut index = 0;
            while index < scope.len() {
                if let Some(found) = self.account(&scope[index]) {
                    scope.extend(found.children.iter().cloned());
                }
                index += 1;
            }
        }
        self.audit_events
            .iter()
            .filter(|event| scope.contains(&event.account))
            .collect()
    }
}

impl Fleet {
    /// Generates a fleet. Deterministic: the same spec gives the same fleet.
    ///
    /// With at least 20 customer accounts (and the default connector counts) the fleet
    /// contains every [`ConnectorKind::known`] kind, every [`ConnectorScenario`], every
    /// [`JobStatus`], every job type, every backup and restore reason of the catalogue
    /// and every audit category.
    pub fn generate(spec: &FleetSpec) -> Result<Fleet> {
        spec.validate()?;
        Ok(generate::generate(spec))
    }

    /// The spec the fleet was generated from.
    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// The fleet's clock (starts at the spec's `now`).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The MSP's top account: what `GET /users/` answers.
    pub fn parent(&self) -> &AccountId {
        &self.parent
    }

    /// Every account, parents before children.
    pub fn accounts(&self) -> &[TruthAccount] {
        &self.accounts
    }

    /// One account.
    pub fn account(&self, id: &AccountId) -> Option<&TruthAccount> {
        self.account_index
            .get(id)
            .map(|index| &self.accounts[*index])
    }

    /// The customer accounts.
    pub fn customers(&self) -> impl Iterator<Item = &TruthAccount> {
        self.accounts
            .iter()
            .filter(|account| account.role == AccountRole::Customer)
    }

    /// The account and all accounts below it, parents first.
    pub fn descendants(&self, id: &AccountId) -> Vec<AccountId> {
        let mut out = Vec::new();
        if self.account_index.contains_key(id) {
            out.push(id.clone());
        }
        let mut index = 0;
        while index < out.len() {
            if let Some(account) = self.account(&out[index]) {
                out.extend(account.children.iter().cloned());
            }
            index += 1;
        }
        out
    }

    /// One connector.
    pub fn connector(&self, id: &ConnectorId) -> Option<&TruthConnector> {
        self.connectors.get(id).map(|entry| &entry.truth)
    }

    /// The connectors of one account, in Keepit's order (deletion-pending ones included).
    pub fn connectors_of(&self, account: &AccountId) -> Vec<&TruthConnector> {
        self.account(account)
            .map(|account| {
                account
                    .connectors
                    .iter()
                    .filter_map(|id| self.connector(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every connector, in account order.
    pub fn connectors(&self) -> impl Iterator<Item = &TruthConnector> {
        self.accounts
            .iter()
            .flat_map(|account| account.connectors.iter())
            .filter_map(|id| self.connector(id))
    }

    /// Number of connectors.
    pub fn connector_count(&self) -> usize {
        self.connectors.len()
    }

    /// The jobs of one connector: finished ones by end time, then unfinished ones.
    pub fn jobs_of(&self, connector: &ConnectorId) -> &[TruthJob] {
        self.connectors
            .get(connector)
            .map(|entry| entry.jobs.as_slice())
            .unwrap_or_default()
    }

    /// Every job, in connector order.
    pub fn jobs(&self) -> impl Iterator<Item = &TruthJob> {
        self.accounts
            .iter()
            .flat_map(|account| account.connectors.iter())
            .flat_map(|id| self.jobs_of(id).iter())
    }

    /// One job.
    pub fn job(&self, id: &JobId) -> Option<&TruthJob> {
        let connector = self.job_index.get(id)?;
        self.jobs_of(connector).iter().find(|job| &job.id == id)
    }

    /// Number of jobs.
    pub fn job_count(&self) -> usize {
        self.job_index.len()
    }

    /// The audit events of one account (not its descendants), oldest first.
    pub fn audit_events_of(&self, account: &AccountId) -> &[TruthAuditEvent] {
        self.account_index
            .get(account)
            .map(|index| self.audit[*index].as_slice())
            .unwrap_or_default()
    }

    /// Number of audit events.
    pub fn audit_event_count(&self) -> usize {
        self.audit.iter().map(Vec::len).sum()
    }

    /// The rows of a job's skipped-items CSV (empty when nothing was skipped).
    pub fn skipped_items(&self, job: &JobId) -> Vec<TruthSkippedItem> {
        match self.job(job) {
            Some(found) => generate::skipped_items(found, self.account(&found.account)),
            None => Vec::new(),
        }
    }

    /// The cancellations received so far.
    pub fn cancellations(&self) -> &[Cancellation] {
        &self.cancellations
    }

    /// A full copy of the ground truth, statuses decided at the fleet's clock.
    pub fn ground_truth(&self) -> GroundTruth {
        let now = self.now;
        let connectors = self.connectors().cloned().collect();
        let jobs = self
            .jobs()
            .map(|job| {
                let mut job = job.clone();
                job.status = decide_status(&job.observation, now);
                job
            })
            .collect();
        let mut audit_events: Vec<TruthAuditEvent> = self
            .audit
            .iter()
            .flat_map(|events| events.iter().cloned())
            .collect();
        audit_events.sort_by_key(|event| (event.time, event.seq));
        GroundTruth {
            now,
            parent: self.parent.clone(),
            accounts: self.accounts.clone(),
            connectors,
            jobs,
            audit_events,
            cancellations: self.cancellations.clone(),
        }
    }

    // ---- changes ----------------------------------------------------------------------

    /// Moves the fleet's clock forward. Statuses in [`Fleet::ground_truth`] are decided
    /// at the new time; default windows of served queries end at it.
    pub fn advance_clock(&mut self, by: std::time::Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        self.now = self.now.checked_add_signed(by).unwrap_or(self.now);
        let now = self.now;
        for entry in self.connectors.values_mut() {
            for job in &mut entry.jobs {
                job.status = decide_status(&job.observation, now);
            }
        }
    }

    /// Adds a healthy connector of `kind` to a customer account, created at the fleet's
    /// clock, with no snapshot and no job yet. It is listed last in the account's devices.
    pub fn add_connector(
        &mut self,
        account: &AccountId,
        kind: ConnectorKind,
    ) -> Result<ConnectorId> {
        generate::add_connector(self, account, kind)
    }

    /// Takes an account out of the MSP's tree, as when the customer moves to another
    /// partner: its parent no longer lists it (nor what is below it). Its own data
    /// stays, so [`Fleet::move_account_back`] restores it as it was.
    pub fn move_account_out(&mut self, account: &AccountId) -> Result<()> {
        let index = *self
            .account_index
            .get(account)
            .ok_or_else(|| Error::UnknownAccount(account.clone()))?;
        if let Some(parent) = self.accounts[index].parent.clone()
            && let Some(&parent_index) = self.account_index.get(&parent)
        {
            self.accounts[parent_index]
                .children
                .retain(|child| child != account);
        }
        Ok(())
    }

    /// Lists an account under its parent again (see [`Fleet::move_account_out`]).
    pub fn move_account_back(&mut self, account: &AccountId) -> Result<()> {
        let index = *self
            .account_index
            .get(account)
            .ok_or_else(|| Error::UnknownAccount(account.clone()))?;
        if let Some(parent) = self.accounts[index].parent.clone()
            && let Some(&parent_index) = self.account_index.get(&parent)
            && !self.accounts[parent_index].children.contains(account)
        {
            self.accounts[parent_index].children.push(account.clone());
        }
        Ok(())
    }

    /// Removes a connector: it disappears from `devices`, and its own endpoints answer 404.
    pub fn remove_connector(&mut self, connector: &ConnectorId) -> Result<TruthConnector> {
        let entry = self
            .connectors
            .remove(connector)
            .ok_or_else(|| Error::UnknownConnector(connector.clone()))?;
        for job in &entry.jobs {
            self.job_index.remove(&job.id);
        }
        if let Some(index) = self.account_index.get(&entry.truth.account) {
            self.accounts[*index]
                .connectors
                .retain(|id| id != connector);
        }
        Ok(entry.truth)
    }

    /// Schedules a connector for deletion: it is then listed only with `?all=1`.
    pub fn schedule_connector_deletion(
        &mut self,
        connector: &ConnectorId,
        deadline: DateTime<Utc>,
    ) -> Result<()> {
        let entry = self
            .connectors
            .get_mut(connector)
            .ok_or_else(|| Error::UnknownConnector(connector.clone()))?;
        entry.truth.deletion_deadline = Some(deadline);
        Ok(())
    }

    /// Changes what `…/health` serves for a connector.
    pub fn set_connector_health(
        &mut self,
        connector: &ConnectorId,
        health: Health,
        reason: HealthReason,
    ) -> Result<()> {
        let entry = self
            .connectors
            .get_mut(connector)
            .ok_or_else(|| Error::UnknownConnector(connector.clone()))?;
        entry.truth.health = health;
        entry.truth.health_reason = reason;
        Ok(())
    }

    /// Changes what `…/status` serves for a connector (`ecode` exactly as on the wire).
    pub fn set_connector_error_code(
        &mut self,
        connector: &ConnectorId,
        ecode: Option<&str>,
    ) -> Result<()> {
        let entry = self
            .connectors
            .get_mut(connector)
            .ok_or_else(|| Error::UnknownConnector(connector.clone()))?;
        entry.truth.ecode = ecode.map(str::to_owned);
        entry.truth.status_code = if ecode.is_some() { 5 } else { 0 };
        Ok(())
    }

    /// Adds a job to a connector. A finished job ends at the fleet's clock (advance the
    /// clock first to see it in a later window); a running job started ten minutes ago;
    /// a scheduled job starts in an hour. A successful backup adds a complete snapshot,
    /// an incomplete one a partial snapshot. Returns the job with its decided status.
    pub fn push_job(&mut self, connector: &ConnectorId, outcome: JobOutcome) -> Result<TruthJob> {
        generate::push_job(self, connector, outcome)
    }

    /// Adds `n` audit events to an account, one second apart and ending at the fleet's clock.
    pub fn push_audit_events(
        &mut self,
        account: &AccountId,
        n: usize,
    ) -> Result<Vec<TruthAuditEvent>> {
        generate::push_audit_events(self, account, n)
    }

    /// Records a cancellation; a job that had not finished becomes cancelled.
    pub(crate) fn cancel_job(&mut self, job: &JobId, at: DateTime<Utc>) -> Result<Cancellation> {
        let connector = self
            .job_index
            .get(job)
            .cloned()
            .ok_or_else(|| Error::UnknownJob(job.clone()))?;
        let now = self.now;
        let entry = self
            .connectors
            .get_mut(&connector)
            .ok_or_else(|| Error::UnknownJob(job.clone()))?;
        let mut took_effect = false;
        if let Some(found) = entry.jobs.iter_mut().find(|candidate| &candidate.id == job)
            && !found.is_finished()
        {
            found.observation.cancelled = Some(at);
            found.observation.active = false;
            found.status = decide_status(&found.observation, now);
            took_effect = true;
        }
        entry.jobs.sort_by_key(job_order);
        let cancellation = Cancellation {
            job: job.clone(),
            at,
            took_effect,
        };
        self.cancellations.push(cancellation.clone());
        Ok(cancellation)
    }
}

/// Which reasons of the catalogue apply to jobs of a family.
pub fn job_reasons(family: JobFamily) -> Vec<ReasonCode> {
    let scope = keepit_domain::FailureReason::scope_of(family);
    let mut codes: Vec<ReasonCode> = keepit_domain::catalogue(scope)
        .map(|entry| entry.code)
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

#[cfg(test)]
mod tests;
