//! The fault matrix: every fault keepit-mock injects, alone and mixed, on a first sync
//! and on a later one, each followed by a clean sync that must end at the ground truth
//! with nothing lost and nothing duplicated. Also: answers that are not the document
//! asked for, a wrong parent account, a failed alert evaluation and a slow account.

use std::fmt::Write as _;
use std::time::Duration;

use keepit_domain::AccountId;
use keepit_ingest::{NoopHook, PassContext, PassHook, PassNotes, Shutdown, sync_once};
use keepit_mock::{Faults, ServerErrors};
use keepit_store::{ConnectorFilter, Store, SyncOutcome};

use crate::support::{Harness, backends, finish, small_spec};
use crate::sync::snapshot;

const SEED: u64 = 31;

/// One row of the matrix: a fault set built from the fleet's victims.
struct Case {
    name: &'static str,
    faults: fn(&[AccountId]) -> Faults,
    /// Whether the faulty pass may still be "ok" (faults the client absorbs by retrying).
    absorbed: bool,
    /// An account deadline for the faulty pass, for slow answers.
    account_deadline: Option<Duration>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "5xx bursts",
            faults: |_| Faults::seeded(1).with_server_errors(ServerErrors::every_nth(7, 2)),
            absorbed: true,
            account_deadline: None,
        },
        Case {
            name: "429 with Retry-After",
            faults: |_| Faults::seeded(2).with_rate_limit(5, 0),
            absorbed: true,
            account_deadline: None,
        },
        Case {
            name: "dropped connections",
            faults: |_| Faults::seeded(3).with_drop_connection_probability(0.05),
            absorbed: true,
            account_deadline: None,
        },
        Case {
            name: "malformed XML",
            faults: |victims| Faults::seeded(4).with_malformed_xml_for(victims[0].clone()),
            absorbed: false,
            account_deadline: None,
        },
        Case {
            name: "truncated XML",
            faults: |_| Faults::seeded(5).with_truncated_xml_probability(0.1),
            absorbed: false,
            account_deadline: None,
        },
        Case {
            name: "HTML 200",
            faults: |victims| Faults::seeded(6).with_html_for(victims[0].clone()),
            absorbed: false,
            account_deadline: None,
        },
        Case {
            name: "empty 200",
            faults: |victims| Faults::seeded(7).with_empty_answers_for(victims[0].clone()),
            absorbed: false,
            account_deadline: None,
        },
        Case {
            name: "401 for one account",
            faults: |victims| Faults::seeded(8).with_unauthorized_for(victims[0].clone()),
            absorbed: false,
            account_deadline: None,
        },
        Case {
            name: "slow answers",
            faults: |victims| {
                Faults::seeded(9).with_slow_answers_for(victims[0].clone(), Duration::from_secs(2))
            },
            absorbed: false,
            account_deadline: Some(Duration::from_millis(700)),
        },
        Case {
            name: "mixed",
            faults: |victims| {
                Faults::seeded(10)
                    .with_server_errors(ServerErrors::every_nth(11, 1).with_status(502))
                    .with_rate_limit(13, 0)
                    .with_drop_connection_probability(0.02)
                    .with_truncated_xml_probability(0.03)
                    .with_html_for(victims[0].clone())
                    .with_empty_answers_for(victims[1].clone())
                    .with_malformed_xml_for(victims[2].clone())
                    .with_unauthorized_for(victims[3].clone())
            },
            absorbed: false,
            account_deadline: None,
        },
    ]
}

/// The fleet's customer accounts that have connectors: the ones a fault can hurt.
fn victims(harness: &Harness) -> Vec<AccountId> {
    harness
        .fleet
        .ground_truth()
        .customers()
        .filter(|account| !account.connectors.is_empty())
        .map(|account| account.id.clone())
        .collect()
}

/// Connectors marked removed in the store.
async fn removed_connectors(store: &Store) -> usize {
    store
        .connectors_with_status(&ConnectorFilter {
            include_removed: true,
            ..ConnectorFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|(connector, _)| connector.removed_at.is_some())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_ends_at_the_ground_truth() {
    let reference_store = crate::support::sqlite().await;
    let reference = Harness::start(&small_spec(SEED), &reference_store).await;
    let clean = reference.sync(&reference_store).await;
    assert_eq!(clean.outcome, SyncOutcome::Ok, "{:?}", clean.errors);
    let truth = snapshot(&reference_store, reference.integration.id).await;
    let truth_removed = removed_connectors(&reference_store).await;
    let victims = victims(&reference);
    assert!(
        victims.len() >= 4,
        "the fleet has enough accounts with connectors"
    );

    let mut matrix = String::from(
        "\nfault                  | pass   | faulty outcome | failed | requests | injected | after clean sync\n",
    );
    let mut problems = Vec::new();
    for case in cases() {
        for later in [false, true] {
            let (_, store) = backends().await.remove(0);
            let mut harness = Harness::start(&small_spec(SEED), &store).await;
            if later {
                let first = harness.sync(&store).await;
                assert_eq!(first.outcome, SyncOutcome::Ok, "{:?}", first.errors);
            }
            harness.mock.set_faults((case.faults)(&victims));
            let mut config = harness.config.clone();
            if let Some(deadline) = case.account_deadline {
                config.account_deadline = deadline;
            }
            let faulty = sync_once(
                &store,
                &harness.integration,
                &config,
                &NoopHook,
                &Shutdown::never(),
            )
            .await
            .expect("the faulty pass is recorded");
            let stats = harness.mock.request_stats();
            let injected: usize = stats.faults.values().sum::<usize>()
                + stats
                    .by_status
                    .iter()
                    .filter(|(status, _)| **status >= 500 || **status == 429)
                    .map(|(_, count)| count)
                    .sum::<usize>();
            // Whatever the faults, nothing already stored is marked removed.
            let removed_during_fault = removed_connectors(&store).await;
            if removed_during_fault > truth_removed {
                problems.push(format!(
                    "{} ({}): {} connectors marked removed during the faulty pass",
                    case.name,
                    if later { "later" } else { "first" },
                    removed_during_fault - truth_removed
                ));
            }
            if !case.absorbed && faulty.outcome == SyncOutcome::Ok {
                problems.push(format!(
                    "{} ({}): a pass with failing accounts reported ok",
                    case.name,
                    if later { "later" } else { "first" }
                ));
            }
            harness.mock.clear_faults();
            harness.config.account_deadline = Duration::from_secs(600);
            let recovered = harness.sync(&store).await;
            let after = snapshot(&store, harness.integration.id).await;
            let verdict = if after == truth && recovered.outcome == SyncOutcome::Ok {
                "ground truth".to_owned()
            } else {
                let lost = truth
                    .jobs
                    .keys()
                    .filter(|id| !after.jobs.contains_key(*id))
                    .count();
                let extra = after
                    .jobs
                    .keys()
                    .filter(|id| !truth.jobs.contains_key(*id))
                    .count();
                problems.push(format!(
                    "{} ({}): recovered pass {:?}, {lost} jobs lost, {extra} extra, audit {} of {}",
                    case.name,
                    if later { "later" } else { "first" },
                    recovered.outcome,
                    after.audit_events,
                    truth.audit_events
                ));
                format!("{lost} jobs lost, {extra} extra")
            };
            let _ = writeln!(
                matrix,
                "{:<22} | {:<6} | {:<14} | {:>6} | {:>8} | {:>8} | {verdict}",
                case.name,
                if later { "later" } else { "first" },
                faulty.outcome.as_str(),
                faulty.accounts_failed,
                faulty.requests,
                injected,
            );
            finish(store).await;
        }
    }
    #[allow(clippy::print_stderr)]
    // The matrix is the report; nextest shows it (see .config/nextest.toml).
    {
        eprintln!("{matrix}");
    }
    assert!(problems.is_empty(), "{problems:#?}\n{matrix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_are_not_the_document_never_empty_an_account() {
    for fault in ["html", "empty"] {
        for (backend, store) in backends().await {
            let harness = Harness::start(&small_spec(32), &store).await;
            let first = harness.sync(&store).await;
            assert_eq!(first.outcome, SyncOutcome::Ok);
            let before = snapshot(&store, harness.integration.id).await;
            let victim = victims(&harness).remove(0);
            harness.mock.set_faults(match fault {
                "html" => Faults::seeded(1).with_html_for(victim.clone()),
                _ => Faults::seeded(1).with_empty_answers_for(victim.clone()),
            });
            let report = harness.sync(&store).await;
            assert_eq!(report.outcome, SyncOutcome::Partial, "{fault} on {backend}");
            assert_eq!(report.accounts_failed, 1, "{fault} on {backend}");
            let error = &report.errors[0];
            assert_eq!(error.account.as_ref(), Some(&victim));
            assert!(
                error.error.contains("could not decode"),
                "{fault} on {backend}: {}",
                error.error
            );
            // Nothing stored was forgotten: connectors, statuses, jobs and events as before.
            assert_eq!(
                snapshot(&store, harness.integration.id).await,
                before,
                "{fault} on {backend}"
            );
            finish(store).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_that_reads_no_document_moves_no_cursor() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(33), &store).await;
    let truth = harness.fleet.ground_truth();
    let mut faults = Faults::seeded(1);
    for account in truth.customers() {
        faults = faults.with_empty_answers_for(account.id.clone());
    }
    harness.mock.set_faults(faults);
    let report = harness.sync(&store).await;
    assert_ne!(report.outcome, SyncOutcome::Ok);
    assert!(report.accounts_failed >= truth.customers().count() as u64 - 1);
    harness.mock.clear_faults();
    let recovered = harness.sync(&store).await;
    assert_eq!(recovered.outcome, SyncOutcome::Ok, "{:?}", recovered.errors);

    let reference_store = crate::support::sqlite().await;
    let reference = Harness::start(&small_spec(33), &reference_store).await;
    reference.sync(&reference_store).await;
    assert_eq!(
        snapshot(&store, harness.integration.id).await,
        snapshot(&reference_store, reference.integration.id).await,
        "the history of the failed first pass is fetched again"
    );
    finish(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_parent_account_fails_the_pass_and_says_so() {
    let (_, store) = backends().await.remove(0);
    let mut harness = Harness::start(&small_spec(34), &store).await;
    let wrong = AccountId::new("nosuch-parent-000000").unwrap();
    harness.integration.parent = wrong.clone();
    let report = harness.sync(&store).await;
    assert_eq!(report.outcome, SyncOutcome::Failed);
    assert_eq!(report.accounts, 0);
    let error = &report.errors[0].error;
    assert!(
        error.contains("nosuch-parent-000000") && error.contains("check the account GUID"),
        "{error}"
    );
    finish(store).await;
}

/// A hook whose alert evaluation fails, or that reports undelivered notifications.
struct FailingHook {
    fail: bool,
}

impl PassHook for FailingHook {
    type Error = std::io::Error;

    async fn after_pass(&self, _pass: PassContext<'_>) -> Result<PassNotes, Self::Error> {
        if self.fail {
            Err(std::io::Error::other("the alert rules could not be read"))
        } else {
            Ok(PassNotes {
                notices: vec!["2 notification deliveries failed; they stay queued".into()],
            })
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_alert_evaluation_makes_the_pass_partial_and_an_undelivered_notice_does_not() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(35), &store).await;
    let never = Shutdown::never();
    let (failing, noticing) = (FailingHook { fail: true }, FailingHook { fail: false });
    let run = |hook: &'static str| {
        let hook = if hook == "failing" {
            &failing
        } else {
            &noticing
        };
        sync_once(&store, &harness.integration, &harness.config, hook, &never)
    };
    let failed = run("failing").await.unwrap();
    assert_eq!(failed.outcome, SyncOutcome::Partial);
    assert!(failed.errors[0].error.contains("alert evaluation failed"));
    let noticed = run("noticing").await.unwrap();
    assert_eq!(noticed.outcome, SyncOutcome::Ok);
    assert!(noticed.errors[0].error.contains("stay queued"));
    let stored = store.sync_run(noticed.run).await.unwrap();
    assert_eq!(stored.summary.errors.len(), 1);
    finish(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_account_fails_alone_within_its_deadline() {
    let (_, store) = backends().await.remove(0);
    let harness = Harness::start(&small_spec(36), &store).await;
    let victim = victims(&harness).remove(0);
    harness.mock.set_faults(
        Faults::seeded(1).with_slow_answers_for(victim.clone(), Duration::from_secs(30)),
    );
    let mut config = harness.config.clone();
    config.account_deadline = Duration::from_millis(500);
    let report = sync_once(
        &store,
        &harness.integration,
        &config,
        &NoopHook,
        &Shutdown::never(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, SyncOutcome::Partial);
    assert_eq!(report.accounts_failed, 1);
    assert_eq!(report.errors[0].account.as_ref(), Some(&victim));
    assert!(
        report.errors[0].error.contains("took longer"),
        "{}",
        report.errors[0].error
    );
    finish(store).await;
}
