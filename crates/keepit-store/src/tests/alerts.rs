//! Alert rules, overrides, the alert lifecycle and its transitions.

use chrono::TimeDelta;
use keepit_domain::{
    AlertEvent, AlertRuleSpec, AlertScope, AlertState, ConnectorKind, CustomerOverride,
    FailureReason, MessagePreference, ReasonCode, RuleKind, Severity, Threshold,
    ThresholdOverrides, Thresholds,
};

use super::each_backend;
use super::fixtures::{account, at, connector, connector_id};
use crate::{AlertFilter, AlertObservation, NewUser, Role};

#[tokio::test]
async fn the_two_default_rules_exist_and_rules_can_be_managed() {
    each_backend(|store| async move {
        let rules = store.alert_rules().await.unwrap();
        assert_eq!(rules.len(), 2);
        // The defaults, migrated from the first schema's columns into the one
        // vocabulary: the same values, and the new threshold at its default.
        assert_eq!(rules[0].rule.spec, AlertRuleSpec::defaults()[0]);
        assert_eq!(rules[1].rule.spec, AlertRuleSpec::defaults()[1]);
        assert_eq!(
            rules[0].rule.spec.thresholds.stale_after,
            TimeDelta::hours(48)
        );
        assert_eq!(rules[0].rule.spec.thresholds.repeats_before_paging, 3);
        assert_eq!(rules[0].rule.spec.scope, AlertScope::All);

        let new = AlertRuleSpec {
            kind: RuleKind::BackupFailed,
            name: "Entra only".to_owned(),
            enabled: true,
            scope: AlertScope::ConnectorKind(ConnectorKind::EntraId),
            thresholds: Thresholds {
                min_consecutive_failures: 3,
                repeats_before_paging: 5,
                warn_after: None,
                ..Thresholds::default()
            },
        };
        let created = store.create_alert_rule(&new, at(0)).await.unwrap();
        assert_eq!(created.rule.spec, new);
        let changed = AlertRuleSpec {
            enabled: false,
            ..new.clone()
        };
        assert_eq!(
            store
                .update_alert_rule(created.rule.id, &changed, at(1))
                .await
                .unwrap()
                .rule
                .spec,
            changed
        );
        // Thresholds that do not fit together are refused before anything is stored.
        let invalid = AlertRuleSpec {
            thresholds: Thresholds {
                warn_after: Some(TimeDelta::hours(100)),
                ..Thresholds::default()
            },
            ..new.clone()
        };
        assert!(matches!(
            store.create_alert_rule(&invalid, at(1)).await,
            Err(crate::Error::InvalidInput {
                field: "thresholds",
                ..
            })
        ));

        let customer = store
            .create_customer("Contoso", None, at(0))
            .await
            .unwrap()
            .id;
        let rule = rules[0].rule.id;
        let mut o = CustomerOverride {
            customer,
            enabled: None,
            thresholds: ThresholdOverrides(
                [
                    (Threshold::StaleAfter, Some(72 * 3_600)),
                    (Threshold::WarnAfter, None),
                ]
                .into(),
            ),
        };
        store
            .set_alert_rule_override(rule, &o, at(2))
            .await
            .unwrap();
        o.enabled = Some(false);
        store
            .set_alert_rule_override(rule, &o, at(3))
            .await
            .unwrap();
        assert_eq!(
            store.alert_rule_overrides(rule).await.unwrap(),
            vec![o.clone()]
        );
        assert_eq!(
            store.alert_rule(rule).await.unwrap().rule.overrides,
            vec![o]
        );
        let theirs = store.alert_rules().await.unwrap()[0]
            .rule
            .thresholds_for(Some(customer));
        assert_eq!(theirs.stale_after, TimeDelta::hours(72));
        assert_eq!(theirs.warn_after, None, "switched off for this customer");
        // An override value that makes no sense alone is refused.
        let bad = CustomerOverride {
            customer,
            enabled: None,
            thresholds: ThresholdOverrides([(Threshold::Lookback, Some(-1))].into()),
        };
        assert!(
            store
                .set_alert_rule_override(rule, &bad, at(4))
                .await
                .is_err()
        );
        assert!(
            store
                .delete_alert_rule_override(rule, customer)
                .await
                .unwrap()
        );
        assert!(store.delete_alert_rule(created.rule.id).await.unwrap());
        assert_eq!(store.alert_rules().await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn one_open_alert_per_rule_and_connector_with_every_transition_stored() {
    each_backend(|store| async move {
        store.upsert_connectors(&[connector(1, 1, "Mail")], at(0)).await.unwrap();
        let rule = store.alert_rules().await.unwrap()[0].rule.id;
        let ada = store
            .create_user(
                &NewUser {
                    email: "ada@example.com".to_owned(),
                    name: "Ada".to_owned(),
                    role: Role::Admin,
                    primary_admin: true,
                    message_preference: MessagePreference::Default,
                },
                at(0),
            )
            .await
            .unwrap()
            .id;
        let observe = |state, seconds| AlertObservation {
            rule,
            connector: connector_id(1),
            account: account(1),
            state,
            severity: Severity::Warning,
            reason: Some(FailureReason::Known(ReasonCode::NoRecentBackup)),
            last_success_at: Some(at(-100_000)),
            last_attempt_at: Some(at(-50_000)),
            at: at(seconds),
            note: None,
        };
        // Nothing open, nothing to resolve.
        assert!(store.apply_alert_observation(&observe(AlertState::Resolved, 0)).await.unwrap().is_none());
        let opened = store.apply_alert_observation(&observe(AlertState::Pending, 10)).await.unwrap().unwrap();
        assert!(opened.opened);
        // The same observation again changes nothing.
        assert!(store.apply_alert_observation(&observe(AlertState::Pending, 20)).await.unwrap().is_none());
        let firing = store.apply_alert_observation(&observe(AlertState::Firing, 30)).await.unwrap().unwrap();
        assert_eq!(firing.alert.id, opened.alert.id, "still the one open alert");
        assert_eq!(firing.previous_state, Some(AlertState::Pending));

        let acknowledged = store.acknowledge_alert(firing.alert.id, ada, at(40)).await.unwrap();
        assert_eq!(acknowledged.acknowledged_by, Some(ada));
        let silenced = store.silence_alert(firing.alert.id, Some(at(4000)), Some(ada), at(50)).await.unwrap();
        assert_eq!(silenced.silenced_until, Some(at(4000)));
        assert_eq!(store.mark_alert_notified(firing.alert.id, at(60)).await.unwrap().last_notified_at, Some(at(60)));
        assert_eq!(store.alerts(&AlertFilter::default()).await.unwrap().len(), 1);

        let resolved = store.apply_alert_observation(&observe(AlertState::Resolved, 70)).await.unwrap().unwrap();
        assert_eq!(resolved.alert.resolved_at, Some(at(70)));
        assert!(store.alerts(&AlertFilter::default()).await.unwrap().is_empty());

        // The condition returns: a new alert opens.
        let reopened = store.apply_alert_observation(&observe(AlertState::Firing, 80)).await.unwrap().unwrap();
        assert!(reopened.opened);
        assert_ne!(reopened.alert.id, opened.alert.id);
        assert_eq!(reopened.alert.acknowledged_at, None);
        let all = store.alerts(&AlertFilter { include_resolved: true, ..AlertFilter::default() }).await.unwrap();
        assert_eq!(all.len(), 2);

        store
            .record_alert_transition(
                reopened.alert.id,
                &crate::NewAlertTransition {
                    event: AlertEvent::Reminded,
                    from: Some(AlertState::Firing),
                    to: AlertState::Firing,
                    at: at(90),
                    note: Some("daily reminder".to_owned()),
                    by: None,
                },
            )
            .await
            .unwrap();
        let reminder = store.alert_transitions(reopened.alert.id).await.unwrap();
        assert_eq!(reminder.len(), 2);
        assert_eq!(reminder[1].transition.note.as_deref(), Some("daily reminder"));
        assert!(store.record_alert_transition(crate::AlertId(9_999), &reminder[1].transition).await.is_err());

        let events: Vec<_> = store
            .alert_transitions(opened.alert.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.transition.event, t.transition.from, t.transition.to))
            .collect();
        use AlertEvent as E;
        use AlertState as S;
        assert_eq!(
            events,
            vec![
                (E::StateChanged, None, S::Pending),
                (E::StateChanged, Some(S::Pending), S::Firing),
                (E::Acknowledged, Some(S::Firing), S::Firing),
                (E::Silenced, Some(S::Firing), S::Firing),
                (E::Reminded, Some(S::Firing), S::Firing),
                (E::StateChanged, Some(S::Firing), S::Resolved),
            ]
        );

        // The unique open key backs the rule up even if code forgot to check.
        use sea_orm::ConnectionTrait;
        let duplicate = store
            .db()
            .execute_unprepared(&format!(
                "INSERT INTO alerts (rule_id, connector_guid, account_guid, state, severity, opened_at, updated_at, open_key) \
                 SELECT rule_id, connector_guid, account_guid, state, severity, opened_at, updated_at, open_key FROM alerts WHERE id = {}",
                reopened.alert.id.0
            ))
            .await;
        assert!(duplicate.is_err());
    })
    .await;
}
