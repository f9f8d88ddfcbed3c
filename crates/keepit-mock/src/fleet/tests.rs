//! Tests of fleet generation, the ground truth and changes to a fleet.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::TimeDelta;
use keepit_domain::{
    AccountId, AuditCategory, ConnectorKind, FailureReason, Health, HealthReason, JobFamily,
    JobStatus, JobType, ReasonCode, categorize_audit, decide_status,
};

use super::audit_templates::TEMPLATES;
use super::*;

fn default_fleet() -> Fleet {
    Fleet::generate(&FleetSpec::default()).expect("the default spec is valid")
}

/// Seeds the coverage tests run on: the default and a few others, to catch
/// coverage that holds by luck for one seed only.
const SEEDS: [u64; 4] = [42, 1, 7, 20_260_108];

fn fleets() -> Vec<Fleet> {
    SEEDS
        .iter()
        .map(|seed| Fleet::generate(&FleetSpec::seeded(*seed)).expect("valid spec"))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_fleet() {
    let first = default_fleet().ground_truth();
    let second = default_fleet().ground_truth();
    assert_eq!(first, second);
    let other = Fleet::generate(&FleetSpec::seeded(43))
        .unwrap()
        .ground_truth();
    assert_ne!(first.parent, other.parent);
}

#[test]
fn debug_output_is_a_summary() {
    let fleet = default_fleet();
    let debug = format!("{fleet:?}");
    assert!(debug.starts_with("Fleet { seed: 42, "), "{debug}");
    assert!(debug.len() < 400, "{debug}");
}

#[test]
fn the_account_tree_has_resellers_between_the_msp_and_customers() {
    for fleet in fleets() {
        let truth = fleet.ground_truth();
        assert_eq!(truth.customers().count(), 25);
        let root = &truth.accounts[0];
        assert_eq!(root.role, AccountRole::Partner);
        assert_eq!(root.parent, None);
        assert_eq!(&root.id, fleet.parent());
        assert!(
            truth
                .accounts
                .iter()
                .any(|a| a.role == AccountRole::SubPartner)
        );
        let deepest = truth.customers().map(|a| a.depth).max().unwrap();
        assert!(deepest >= 2, "depth {deepest}");
        assert!(
            truth.customers().any(|a| a.depth == 1),
            "some customers sit directly under the MSP"
        );
        for account in &truth.accounts {
            // Every account reaches the root through its parents, and is its parent's child.
            let mut current = account.clone();
            let mut steps = 0;
            while let Some(parent) = &current.parent {
                let above = truth.account(parent).expect("parent exists");
                assert!(above.children.contains(&current.id));
                current = above.clone();
                steps += 1;
            }
            assert_eq!(current.id, root.id);
            assert_eq!(steps, account.depth);
            if account.role == AccountRole::SubPartner {
                assert!(!account.children.is_empty(), "resellers have customers");
            }
            if account.role == AccountRole::Customer {
                assert!(account.children.is_empty());
            }
        }
        assert!(truth.customers().any(|a| a.deletion_deadline.is_some()));
        let names: HashSet<&str> = truth
            .accounts
            .iter()
            .map(|a| a.company_name.as_str())
            .collect();
        assert_eq!(
            names.len(),
            truth.accounts.len(),
            "company names are unique"
        );
    }
}

#[test]
fn deeper_trees_and_flat_trees_can_be_asked_for() {
    let deep = Fleet::generate(&FleetSpec {
        depth: 4,
        ..FleetSpec::default()
    })
    .unwrap();
    assert_eq!(deep.customers().map(|a| a.depth).max(), Some(4));
    let flat = Fleet::generate(&FleetSpec {
        depth: 1,
        ..FleetSpec::default()
    })
    .unwrap();
    assert!(flat.customers().all(|a| a.depth == 1));
    assert_eq!(flat.accounts().len(), 26);
}

#[test]
fn every_connector_kind_and_scenario_is_present() {
    for fleet in fleets() {
        let kinds: HashSet<ConnectorKind> = fleet.connectors().map(|c| c.kind.clone()).collect();
        for kind in ConnectorKind::known() {
            assert!(
                kinds.contains(&kind),
                "seed {}: no {kind:?}",
                fleet.spec().seed
            );
        }
        let scenarios: BTreeSet<ConnectorScenario> =
            fleet.connectors().map(|c| c.scenario).collect();
        for scenario in ConnectorScenario::ALL {
            assert!(
                scenarios.contains(&scenario),
                "seed {}: no {scenario:?}",
                fleet.spec().seed
            );
        }
        for connector in fleet.connectors() {
            assert!(connector.scenario.fits(&connector.kind));
        }
    }
}

#[test]
fn every_job_status_and_type_is_present_and_statuses_are_decided_by_the_domain() {
    for fleet in fleets() {
        let now = fleet.now();
        let statuses: BTreeSet<JobStatus> = fleet.jobs().map(|job| job.status).collect();
        assert_eq!(
            statuses,
            JobStatus::ALL.into_iter().collect(),
            "seed {}",
            fleet.spec().seed
        );
        let types: HashSet<JobType> = fleet.jobs().map(|job| job.job_type().clone()).collect();
        for job_type in JobType::known() {
            assert!(types.contains(&job_type), "no {job_type:?}");
        }
        for job in fleet.jobs() {
            assert_eq!(job.status, decide_status(&job.observation, now), "{job:?}");
        }
        for job in fleet.ground_truth().jobs {
            assert_eq!(job.status, decide_status(&job.observation, now));
        }
    }
}

#[test]
fn every_backup_and_restore_reason_is_present_on_a_job_of_its_family() {
    for fleet in fleets() {
        for family in [JobFamily::Backup, JobFamily::Restore] {
            let seen: BTreeSet<ReasonCode> = fleet
                .jobs()
                .filter(|job| job.family() == family)
                .filter_map(|job| job.reason)
                .collect();
            for code in job_reasons(family) {
                assert!(
                    seen.contains(&code),
                    "seed {}: no {family:?} job with {code}",
                    fleet.spec().seed
                );
            }
        }
    }
}

#[test]
fn failure_summaries_map_back_to_their_reason() {
    let mut job_codes: BTreeSet<ReasonCode> = job_reasons(JobFamily::Backup).into_iter().collect();
    job_codes.extend(job_reasons(JobFamily::Restore));
    job_codes.insert(ReasonCode::SeatLimitExceeded);
    for code in job_codes {
        assert_eq!(
            FailureReason::from_summary(failure_summary(code)),
            Some(FailureReason::Known(code)),
            "{code}: {:?}",
            failure_summary(code)
        );
    }
    for fleet in fleets() {
        for job in fleet.jobs() {
            let parsed = job.failure_summary().and_then(FailureReason::from_summary);
            assert_eq!(parsed, job.reason.map(FailureReason::Known), "{job:?}");
            assert_eq!(
                job.observation.failure_reason(),
                job.reason.map(FailureReason::Known)
            );
        }
    }
}

#[test]
fn every_reason_code_appears_on_a_job_or_a_connector() {
    for fleet in fleets() {
        let mut seen: BTreeSet<ReasonCode> = fleet.jobs().filter_map(|job| job.reason).collect();
        for connector in fleet.connectors() {
            seen.extend(connector.condition);
            // What a client reads from the wire maps onto the catalogue too.
            if let Some(code) = connector.error_code()
                && let FailureReason::Known(known) =
                    FailureReason::from_error_code(&code, Some(&connector.kind))
            {
                seen.insert(known);
            }
            if let Some(FailureReason::Known(known)) =
                FailureReason::from_health_reason(&connector.health_reason)
            {
                seen.insert(known);
            }
        }
        let all: BTreeSet<ReasonCode> = ReasonCode::all().collect();
        assert_eq!(seen, all, "seed {}", fleet.spec().seed);
    }
}

#[test]
fn connector_conditions_match_what_is_served() {
    let fleet = default_fleet();
    let by = |scenario: ConnectorScenario| {
        fleet
            .connectors()
            .find(|c| c.scenario == scenario)
            .unwrap_or_else(|| panic!("no {scenario:?}"))
    };
    let quota = by(ConnectorScenario::SeatLimitExceeded);
    assert_eq!(quota.health_reason, HealthReason::QuotaViolated);
    assert_eq!(
        FailureReason::from_error_code(&quota.error_code().unwrap(), Some(&quota.kind)),
        FailureReason::Known(ReasonCode::SeatLimitExceeded)
    );
    let teams = by(ConnectorScenario::TeamsAppMissing);
    assert_eq!(
        teams.ecode.as_deref(),
        Some("E_DEDICATED_APP_IS_NOT_PRESENT_UNHEALTHY")
    );
    let pending = by(ConnectorScenario::InitialConfigurationPending);
    assert!(pending.snapshots.is_empty());
    assert!(fleet.jobs_of(&pending.id).is_empty());
    let inaccessible = by(ConnectorScenario::Inaccessible);
    assert!(!inaccessible.accessible);
    let deleting = by(ConnectorScenario::DeletionPending);
    assert!(deleting.deletion_deadline.is_some());
    let limit = by(ConnectorScenario::SalesforceApiLimitReached);
    assert_eq!(limit.status_code, 7);
    assert_eq!(limit.kind, ConnectorKind::Salesforce);
}

#[test]
fn stale_and_failing_connectors_are_there_on_purpose() {
    for fleet in fleets() {
        let truth = fleet.ground_truth();
        let now = truth.now;
        let stale = truth.stale_connectors(TimeDelta::hours(48));
        let stale_scenarios: BTreeSet<ConnectorScenario> =
            stale.iter().map(|c| c.scenario).collect();
        for scenario in [
            ConnectorScenario::StaleCritical,
            ConnectorScenario::CloudNoCheckIn,
            ConnectorScenario::AuthenticationFailedStale,
            ConnectorScenario::TenantNoLongerExists,
            ConnectorScenario::InitialConfigurationPending,
        ] {
            assert!(
                stale_scenarios.contains(&scenario),
                "seed {}: {scenario:?} not stale",
                fleet.spec().seed
            );
        }
        for connector in &truth.connectors {
            let last_success = connector.last_success();
            match connector.scenario {
                ConnectorScenario::Healthy | ConnectorScenario::Inaccessible => {
                    let age = now - last_success.expect("healthy connectors have backed up");
                    assert!(age <= TimeDelta::hours(24), "{connector:?}");
                }
                ConnectorScenario::StaleCritical | ConnectorScenario::AuthenticationFailedStale => {
                    assert!(now - last_success.unwrap() > TimeDelta::hours(48));
                    assert_eq!(connector.health, Health::Critical);
                }
                ConnectorScenario::StaleWarning => {
                    assert!(now - last_success.unwrap() > TimeDelta::hours(24));
                    assert_ne!(connector.health, Health::Healthy);
                }
                _ => {}
            }
            // The latest finished backup tells the failing scenarios apart.
            let latest = truth
                .jobs_of(&connector.id)
                .into_iter()
                .filter(|job| job.family() == JobFamily::Backup && job.is_finished())
                .max_by_key(|job| job.ended_at());
            let latest_status = latest.map(|job| job.status);
            match connector.scenario {
                ConnectorScenario::Healthy => {
                    assert_eq!(latest_status, Some(JobStatus::Successful));
                }
                ConnectorScenario::LatestBackupUnsuccessful
                | ConnectorScenario::AuthenticationFailed
                | ConnectorScenario::SeatLimitExceeded
                | ConnectorScenario::NotGlobalAdmin => {
                    assert_eq!(
                        latest_status,
                        Some(JobStatus::Unsuccessful),
                        "{:?}",
                        connector.scenario
                    );
                }
                ConnectorScenario::LatestBackupIncomplete => {
                    assert_eq!(latest_status, Some(JobStatus::Incomplete));
                    assert_eq!(
                        connector.latest_snapshot().unwrap().kind,
                        keepit_domain::SnapshotKind::Partial
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn snapshots_follow_the_backups() {
    let fleet = default_fleet();
    for connector in fleet.connectors() {
        let tstamps: Vec<_> = connector.snapshots.iter().map(|s| s.tstamp).collect();
        let mut sorted = tstamps.clone();
        sorted.sort();
        assert_eq!(tstamps, sorted);
        for job in fleet.jobs_of(&connector.id) {
            if job.family() == JobFamily::Backup && job.status == JobStatus::Successful {
                let at = job.observation.succeeded.unwrap();
                assert!(connector.snapshots.iter().any(|s| s.tstamp == at));
            }
        }
        for snapshot in &connector.snapshots {
            assert_eq!(snapshot.root.len(), 64);
            assert!(snapshot.tstamp <= fleet.now());
        }
    }
}

#[test]
fn ids_are_unique_and_jobs_are_ordered_for_window_queries() {
    let fleet = default_fleet();
    let mut ids = HashSet::new();
    for account in fleet.accounts() {
        assert!(ids.insert(account.id.to_string()));
    }
    for connector in fleet.connectors() {
        assert!(ids.insert(connector.id.to_string()));
        let jobs = fleet.jobs_of(&connector.id);
        let keys: Vec<_> = jobs.iter().map(job_order).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for job in jobs {
            assert!(ids.insert(job.id.to_string()));
            assert_eq!(fleet.job(&job.id), Some(job));
            assert_eq!(job.account, connector.account);
        }
    }
    assert_eq!(fleet.job_count(), fleet.jobs().count());
}

/// Whether a message was made from a template message with `{…}` placeholders.
fn matches_template(pattern: &str, message: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        pieces.push(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|end| start + end + 1)
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    pieces.push(rest);
    let mut position = 0;
    for (index, piece) in pieces.iter().enumerate() {
        let found = if index == 0 {
            message.starts_with(piece).then_some(0)
        } else {
            message[position..]
                .find(piece)
                .map(|found| position + found)
        };
        let Some(found) = found else { return false };
        position = found + piece.len();
    }
    pieces.last().is_none_or(|last| message.ends_with(last))
}

#[test]
fn every_audit_category_is_present_and_every_event_lands_where_its_template_says() {
    for template in TEMPLATES {
        assert!(template.weight > 0);
    }
    for fleet in fleets() {
        let truth = fleet.ground_truth();
        let categories: BTreeSet<AuditCategory> =
            truth.audit_events.iter().map(|e| e.category).collect();
        assert_eq!(
            categories,
            AuditCategory::ALL.into_iter().collect(),
            "seed {}",
            fleet.spec().seed
        );
        for event in &truth.audit_events {
            assert_eq!(event.category, categorize_audit(&event.facts()));
            let template = TEMPLATES
                .iter()
                .find(|t| {
                    t.area == event.area
                        && t.acl == event.acl
                        && t.method == event.method
                        && t.allowed == event.allowed
                        && t.succeeded == event.succeeded
                        && matches_template(t.message, &event.message)
                })
                .unwrap_or_else(|| panic!("no template for {event:?}"));
            assert_eq!(event.category, template.category, "{event:?}");
            assert!(event.client_ip.starts_with("203.0.113."));
            assert!(event.time <= truth.now);
            assert!(truth.account(&event.account).is_some());
        }
        let times: Vec<_> = truth.audit_events.iter().map(|e| (e.time, e.seq)).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
    }
}

#[test]
fn a_large_fleet_has_the_requested_size() {
    let fleet = Fleet::generate(&FleetSpec::large(3)).unwrap();
    assert_eq!(fleet.customers().count(), 500);
    assert_eq!(fleet.connector_count(), 2_500);
    assert!(fleet.job_count() > 2_500 * 14);
    assert!(fleet.audit_event_count() > 500 * 14 * 3);
    let statuses: BTreeSet<JobStatus> = fleet.jobs().map(|job| job.status).collect();
    assert_eq!(statuses.len(), JobStatus::ALL.len());
}

#[test]
fn impossible_specs_are_refused() {
    let cases = [
        FleetSpec {
            accounts: 0,
            ..FleetSpec::default()
        },
        FleetSpec {
            depth: 0,
            ..FleetSpec::default()
        },
        FleetSpec {
            connectors_per_account: (3, 2),
            ..FleetSpec::default()
        },
        FleetSpec {
            days_of_history: 0,
            ..FleetSpec::default()
        },
    ];
    for spec in cases {
        let error = Fleet::generate(&spec).unwrap_err();
        assert!(matches!(error, Error::InvalidSpec(_)), "{error}");
        assert!(error.to_string().starts_with("invalid fleet spec: "));
    }
}

#[test]
fn small_fleets_still_generate() {
    let tiny = Fleet::generate(&FleetSpec {
        accounts: 1,
        connectors_per_account: (0, 1),
        days_of_history: 1,
        ..FleetSpec::default()
    })
    .unwrap();
    assert_eq!(tiny.customers().count(), 1);
    let none = Fleet::generate(&FleetSpec {
        accounts: 3,
        connectors_per_account: (0, 0),
        ..FleetSpec::default()
    })
    .unwrap();
    assert_eq!(none.connector_count(), 0);
    assert_eq!(none.job_count(), 0);
}

#[test]
fn pushed_jobs_get_the_asked_status_and_move_the_snapshots() {
    let mut fleet = default_fleet();
    let connector = fleet
        .connectors()
        .find(|c| c.scenario == ConnectorScenario::Healthy)
        .unwrap()
        .id
        .clone();
    fleet.advance_clock(Duration::from_secs(3_600));
    let before = fleet.connector(&connector).unwrap().snapshots.len();
    for status in JobStatus::ALL {
        let job = fleet
            .push_job(&connector, JobOutcome::backup(status))
            .unwrap();
        assert_eq!(job.status, status);
        assert_eq!(fleet.job(&job.id).unwrap().status, status);
    }
    let failed = fleet
        .push_job(
            &connector,
            JobOutcome::of(JobType::ItemRestore, JobStatus::Unsuccessful)
                .with_reason(ReasonCode::AllItemsSkipped),
        )
        .unwrap();
    assert_eq!(failed.status, JobStatus::Unsuccessful);
    assert_eq!(failed.reason, Some(ReasonCode::AllItemsSkipped));
    let after = fleet.connector(&connector).unwrap();
    // One complete snapshot (successful) and one partial (incomplete) were added.
    assert_eq!(after.snapshots.len(), before + 2);
    assert_eq!(
        after
            .last_success()
            .map(|at| fleet.now() - at <= TimeDelta::minutes(1)),
        Some(true)
    );
    let keys: Vec<_> = fleet.jobs_of(&connector).iter().map(job_order).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn scheduled_jobs_keep_their_status_as_the_clock_moves() {
    let mut fleet = default_fleet();
    let connector = fleet.connectors().next().unwrap().id.clone();
    let job = fleet
        .push_job(&connector, JobOutcome::backup(JobStatus::Scheduled))
        .unwrap();
    fleet.advance_clock(Duration::from_secs(7_200));
    let truth = fleet.ground_truth();
    assert_eq!(
        truth.now,
        job.observation.start.unwrap() + TimeDelta::hours(1)
    );
    assert_eq!(
        truth.job(&job.id).unwrap().status,
        decide_status(&job.observation, truth.now)
    );
}

#[test]
fn connectors_can_be_added_removed_and_scheduled_for_deletion() {
    let mut fleet = default_fleet();
    let customer = fleet.customers().next().unwrap().id.clone();
    let count = fleet.connectors_of(&customer).len();
    let added = fleet
        .add_connector(&customer, ConnectorKind::GoogleWorkspace)
        .unwrap();
    assert_eq!(fleet.connectors_of(&customer).len(), count + 1);
    assert_eq!(fleet.connectors_of(&customer).last().unwrap().id, added);
    let added_truth = fleet.connector(&added).unwrap();
    assert_eq!(added_truth.created, fleet.now());
    assert!(added_truth.snapshots.is_empty());
    fleet
        .schedule_connector_deletion(&added, fleet.now() + TimeDelta::days(30))
        .unwrap();
    assert!(fleet.connector(&added).unwrap().deletion_deadline.is_some());
    let removed = fleet.remove_connector(&added).unwrap();
    assert_eq!(removed.id, added);
    assert!(fleet.connector(&added).is_none());
    assert_eq!(fleet.connectors_of(&customer).len(), count);
    assert!(matches!(
        fleet.remove_connector(&added),
        Err(Error::UnknownConnector(_))
    ));
    let stranger = AccountId::new("nobody-000000-000000").unwrap();
    assert!(matches!(
        fleet.add_connector(&stranger, ConnectorKind::EntraId),
        Err(Error::UnknownAccount(_))
    ));
    let first = fleet.connectors().next().unwrap().id.clone();
    fleet
        .set_connector_health(&first, Health::Critical, HealthReason::BadLogin)
        .unwrap();
    assert_eq!(fleet.connector(&first).unwrap().health, Health::Critical);
}

#[test]
fn pushed_audit_events_end_at_the_clock_and_keep_the_order() {
    let mut fleet = default_fleet();
    let customer = fleet.customers().next().unwrap().id.clone();
    let before = fleet.audit_events_of(&customer).len();
    fleet.advance_clock(Duration::from_secs(600));
    let pushed = fleet.push_audit_events(&customer, 5).unwrap();
    assert_eq!(pushed.len(), 5);
    assert_eq!(pushed.last().unwrap().time, fleet.now());
    let events = fleet.audit_events_of(&customer);
    assert_eq!(events.len(), before + 5);
    assert_eq!(&events[events.len() - 5..], pushed.as_slice());
}

#[test]
fn the_same_changes_give_the_same_fleet() {
    let change = || {
        let mut fleet = default_fleet();
        let customer = fleet.customers().nth(3).unwrap().id.clone();
        let connector = fleet
            .add_connector(&customer, ConnectorKind::Salesforce)
            .unwrap();
        fleet
            .push_job(&connector, JobOutcome::backup(JobStatus::Successful))
            .unwrap();
        fleet.push_audit_events(&customer, 3).unwrap();
        fleet.ground_truth()
    };
    assert_eq!(change(), change());
}

#[test]
fn skipped_items_exist_for_jobs_that_skipped_items() {
    let fleet = default_fleet();
    let job = fleet
        .jobs()
        .find(|job| job.family() == JobFamily::Restore && job.skipped_count() > 0)
        .expect("a restore skipped items");
    let items = fleet.skipped_items(&job.id);
    assert_eq!(items.len() as u64, job.skipped_count().min(25));
    assert_eq!(items, fleet.skipped_items(&job.id));
    for item in &items {
        assert_eq!(item.job, job.id);
        assert!(
            item.message
                .starts_with("/uservisiblemsg: Failed to restore file: ")
        );
    }
    let clean = fleet.jobs().find(|job| job.skipped_count() == 0).unwrap();
    assert!(fleet.skipped_items(&clean.id).is_empty());
}
