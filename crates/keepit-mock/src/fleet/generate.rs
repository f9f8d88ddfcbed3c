//! Generating a fleet from a spec, and the changes made to it afterwards.
//!
//! Everything is drawn from one seeded generator in a fixed order, and nothing iterates
//! a hash map, so the same spec always gives the same fleet.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use keepit_domain::{
    AccountId, AuditCategory, ConnectorId, ConnectorKind, Health, HealthReason, JobFamily,
    JobStatistics, JobStatus, JobType, ReasonCode, SnapshotKind, categorize_audit,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng as _};

use crate::error::{Error, Result};
use crate::fleet::audit_templates::{AuditTemplate, Meta, Needs, TEMPLATES};
use crate::fleet::jobs::{JobPlan, build_job};
use crate::fleet::scenario::{Behaviour, ConnectorScenario};
use crate::fleet::truth::{
    AccountRole, TruthAccount, TruthAuditEvent, TruthConnector, TruthJob, TruthSkippedItem,
    TruthSnapshot,
};
use crate::fleet::{ConnectorEntry, Fleet, FleetSpec, JobOutcome, job_order, job_reasons, names};

/// Salt of the generator that drives changes after generation.
const MUTATION_SALT: u64 = 0x6b65_6570_6974_6d75;

const RESTORE_TYPES: [JobType; 4] = [
    JobType::Restore,
    JobType::ItemRestore,
    JobType::PstDownload,
    JobType::ZipDownload,
];

fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

fn seconds(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A random whole-second time in `[from, to)` (or `from` when the range is empty).
fn time_between(rng: &mut StdRng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds();
    if span <= 0 {
        return from;
    }
    from + seconds(rng.random_range(0..span))
}

struct AccountDraft {
    truth: TruthAccount,
    short: String,
}

pub(crate) fn generate(spec: &FleetSpec) -> Fleet {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let now = spec
        .now
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap_or(spec.now);
    let window_start = now - TimeDelta::days(i64::from(spec.days_of_history));

    // ---- accounts -----------------------------------------------------------------------
    let mut drafts: Vec<AccountDraft> = Vec::new();
    let product = names::guid(&mut rng, 3);
    let msp = names::msp(&mut rng);
    let parent_created = now - TimeDelta::days(rng.random_range(4 * 365..8 * 365));
    let parent = new_account(
        &mut rng,
        None,
        AccountRole::Partner,
        0,
        &msp,
        parent_created,
        Some(product.clone()),
    );
    let parent_id = parent.truth.id.clone();
    drafts.push(parent);
    // The MSP's own support login acts on customer accounts in the audit log.
    drafts[0]
        .truth
        .users
        .insert(0, format!("support@{}", msp.domain));

    let mut chains: Vec<Vec<usize>> = Vec::new();
    if spec.depth >= 2 {
        let branches = (spec.accounts / 15).max(1);
        let mut reseller_index = 0;
        for _ in 0..branches {
            let mut chain = Vec::new();
            let mut above = 0usize;
            for level in 1..spec.depth {
                let company = names::reseller(reseller_index);
                reseller_index += 1;
                let created = now - TimeDelta::days(rng.random_range(400..2_000));
                let draft = new_account(
                    &mut rng,
                    Some(drafts[above].truth.id.clone()),
                    AccountRole::SubPartner,
                    level,
                    &company,
                    created,
                    Some(product.clone()),
                );
                drafts.push(draft);
                above = drafts.len() - 1;
                chain.push(above);
            }
            chains.push(chain);
        }
    }
    let mut used_names: HashSet<String> = HashSet::new();
    let mut customer_indices = Vec::new();
    for index in 0..spec.accounts {
        let above = if chains.is_empty() {
            0
        } else if index < chains.len() {
            // Every branch gets a customer at the deepest level.
            *chains[index].last().unwrap_or(&0)
        } else if rng.random_bool(0.3) {
            0
        } else {
            let chain = &chains[rng.random_range(0..chains.len())];
            chain[rng.random_range(0..chain.len())]
        };
        let company = names::customer(&mut rng, &mut used_names);
        let created = now - TimeDelta::days(rng.random_range(30..1_500));
        let own_product = rng.random_bool(0.85).then(|| product.clone());
        let depth = drafts[above].truth.depth + 1;
        let draft = new_account(
            &mut rng,
            Some(drafts[above].truth.id.clone()),
            AccountRole::Customer,
            depth,
            &company,
            created,
            own_product,
        );
        drafts.push(draft);
        customer_indices.push(drafts.len() - 1);
    }
    // A few customers are scheduled for deletion; at least one when there are five or more.
    let forced_deletion = (spec.accounts >= 5).then(|| rng.random_range(0..spec.accounts));
    for (position, index) in customer_indices.iter().enumerate() {
        if Some(position) == forced_deletion || rng.random_bool(0.03) {
            drafts[*index].truth.deletion_deadline =
                Some(now + TimeDelta::days(rng.random_range(3..40)));
        }
    }
    // Children lists, in creation order.
    let index_of: HashMap<AccountId, usize> = drafts
        .iter()
        .enumerate()
        .map(|(index, draft)| (draft.truth.id.clone(), index))
        .collect();
    for index in 0..drafts.len() {
        if let Some(above) = drafts[index].truth.parent.clone() {
            let child = drafts[index].truth.id.clone();
            drafts[index_of[&above]].truth.children.push(child);
        }
    }

    // ---- connectors ---------------------------------------------------------------------
    let counts: Vec<usize> = match spec.total_connectors {
        Some(total) => {
            let base = total / spec.accounts;
            let remainder = total % spec.accounts;
            let mut extra: Vec<usize> = (0..spec.accounts).collect();
            extra.shuffle(&mut rng);
            let lucky: HashSet<usize> = extra.into_iter().take(remainder).collect();
            (0..spec.accounts)
                .map(|position| base + usize::from(lucky.contains(&position)))
                .collect()
        }
        None => {
            let (min, max) = spec.connectors_per_account;
            (0..spec.accounts)
                .map(|_| rng.random_range(min..=max))
                .collect()
        }
    };
    let total: usize = counts.iter().sum();
    let mut plan = kind_plan(&mut rng, total);

    let mut entries: Vec<ConnectorEntry> = Vec::with_capacity(total);
    let mut behaviours: Vec<Behaviour> = Vec::with_capacity(total);
    for (position, account_index) in customer_indices.iter().enumerate() {
        let orglink = names::guid(&mut rng, 3);
        for ordinal in 1..=counts[position] {
            let kind = plan.pop().unwrap_or(ConnectorKind::Microsoft365);
            let draft = &drafts[*account_index];
            let created_from = draft.truth.created.max(now - TimeDelta::days(1_000));
            let created = time_between(&mut rng, created_from, now - TimeDelta::days(20));
            let same_kind = entries
                .iter()
                .rev()
                .take(ordinal - 1)
                .filter(|entry| entry.truth.kind == kind)
                .count();
            let name = if same_kind == 0 {
                format!("{} {}", draft.short, kind.display_name())
            } else {
                format!("{} {} {}", draft.short, kind.display_name(), same_kind + 1)
            };
            let truth = new_connector(
                &mut rng,
                draft.truth.id.clone(),
                name,
                kind,
                created,
                &orglink,
            );
            entries.push(ConnectorEntry {
                truth,
                ordinal,
                jobs: Vec::new(),
            });
        }
    }

    // ---- scenarios ----------------------------------------------------------------------
    let mut assigned: Vec<Option<ConnectorScenario>> = vec![None; entries.len()];
    let mut required: Vec<ConnectorScenario> = ConnectorScenario::ALL
        .iter()
        .copied()
        .filter(|scenario| *scenario != ConnectorScenario::Healthy)
        .collect();
    // Scenarios that need a particular kind pick first, the broadest last.
    required.sort_by_key(|scenario| {
        ConnectorKind::known()
            .iter()
            .filter(|kind| scenario.fits(kind))
            .count()
    });
    for scenario in required {
        let candidates: Vec<usize> = (0..entries.len())
            .filter(|index| {
                assigned[*index].is_none() && scenario.fits(&entries[*index].truth.kind)
            })
            .collect();
        if let Some(chosen) = candidates.get(rng.random_range(0..candidates.len().max(1))) {
            assigned[*chosen] = Some(scenario);
        }
    }
    let pool = [
        ConnectorScenario::StaleCritical,
        ConnectorScenario::StaleWarning,
        ConnectorScenario::AuthenticationFailed,
        ConnectorScenario::AuthenticationFailedStale,
        ConnectorScenario::SeatLimitExceeded,
        ConnectorScenario::ConfigurationInvalid,
        ConnectorScenario::LatestBackupUnsuccessful,
        ConnectorScenario::LatestBackupIncomplete,
        ConnectorScenario::Inaccessible,
        ConnectorScenario::DeletionPending,
        ConnectorScenario::InitialConfigurationPending,
        ConnectorScenario::TeamsAppMissing,
        ConnectorScenario::NotGlobalAdmin,
    ];
    for (index, slot) in assigned.iter_mut().enumerate() {
        if slot.is_some() {
            continue;
        }
        let kind = &entries[index].truth.kind;
        let fitting: Vec<ConnectorScenario> = pool
            .iter()
            .copied()
            .filter(|scenario| scenario.fits(kind))
            .collect();
        *slot = Some(if rng.random_bool(0.82) || fitting.is_empty() {
            ConnectorScenario::Healthy
        } else {
            fitting[rng.random_range(0..fitting.len())]
        });
    }
    for (index, entry) in entries.iter_mut().enumerate() {
        let scenario = assigned[index].unwrap_or(ConnectorScenario::Healthy);
        let profile = scenario.profile();
        let truth = &mut entry.truth;
        truth.scenario = scenario;
        truth.health = profile.health;
        truth.health_reason = profile.reason.clone();
        truth.ecode = profile.ecode.map(str::to_owned);
        truth.status_code = profile.status_code;
        truth.condition = profile.condition;
        match scenario {
            ConnectorScenario::InitialConfigurationPending => {
                truth.created = now - TimeDelta::days(rng.random_range(1..4));
            }
            ConnectorScenario::Inaccessible => truth.accessible = false,
            ConnectorScenario::DeletionPending => {
                truth.deletion_deadline = Some(now + TimeDelta::days(rng.random_range(5..30)));
            }
            _ => {}
        }
        behaviours.push(profile.behaviour);
    }

    // ---- backup history ---------------------------------------------------------------
    for (index, entry) in entries.iter_mut().enumerate() {
        backup_history(&mut rng, spec, now, window_start, entry, behaviours[index]);
    }

    // ---- restores ---------------------------------------------------------------------
    for (index, entry) in entries.iter_mut().enumerate() {
        if behaviours[index] == Behaviour::Never || entry.jobs.is_empty() {
            continue;
        }
        for day in 0..i64::from(spec.days_of_history) {
            if !rng.random_bool(0.025) {
                continue;
            }
            let day_start = window_start + TimeDelta::days(day);
            let start = time_between(&mut rng, day_start, day_start + TimeDelta::days(1))
                .min(now - hours(4))
                .max(window_start);
            let job_type = match rng.random_range(0..20) {
                0..8 => JobType::Restore,
                8..15 => JobType::ItemRestore,
                15..18 => JobType::PstDownload,
                _ => JobType::ZipDownload,
            };
            let (target, reason) = match rng.random_range(0..100) {
                0..70 => (JobStatus::Successful, None),
                70..82 => (JobStatus::Incomplete, Some(ReasonCode::SomeItemsSkipped)),
                82..86 => (JobStatus::Unsuccessful, Some(ReasonCode::AllItemsSkipped)),
                86..95 => {
                    let reasons = [
                        ReasonCode::EncounteredProblem,
                        ReasonCode::IncidentOccurred,
                        ReasonCode::JobAborted,
                        ReasonCode::AuthorizationServerUnavailable,
                        ReasonCode::AuthenticationFailed,
                    ];
                    (
                        JobStatus::Unsuccessful,
                        Some(reasons[rng.random_range(0..reasons.len())]),
                    )
                }
                _ => (JobStatus::Cancelled, None),
            };
            let plan = JobPlan {
                job_type,
                target,
                reason,
                start,
                run: TimeDelta::minutes(rng.random_range(2..60)),
                manual: true,
            };
            let job = build_job(&mut rng, &plan, &entry.truth, entry.ordinal, now);
            entry.jobs.push(job);
        }
    }

    // ---- coverage: every restore reason and type, every backup reason, every status -----
    let eligible: Vec<usize> = {
        let healthy: Vec<usize> = (0..entries.len())
            .filter(|index| {
                entries[*index].truth.scenario == ConnectorScenario::Healthy
                    && !entries[*index].jobs.is_empty()
            })
            .collect();
        if healthy.is_empty() {
            (0..entries.len())
                .filter(|index| behaviours[*index] != Behaviour::Never)
                .collect()
        } else {
            healthy
        }
    };
    if !eligible.is_empty() {
        let mut plans: Vec<JobPlan> = Vec::new();
        let past = |rng: &mut StdRng| {
            time_between(
                rng,
                window_start + hours(1),
                (now - hours(36)).max(window_start + hours(2)),
            )
        };
        for (position, code) in job_reasons(JobFamily::Restore).into_iter().enumerate() {
            let target = match code {
                ReasonCode::SomeItemsSkipped | ReasonCode::IncidentOccurred => {
                    JobStatus::Incomplete
                }
                _ => JobStatus::Unsuccessful,
            };
            plans.push(JobPlan {
                job_type: RESTORE_TYPES[position % RESTORE_TYPES.len()].clone(),
                target,
                reason: Some(code),
                start: past(&mut rng),
                run: TimeDelta::minutes(rng.random_range(2..60)),
                manual: true,
            });
        }
        for job_type in RESTORE_TYPES {
            plans.push(JobPlan {
                job_type,
                target: JobStatus::Successful,
                reason: None,
                start: past(&mut rng),
                run: TimeDelta::minutes(rng.random_range(2..60)),
                manual: true,
            });
        }
        plans.push(JobPlan {
            job_type: JobType::Restore,
            target: JobStatus::Cancelled,
            reason: None,
            start: past(&mut rng),
            run: TimeDelta::minutes(rng.random_range(2..30)),
            manual: true,
        });
        let covered: BTreeSet<ReasonCode> = entries
            .iter()
            .flat_map(|entry| entry.jobs.iter())
            .filter(|job| job.family() == JobFamily::Backup)
            .filter_map(|job| job.reason)
            .collect();
        for code in job_reasons(JobFamily::Backup) {
            if !covered.contains(&code) {
                plans.push(JobPlan {
                    job_type: JobType::Backup,
                    target: JobStatus::Unsuccessful,
                    reason: Some(code),
                    start: past(&mut rng),
                    run: seconds(rng.random_range(20..240)),
                    manual: true,
                });
            }
        }
        for plan in plans {
            let chosen = eligible[rng.random_range(0..eligible.len())];
            let entry = &mut entries[chosen];
            let job = build_job(&mut rng, &plan, &entry.truth, entry.ordinal, now);
            entry.jobs.push(job);
        }
        let statuses: BTreeSet<JobStatus> = entries
            .iter()
            .flat_map(|entry| entry.jobs.iter())
            .map(|job| job.status)
            .collect();
        for status in JobStatus::ALL {
            if statuses.contains(&status) {
                continue;
            }
            let start = match status {
                JobStatus::Scheduled => now + hours(2),
                JobStatus::InProgress => now - TimeDelta::minutes(10),
                _ => past(&mut rng),
            };
            let plan = JobPlan {
                job_type: JobType::Backup,
                target: status,
                reason: (status == JobStatus::Incomplete).then_some(ReasonCode::JobAborted),
                start,
                run: TimeDelta::minutes(rng.random_range(5..60)),
                manual: true,
            };
            let chosen = eligible[rng.random_range(0..eligible.len())];
            let entry = &mut entries[chosen];
            let job = build_job(&mut rng, &plan, &entry.truth, entry.ordinal, now);
            entry.jobs.push(job);
        }
    }

    // ---- snapshots and stale health -----------------------------------------------------
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.jobs.sort_by_key(job_order);
        derive_snapshots(&mut rng, window_start, entry, behaviours[index]);
        if let Behaviour::Stopped(..) = behaviours[index] {
            let age = entry.truth.last_success().map(|at| now - at);
            entry.truth.health = match age {
                Some(age) if age <= hours(24) => Health::Healthy,
                Some(age) if age <= hours(48) => Health::Unhealthy,
                _ => Health::Critical,
            };
        }
    }

    // ---- attach connectors to accounts ---------------------------------------------------
    for entry in &entries {
        let index = index_of[&entry.truth.account];
        drafts[index].truth.connectors.push(entry.truth.id.clone());
    }
    let accounts: Vec<TruthAccount> = drafts.into_iter().map(|draft| draft.truth).collect();

    // ---- audit events -------------------------------------------------------------------
    let names_of: HashMap<ConnectorId, String> = entries
        .iter()
        .map(|entry| (entry.truth.id.clone(), entry.truth.name.clone()))
        .collect();
    let mut seq = 0u64;
    let mut cache = CategoryCache::default();
    let mut audit: Vec<Vec<TruthAuditEvent>> = vec![Vec::new(); accounts.len()];
    let msp_login = accounts[0].users.first().cloned().unwrap_or_default();
    for (index, account) in accounts.iter().enumerate() {
        let context = EventContext::new(account, &accounts, &index_of, &names_of, &msp_login);
        for day in 0..i64::from(spec.days_of_history) {
            let day_start = window_start + TimeDelta::days(day);
            for _ in 0..spec.audit_events_per_account_per_day {
                let time = time_between(&mut rng, day_start, day_start + TimeDelta::days(1));
                let Some(template) = pick_template(&mut rng, &context) else {
                    continue;
                };
                audit[index].push(make_event(
                    &mut rng, &mut cache, &context, template, time, seq,
                ));
                seq += 1;
            }
        }
    }
    // One event of every kind, so every category is present whatever the seed.
    let showcase = (0..accounts.len())
        .filter(|index| accounts[*index].role == AccountRole::Customer)
        .max_by_key(|index| (accounts[*index].connectors.len(), usize::MAX - index));
    for (position, template) in TEMPLATES.iter().enumerate() {
        let target = match template.needs {
            Needs::Child => Some(0),
            Needs::Connector => showcase.filter(|index| !accounts[*index].connectors.is_empty()),
            Needs::Nothing => showcase.or(Some(0)),
        };
        let Some(target) = target else { continue };
        let context = EventContext::new(
            &accounts[target],
            &accounts,
            &index_of,
            &names_of,
            &msp_login,
        );
        if !context.can_use(template) {
            continue;
        }
        let offset = i64::try_from(position).unwrap_or(0) + 1;
        let time = now - seconds(offset * 397);
        audit[target].push(make_event(
            &mut rng, &mut cache, &context, template, time, seq,
        ));
        seq += 1;
    }
    for events in &mut audit {
        events.sort_by_key(|event| (event.time, event.seq));
    }

    // ---- indexes ------------------------------------------------------------------------
    let account_index = accounts
        .iter()
        .enumerate()
        .map(|(index, account)| (account.id.clone(), index))
        .collect();
    let mut job_index = HashMap::new();
    let mut connectors = HashMap::with_capacity(entries.len());
    for entry in entries {
        for job in &entry.jobs {
            job_index.insert(job.id.clone(), entry.truth.id.clone());
        }
        connectors.insert(entry.truth.id.clone(), entry);
    }
    Fleet {
        spec: spec.clone(),
        now,
        parent: parent_id,
        accounts,
        account_index,
        connectors,
        job_index,
        audit,
        cancellations: Vec::new(),
        rng: StdRng::seed_from_u64(spec.seed ^ MUTATION_SALT),
        next_audit_seq: seq,
    }
}

fn new_account(
    rng: &mut StdRng,
    parent: Option<AccountId>,
    role: AccountRole,
    depth: usize,
    company: &names::Company,
    created: DateTime<Utc>,
    product: Option<String>,
) -> AccountDraft {
    let id = AccountId::new(&names::guid(rng, 3)).expect("generated GUIDs are valid ids");
    let people = rng.random_range(1..=3);
    let mut users = Vec::new();
    let mut full_name = String::new();
    for person in 0..people {
        let (full, email) = names::person(rng, &company.domain);
        if person == 0 {
            full_name = full;
        }
        if !users.contains(&email) {
            users.push(email);
        }
    }
    let email = users.first().cloned().unwrap_or_default();
    AccountDraft {
        truth: TruthAccount {
            id,
            parent,
            role,
            depth,
            company_name: company.name.clone(),
            email,
            full_name,
            country: names::country(rng),
            created,
            product,
            deletion_deadline: None,
            children: Vec::new(),
            connectors: Vec::new(),
            users,
            api_token_login: names::token_login(rng),
        },
        short: company.short.clone(),
    }
}

fn new_connector(
    rng: &mut StdRng,
    account: AccountId,
    name: String,
    kind: ConnectorKind,
    created: DateTime<Utc>,
    orglink: &str,
) -> TruthConnector {
    let id = ConnectorId::new(&names::guid(rng, 3)).expect("generated GUIDs are valid ids");
    let microsoft = matches!(
        kind,
        ConnectorKind::Microsoft365
            | ConnectorKind::EntraId
            | ConnectorKind::Dynamics365
            | ConnectorKind::PowerBi
    );
    let backup_retention = if microsoft {
        Some("P1Y".to_owned())
    } else {
        ["P1Y", "P3M", "P10Y", ""][rng.random_range(0..4)]
            .to_owned()
            .into()
    }
    .filter(|value: &String| !value.is_empty());
    TruthConnector {
        id,
        account,
        name,
        created,
        accessible: true,
        deletion_deadline: None,
        backup_retention,
        orglink: microsoft.then(|| orglink.to_owned()),
        scenario: ConnectorScenario::Healthy,
        health: Health::Healthy,
        health_reason: HealthReason::Ok,
        status_code: 0,
        ecode: None,
        condition: None,
        snapshots: Vec::new(),
        kind,
    }
}

/// The kinds of `total` connectors, to be popped from the end: every known kind first,
/// then the extra kinds the kind-specific scenarios need, then a weighted mix.
fn kind_plan(rng: &mut StdRng, total: usize) -> Vec<ConnectorKind> {
    let mut plan: Vec<ConnectorKind> = ConnectorKind::known();
    plan.extend([
        ConnectorKind::Microsoft365,
        ConnectorKind::Microsoft365,
        ConnectorKind::Microsoft365,
        ConnectorKind::EntraId,
        ConnectorKind::AzureDevOps,
        ConnectorKind::Salesforce,
        ConnectorKind::Salesforce,
    ]);
    let weighted: Vec<(ConnectorKind, u32)> = ConnectorKind::known()
        .into_iter()
        .map(|kind| {
            let weight = match kind {
                ConnectorKind::Microsoft365 => 60,
                ConnectorKind::EntraId => 40,
                ConnectorKind::GoogleWorkspace => 20,
                ConnectorKind::Salesforce => 12,
                ConnectorKind::Dynamics365 | ConnectorKind::PowerBi => 8,
                ConnectorKind::AzureDevOps | ConnectorKind::Zendesk => 6,
                _ => 3,
            };
            (kind, weight)
        })
        .collect();
    let sum: u32 = weighted.iter().map(|(_, weight)| weight).sum();
    while plan.len() < total {
        let mut draw = rng.random_range(0..sum);
        for (kind, weight) in &weighted {
            if draw < *weight {
                plan.push(kind.clone());
                break;
            }
            draw -= weight;
        }
    }
    plan.truncate(total);
    plan.shuffle(rng);
    plan
}

/// Generates the scheduled backups of one connector over the window.
fn backup_history(
    rng: &mut StdRng,
    spec: &FleetSpec,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
    entry: &mut ConnectorEntry,
    behaviour: Behaviour,
) {
    if behaviour == Behaviour::Never || spec.jobs_per_connector_per_day == 0 {
        return;
    }
    let interval = 86_400 / i64::from(spec.jobs_per_connector_per_day);
    let phase = rng.random_range(0..interval);
    let stop = match behaviour {
        Behaviour::Stopped(low, high) => Some(now - hours(rng.random_range(low..=high))),
        _ => None,
    };
    let mut failing_since = match behaviour {
        Behaviour::Failing(low, high, _) => Some(now - hours(rng.random_range(low..=high))),
        _ => None,
    };
    // Slot times and the run time a successful backup would take.
    let mut slots: Vec<(DateTime<Utc>, TimeDelta)> = Vec::new();
    let mut future = None;
    let mut at = window_start + seconds(phase);
    while at <= now + seconds(interval) {
        if at > now {
            future = Some(at);
            break;
        }
        if at >= entry.truth.created && stop.is_none_or(|stop| at <= stop) {
            slots.push((at, TimeDelta::minutes(rng.random_range(4..95))));
        }
        at += seconds(interval);
    }
    let running = |(at, run): &(DateTime<Utc>, TimeDelta)| *at + seconds(25) + *run > now;
    let last_finished = slots.iter().rposition(|slot| !running(slot));
    if let (Some(since), Some(last)) = (failing_since, last_finished) {
        // At least the latest finished backup fails.
        failing_since = Some(since.min(slots[last].0));
    }
    let last_before_failing = failing_since.and_then(|since| {
        slots
            .iter()
            .rposition(|slot| slot.0 < since && !running(slot))
    });
    for (index, slot) in slots.iter().enumerate() {
        let (start, run) = *slot;
        let mut plan = JobPlan {
            job_type: JobType::Backup,
            target: JobStatus::Successful,
            reason: None,
            start,
            run,
            manual: false,
        };
        if running(slot) {
            plan.target = JobStatus::InProgress;
        } else if let (Behaviour::Failing(_, _, reason), Some(since)) = (behaviour, failing_since)
            && start >= since
        {
            plan.target = JobStatus::Unsuccessful;
            plan.reason = Some(reason);
            plan.run = seconds(rng.random_range(20..240));
        } else if let Behaviour::LatestFails(reason, incomplete) = behaviour
            && Some(index) == last_finished
        {
            plan.reason = Some(reason);
            if incomplete {
                plan.target = JobStatus::Incomplete;
            } else {
                plan.target = JobStatus::Unsuccessful;
                plan.run = seconds(rng.random_range(20..240));
            }
        } else {
            let forced_success = match behaviour {
                Behaviour::Normal | Behaviour::Stopped(..) => Some(index) == last_finished,
                Behaviour::LatestFails(..) => last_finished.is_some_and(|last| index + 1 == last),
                Behaviour::Failing(..) => Some(index) == last_before_failing,
                Behaviour::Never => false,
            };
            if !forced_success {
                random_backup_outcome(rng, &mut plan);
            }
        }
        let job = build_job(rng, &plan, &entry.truth, entry.ordinal, now);
        entry.jobs.push(job);
    }
    let keeps_scheduling = matches!(
        behaviour,
        Behaviour::Normal | Behaviour::LatestFails(..) | Behaviour::Failing(..)
    );
    if let Some(at) = future
        && keeps_scheduling
        && rng.random_bool(0.5)
    {
        let plan = JobPlan {
            job_type: JobType::Backup,
            target: JobStatus::Scheduled,
            reason: None,
            start: at,
            run: TimeDelta::minutes(30),
            manual: false,
        };
        let job = build_job(rng, &plan, &entry.truth, entry.ordinal, now);
        entry.jobs.push(job);
    }
}

/// Most backups succeed; some are incomplete, unsuccessful or cancelled for passing reasons.
fn random_backup_outcome(rng: &mut StdRng, plan: &mut JobPlan) {
    let draw = rng.random_range(0..100);
    match draw {
        0..86 => {}
        86..91 => {
            let reasons = [
                ReasonCode::JobAborted,
                ReasonCode::IncidentOccurred,
                ReasonCode::EncounteredProblem,
            ];
            plan.target = JobStatus::Incomplete;
            plan.reason = Some(reasons[rng.random_range(0..reasons.len())]);
        }
        91..96 => {
            let reasons = [
                ReasonCode::EncounteredProblem,
                ReasonCode::AuthorizationServerUnavailable,
                ReasonCode::AuthorizationError,
                ReasonCode::JobAborted,
                ReasonCode::IncidentOccurred,
            ];
            plan.target = JobStatus::Unsuccessful;
            plan.reason = Some(reasons[rng.random_range(0..reasons.len())]);
            plan.run = seconds(rng.random_range(20..240));
        }
        _ => {
            plan.target = JobStatus::Cancelled;
            plan.run = TimeDelta::minutes(rng.random_range(1..20));
        }
    }
}

/// Snapshots follow the backups: a successful backup makes a complete snapshot, an
/// incomplete one a partial snapshot. Connectors older than the window also have one
/// complete snapshot from just before it.
fn derive_snapshots(
    rng: &mut StdRng,
    window_start: DateTime<Utc>,
    entry: &mut ConnectorEntry,
    behaviour: Behaviour,
) {
    let mut size: u64 = rng.random_range(1u64 << 30..500u64 << 30);
    let mut snapshots = Vec::new();
    if behaviour != Behaviour::Never && entry.truth.created < window_start {
        snapshots.push(TruthSnapshot {
            tstamp: window_start - hours(rng.random_range(1..12)),
            root: names::snapshot_root(rng),
            kind: SnapshotKind::Complete,
            size,
        });
    }
    for job in entry
        .jobs
        .iter()
        .filter(|job| job.family() == JobFamily::Backup)
    {
        let (kind, at) = match job.status {
            JobStatus::Successful => (SnapshotKind::Complete, job.observation.succeeded),
            JobStatus::Incomplete => (SnapshotKind::Partial, job.observation.failed),
            _ => continue,
        };
        let Some(at) = at else { continue };
        if let Some(JobStatistics::Backup(stats)) = job.statistics() {
            size = size
                .saturating_add(stats.added.bytes)
                .saturating_sub(stats.removed.bytes);
        }
        snapshots.push(TruthSnapshot {
            tstamp: at,
            root: names::snapshot_root(rng),
            kind,
            size,
        });
    }
    snapshots.sort_by_key(|snapshot| snapshot.tstamp);
    entry.truth.snapshots = snapshots;
}

// ---- audit events ------------------------------------------------------------------------

/// What an audit event may refer to at one account.
struct EventContext {
    account: AccountId,
    company: String,
    users: Vec<String>,
    api_token_login: String,
    msp_login: String,
    connectors: Vec<(ConnectorId, String)>,
    children: Vec<(AccountId, String)>,
}

impl EventContext {
    fn new(
        account: &TruthAccount,
        accounts: &[TruthAccount],
        index_of: &HashMap<AccountId, usize>,
        names_of: &HashMap<ConnectorId, String>,
        msp_login: &str,
    ) -> Self {
        EventContext {
            account: account.id.clone(),
            company: account.company_name.clone(),
            users: account.users.clone(),
            api_token_login: account.api_token_login.clone(),
            msp_login: msp_login.to_owned(),
            connectors: account
                .connectors
                .iter()
                .filter_map(|id| names_of.get(id).map(|name| (id.clone(), name.clone())))
                .collect(),
            children: account
                .children
                .iter()
                .filter_map(|id| {
                    index_of
                        .get(id)
                        .map(|index| (id.clone(), accounts[*index].company_name.clone()))
                })
                .collect(),
        }
    }

    fn can_use(&self, template: &AuditTemplate) -> bool {
        match template.needs {
            Needs::Nothing => true,
            Needs::Connector => !self.connectors.is_empty(),
            Needs::Child => !self.children.is_empty(),
        }
    }
}

fn pick_template(rng: &mut StdRng, context: &EventContext) -> Option<&'static AuditTemplate> {
    let usable: Vec<&'static AuditTemplate> = TEMPLATES
        .iter()
        .filter(|template| context.can_use(template))
        .collect();
    let sum: u32 = usable.iter().map(|template| template.weight).sum();
    if sum == 0 {
        return None;
    }
    let mut draw = rng.random_range(0..sum);
    for template in usable {
        if draw < template.weight {
            return Some(template);
        }
        draw -= template.weight;
    }
    None
}

/// Remembers `categorize_audit` per distinct record: messages repeat a lot (one per
/// template and connector), and the table lookup dominates generation time otherwise.
#[derive(Default)]
pub(crate) struct CategoryCache {
    known: HashMap<(&'static str, &'static str, bool, bool, String), AuditCategory>,
}

impl CategoryCache {
    fn categorize(&mut self, template: &AuditTemplate, event: &TruthAuditEvent) -> AuditCategory {
        let key = (
            template.area,
            template.acl,
            template.allowed,
            template.succeeded,
            event.message.clone(),
        );
        *self
            .known
            .entry(key)
            .or_insert_with(|| categorize_audit(&event.facts()))
    }
}

fn make_event(
    rng: &mut StdRng,
    cache: &mut CategoryCache,
    context: &EventContext,
    template: &AuditTemplate,
    time: DateTime<Utc>,
    seq: u64,
) -> TruthAuditEvent {
    let user = if context.users.is_empty() {
        context.msp_login.clone()
    } else {
        context.users[rng.random_range(0..context.users.len())].clone()
    };
    let token = match rng.random_range(0..100) {
        0..70 => user.clone(),
        70..85 => context.msp_login.clone(),
        _ => context.api_token_login.clone(),
    };
    let connector = (!context.connectors.is_empty())
        .then(|| context.connectors[rng.random_range(0..context.connectors.len())].clone());
    let child = (!context.children.is_empty())
        .then(|| context.children[rng.random_range(0..context.children.len())].clone());
    let message = template
        .message
        .replace("{user}", &user)
        .replace(
            "{connector}",
            connector
                .as_ref()
                .map(|(_, name)| name.as_str())
                .unwrap_or(""),
        )
        .replace(
            "{child}",
            child.as_ref().map(|(_, name)| name.as_str()).unwrap_or(""),
        );
    let metadata = match template.meta {
        Meta::None => Vec::new(),
        Meta::Job => vec![("job".to_owned(), names::guid(rng, 4))],
        Meta::Aname => vec![("aname".to_owned(), user)],
        Meta::Subaccount => child
            .as_ref()
            .map(|(id, _)| vec![("subaccount".to_owned(), id.to_string())])
            .unwrap_or_default(),
        Meta::Lifetime => vec![("lifetime".to_owned(), "P1Y".to_owned())],
    };
    let device = match template.needs {
        Needs::Connector => connector.map(|(id, _)| id),
        _ => None,
    };
    let mut event = TruthAuditEvent {
        seq,
        time,
        account: context.account.clone(),
        company: context.company.clone(),
        token,
        client_ip: format!("203.0.113.{}", rng.random_range(1..=254)),
        acl: template.acl.to_owned(),
        method: template.method.to_owned(),
        allowed: template.allowed,
        succeeded: template.succeeded,
        area: template.area.to_owned(),
        message,
        device,
        metadata,
        category: AuditCategory::Other,
    };
    event.category = cache.categorize(template, &event);
    event
}

// ---- skipped items -----------------------------------------------------------------------

/// FNV-1a, to seed each job's skipped items from its GUID alone.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The skipped-items rows of a job: at most 25, derived from the job GUID so they are
/// the same every time they are asked for.
pub(crate) fn skipped_items(
    job: &TruthJob,
    account: Option<&TruthAccount>,
) -> Vec<TruthSkippedItem> {
    let count = job.skipped_count().min(25);
    if count == 0 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(fnv1a(job.id.as_str()));
    let from = job
        .observation
        .started
        .or(job.observation.start)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let to = job.ended_at().unwrap_or(from + TimeDelta::minutes(1));
    let users: Vec<String> = account
        .map(|account| {
            account
                .users
                .iter()
                .map(|user| user.split('@').next().unwrap_or(user).to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut times: Vec<DateTime<Utc>> = (0..count)
        .map(|_| time_between(&mut rng, from, to))
        .collect();
    times.sort();
    times
        .into_iter()
        .map(|time| {
            let user = if users.is_empty() {
                "user".to_owned()
            } else {
                users[rng.random_range(0..users.len())].clone()
            };
            let path = names::item_path(&mut rng, &user);
            let message = match job.family() {
                JobFamily::Backup => format!("/uservisiblemsg: Failed to get file: {path}"),
                JobFamily::Restore => {
                    format!("/uservisiblemsg: Failed to restore file: {path}. Cause: CODE:507")
                }
            };
            TruthSkippedItem {
                time,
                account: job.account.clone(),
                device: job.connector.clone(),
                job: job.id.clone(),
                message,
            }
        })
        .collect()
}

// ---- changes after generation -----------------------------------------------------------

pub(crate) fn add_connector(
    fleet: &mut Fleet,
    account: &AccountId,
    kind: ConnectorKind,
) -> Result<ConnectorId> {
    let index = *fleet
        .account_index
        .get(account)
        .ok_or_else(|| Error::UnknownAccount(account.clone()))?;
    let owner = &fleet.accounts[index];
    let same_kind = owner
        .connectors
        .iter()
        .filter_map(|id| fleet.connectors.get(id))
        .filter(|entry| entry.truth.kind == kind)
        .count();
    let short = owner
        .company_name
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let name = if same_kind == 0 {
        format!("{short} {}", kind.display_name())
    } else {
        format!("{short} {} {}", kind.display_name(), same_kind + 1)
    };
    let ordinal = owner.connectors.len() + 1;
    let orglink = names::guid(&mut fleet.rng, 3);
    let truth = new_connector(
        &mut fleet.rng,
        account.clone(),
        name,
        kind,
        fleet.now,
        &orglink,
    );
    let id = truth.id.clone();
    fleet.accounts[index].connectors.push(id.clone());
    fleet.connectors.insert(
        id.clone(),
        ConnectorEntry {
            truth,
            ordinal,
            jobs: Vec::new(),
        },
    );
    Ok(id)
}

pub(crate) fn push_job(
    fleet: &mut Fleet,
    connector: &ConnectorId,
    outcome: JobOutcome,
) -> Result<TruthJob> {
    let now = fleet.now;
    let entry = fleet
        .connectors
        .get_mut(connector)
        .ok_or_else(|| Error::UnknownConnector(connector.clone()))?;
    let run = TimeDelta::minutes(10);
    let start = match outcome.status {
        JobStatus::Scheduled => now + hours(1),
        JobStatus::InProgress => now - TimeDelta::minutes(10),
        // Finished jobs end within the last 40 seconds before the clock.
        _ => now - run - seconds(40),
    };
    let plan = JobPlan {
        job_type: outcome.job_type,
        target: outcome.status,
        reason: outcome.reason,
        start,
        run,
        manual: true,
    };
    let job = build_job(&mut fleet.rng, &plan, &entry.truth, entry.ordinal, now);
    if job.family() == JobFamily::Backup {
        let snapshot = match job.status {
            JobStatus::Successful => job
                .observation
                .succeeded
                .map(|at| (SnapshotKind::Complete, at)),
            JobStatus::Incomplete => job.observation.failed.map(|at| (SnapshotKind::Partial, at)),
            _ => None,
        };
        if let Some((kind, at)) = snapshot {
            let mut size = entry
                .truth
                .latest_snapshot()
                .map(|snapshot| snapshot.size)
                .unwrap_or(1 << 30);
            if let Some(JobStatistics::Backup(stats)) = job.statistics() {
                size = size
                    .saturating_add(stats.added.bytes)
                    .saturating_sub(stats.removed.bytes);
            }
            let root = names::snapshot_root(&mut fleet.rng);
            entry.truth.snapshots.push(TruthSnapshot {
                tstamp: at,
                root,
                kind,
                size,
            });
            entry
                .truth
                .snapshots
                .sort_by_key(|snapshot| snapshot.tstamp);
        }
    }
    let key = job_order(&job);
    let position = entry
        .jobs
        .partition_point(|existing| job_order(existing) <= key);
    entry.jobs.insert(position, job.clone());
    fleet.job_index.insert(job.id.clone(), connector.clone());
    Ok(job)
}

pub(crate) fn push_audit_events(
    fleet: &mut Fleet,
    account: &AccountId,
    n: usize,
) -> Result<Vec<TruthAuditEvent>> {
    let index = *fleet
        .account_index
        .get(account)
        .ok_or_else(|| Error::UnknownAccount(account.clone()))?;
    let names_of: HashMap<ConnectorId, String> = fleet.accounts[index]
        .connectors
        .iter()
        .filter_map(|id| fleet.connectors.get(id))
        .map(|entry| (entry.truth.id.clone(), entry.truth.name.clone()))
        .collect();
    let msp_login = fleet.accounts[0].users.first().cloned().unwrap_or_default();
    let context = EventContext::new(
        &fleet.accounts[index],
        &fleet.accounts,
        &fleet.account_index,
        &names_of,
        &msp_login,
    );
    let mut created = Vec::with_capacity(n);
    for position in 0..n {
        let back = i64::try_from(n - 1 - position).unwrap_or(0);
        let time = fleet.now - seconds(back);
        let Some(template) = pick_template(&mut fleet.rng, &context) else {
            continue;
        };
        let seq = fleet.next_audit_seq;
        fleet.next_audit_seq += 1;
        let event = make_event(
            &mut fleet.rng,
            &mut CategoryCache::default(),
            &context,
            template,
            time,
            seq,
        );
        let events = &mut fleet.audit[index];
        let at = events.partition_point(|existing| (existing.time, existing.seq) <= (time, seq));
        events.insert(at, event.clone());
        created.push(event);
    }
    Ok(created)
}
