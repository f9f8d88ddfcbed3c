//! Tests of fault decisions and of the spoiled bodies.

use std::time::Duration;

use keepit_domain::AccountId;

use super::*;
use crate::test_support::well_formed;

fn account(raw: &str) -> AccountId {
    AccountId::new(raw).unwrap()
}

/// The status each decision answers with: 200 for a normal answer, 0 for a drop.
fn statuses(engine: &mut FaultEngine, account: Option<&AccountId>, n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| match engine.decide(account) {
            Decision::Drop => 0,
            Decision::Early(early) => early.status,
            Decision::Proceed { .. } => 200,
        })
        .collect()
}

#[test]
fn no_faults_means_every_request_proceeds_at_once() {
    let mut engine = FaultEngine::new(Faults::none());
    for _ in 0..50 {
        assert_eq!(
            engine.decide(None),
            Decision::Proceed {
                delay: Duration::ZERO,
                body_fault: None
            }
        );
    }
}

#[test]
fn every_nth_request_starts_a_burst_of_server_errors() {
    let faults = Faults::none().with_server_errors(ServerErrors::every_nth(3, 2));
    let mut engine = FaultEngine::new(faults);
    assert_eq!(
        statuses(&mut engine, None, 10),
        [200, 200, 503, 503, 200, 503, 503, 200, 503, 503]
    );
    let faults = Faults::none().with_server_errors(ServerErrors::every_nth(4, 1).with_status(502));
    let mut engine = FaultEngine::new(faults);
    assert_eq!(
        statuses(&mut engine, None, 8),
        [200, 200, 200, 502, 200, 200, 200, 502]
    );
}

#[test]
fn every_nth_request_is_rate_limited_with_retry_after() {
    let mut engine = FaultEngine::new(Faults::none().with_rate_limit(2, 7));
    let decisions: Vec<Decision> = (0..4).map(|_| engine.decide(None)).collect();
    assert!(matches!(decisions[0], Decision::Proceed { .. }));
    let Decision::Early(limited) = &decisions[1] else {
        panic!("{decisions:?}");
    };
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers, vec![("retry-after", "7".to_owned())]);
    assert_eq!(limited.fault, Some(FaultKind::RateLimited));
    assert!(matches!(decisions[3], Decision::Early(_)));
}

#[test]
fn random_faults_are_reproducible_from_the_seed() {
    let faults = |seed| Faults {
        seed,
        server_errors: Some(ServerErrors::random(0.2, 2)),
        drop_connection_probability: 0.1,
        truncated_xml_probability: 0.2,
        latency_jitter: Some(Duration::from_millis(40)),
        ..Faults::default()
    };
    let run = |seed| {
        let mut engine = FaultEngine::new(faults(seed));
        (0..200).map(|_| engine.decide(None)).collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
    let decisions = run(5);
    assert!(decisions.contains(&Decision::Drop));
    assert!(
        decisions
            .iter()
            .any(|d| matches!(d, Decision::Early(e) if e.status == 503))
    );
    assert!(decisions.iter().any(|d| matches!(
        d,
        Decision::Proceed {
            body_fault: Some(BodyFault::Truncate(_)),
            ..
        }
    )));
    for decision in decisions {
        if let Decision::Proceed { delay, .. } = decision {
            assert!(delay <= Duration::from_millis(40));
        }
    }
}

#[test]
fn account_faults_only_touch_their_account() {
    let target = account("target-000000-000001");
    let other = account("others-000000-000002");
    let faults = Faults::none()
        .with_unauthorized_for(target.clone())
        .with_latency(Duration::from_millis(5));
    let mut engine = FaultEngine::new(faults);
    let Decision::Early(denied) = engine.decide(Some(&target)) else {
        panic!("the target account is refused");
    };
    assert_eq!(denied.status, 401);
    assert_eq!(denied.body, bodies::UNAUTHORIZED);
    assert_eq!(denied.delay, Duration::from_millis(5));
    assert!(matches!(
        engine.decide(Some(&other)),
        Decision::Proceed { .. }
    ));
    assert!(matches!(engine.decide(None), Decision::Proceed { .. }));

    let mut engine = FaultEngine::new(Faults::none().with_malformed_xml_for(target.clone()));
    assert_eq!(
        engine.decide(Some(&target)),
        Decision::Proceed {
            delay: Duration::ZERO,
            body_fault: Some(BodyFault::Malformed)
        }
    );
    assert!(matches!(
        engine.decide(Some(&other)),
        Decision::Proceed {
            body_fault: None,
            ..
        }
    ));
}

#[test]
fn spoiled_bodies_are_not_well_formed() {
    let bodies = [
        crate::fixture("devices", "mixed"),
        crate::fixture("jobs-history", "stats"),
        crate::fixture("audit", "empty"),
        "<jobs></jobs>".to_owned(),
        "<a/>".to_owned(),
    ];
    for body in &bodies {
        assert!(well_formed(body), "{body}");
        let malformed = spoil(body, BodyFault::Malformed);
        assert!(!well_formed(&malformed), "{malformed}");
        for fraction in [0.2, 0.5, 0.8] {
            let truncated = spoil(body, BodyFault::Truncate(fraction));
            assert!(!well_formed(&truncated), "{truncated}");
            assert!(body.starts_with(&truncated));
            assert!(truncated.len() < body.trim_end().len());
        }
    }
}
