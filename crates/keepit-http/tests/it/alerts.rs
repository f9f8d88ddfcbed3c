//! Alerts (list, acknowledge, silence) and alert rules (CRUD with validation).

use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use keepit_domain::{AlertRuleSpec, AlertScope, AlertState, RuleKind, Severity, Thresholds};
use keepit_store::{AlertObservation, ConnectorFilter};
use serde_json::json;

use crate::support::{App, on_each_backend};

/// Opens one firing alert on the first connector; returns its id.
pub(crate) async fn open_alert(app: &App) -> i64 {
    let rule = app
        .store
        .create_alert_rule(
            &AlertRuleSpec {
                kind: RuleKind::BackupStale,
                name: "stale".to_owned(),
                enabled: true,
                scope: AlertScope::All,
                thresholds: Thresholds::default(),
            },
            app.now(),
        )
        .await
        .unwrap();
    let connectors = app
        .store
        .connectors(&ConnectorFilter::default())
        .await
        .unwrap();
    let connector = &connectors[0].record;
    let update = app
        .store
        .apply_alert_observation(&AlertObservation {
            rule: rule.rule.id,
            connector: connector.connector.clone(),
            account: connector.account.clone(),
            state: AlertState::Firing,
            severity: Severity::Critical,
            reason: None,
            last_success_at: None,
            last_attempt_at: None,
            at: app.now(),
            note: None,
        })
        .await
        .unwrap()
        .expect("an alert opened");
    update.alert.id.0
}

#[tokio::test]
async fn alerts_are_listed_acknowledged_and_silenced() {
    on_each_backend(async |app: &App| {
        let id = open_alert(app).await;
        let list = app.get("/api/v1/alerts").await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.json.as_array().unwrap().len(), 1);
        assert_eq!(list.json[0]["state"], "firing");
        assert_eq!(
            app.get("/api/v1/alerts?include_resolved=true")
                .await
                .json
                .as_array()
                .unwrap()
                .len(),
            1
        );

        let acked = app
            .post(&format!("/api/v1/alerts/{id}/acknowledge"), None)
            .await;
        assert_eq!(acked.status, StatusCode::OK, "{}", acked.text);
        assert_eq!(acked.json["acknowledged_by"], app.admin_id.0);
        assert!(acked.json["acknowledged_at"].is_string());

        let until = (app.now() + TimeDelta::hours(6)).to_rfc3339();
        let silenced = app
            .post(
                &format!("/api/v1/alerts/{id}/silence"),
                Some(json!({ "until": until })),
            )
            .await;
        assert_eq!(silenced.status, StatusCode::OK, "{}", silenced.text);
        assert!(silenced.json["silenced_until"].is_string());

        for (body, field) in [
            (json!({ "until": "tomorrow" }), "until"),
            (
                json!({ "until": (app.now() - TimeDelta::hours(1)).to_rfc3339() }),
                "until",
            ),
            (json!({ "until": 5 }), "body"),
        ] {
            let answer = app
                .post(&format!("/api/v1/alerts/{id}/silence"), Some(body.clone()))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                answer.text
            );
            assert!(answer.message().contains(field), "{}", answer.message());
        }
        // The history tells who did what, in order.
        let history = app.get(&format!("/api/v1/alerts/{id}/transitions")).await;
        assert_eq!(history.status, StatusCode::OK, "{}", history.text);
        let events: Vec<(&str, &str)> = history
            .json
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["event"].as_str().unwrap(),
                    t["to_state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            events,
            [
                ("state_changed", "firing"),
                ("acknowledged", "firing"),
                ("silenced", "firing")
            ]
        );
        assert!(history.json[0]["from_state"].is_null());
        assert_eq!(history.json[1]["user_id"], app.admin_id.0);
        let viewer_reads = app
            .call(
                Method::GET,
                &format!("/api/v1/alerts/{id}/transitions"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(viewer_reads.status, StatusCode::OK);
        assert_eq!(
            app.get("/api/v1/alerts/99999/transitions").await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get("/api/v1/alerts/x/transitions").await.status,
            StatusCode::BAD_REQUEST
        );

        let missing = app.post("/api/v1/alerts/99999/acknowledge", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let bad_id = app.post("/api/v1/alerts/abc/acknowledge", None).await;
        assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
        assert!(bad_id.message().contains("id"));
        let bad_flag = app.get("/api/v1/alerts?include_resolved=maybe").await;
        assert_eq!(bad_flag.status, StatusCode::BAD_REQUEST);
        assert!(bad_flag.message().contains("include_resolved"));
    })
    .await;
}

#[tokio::test]
async fn rules_are_created_changed_and_deleted_with_validation() {
    on_each_backend(async |app: &App| {
        let created = app
            .post(
                "/api/v1/alert-rules",
                Some(json!({
                    "kind": "backup_failed",
                    "name": "Failures, twice",
                    "min_consecutive_failures": 2,
                    "repeats_before_paging": 4,
                    "lookback_hours": 48,
                    "scope": { "type": "connector_kind", "connector_kind": "o365-admin" }
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.json["id"].as_i64().unwrap();
        assert_eq!(created.json["min_consecutive_failures"], 2);
        assert_eq!(created.json["repeats_before_paging"], 4);
        assert_eq!(created.json["stale_after_hours"], 48);
        assert_eq!(created.json["scope"]["type"], "connector_kind");

        let listed = app.get("/api/v1/alert-rules").await;
        assert!(
            listed
                .json
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id)
        );

        let changed = app
            .call(
                Method::PUT,
                &format!("/api/v1/alert-rules/{id}"),
                Some(&app.admin),
                Some(json!({ "kind": "backup_failed", "name": "Renamed", "enabled": false })),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(changed.json["name"], "Renamed");
        assert_eq!(changed.json["enabled"], false);

        for (body, field) in [
            (
                json!({ "kind": "backup_stale", "name": "x", "warn_after_hours": 72, "stale_after_hours": 48 }),
                "warn_after_hours",
            ),
            (
                json!({ "kind": "backup_stale", "name": "x", "stale_after_hours": 0 }),
                "stale_after_hours",
            ),
            (
                json!({ "kind": "backup_stale", "name": "x", "min_consecutive_failures": 0 }),
                "min_consecutive_failures",
            ),
            (
                json!({ "kind": "backup_stale", "name": "x", "reminder_every_hours": -1 }),
                "reminder_every_hours",
            ),
            (
                json!({ "kind": "backup_failed", "name": "x", "repeats_before_paging": 0 }),
                "repeats_before_paging",
            ),
            (
                json!({ "kind": "backup_failed", "name": "x", "repeats_before_paging": 5000 }),
                "repeats_before_paging",
            ),
            (json!({ "kind": "sometimes", "name": "x" }), "kind"),
            (json!({ "kind": "backup_stale", "name": " " }), "name"),
            (json!({ "kind": "backup_stale" }), "body"),
        ] {
            let answer = app.post("/api/v1/alert-rules", Some(body.clone())).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                answer.text
            );
            assert_eq!(answer.code(), "validation_failed");
            assert!(
                answer.message().contains(field),
                "{body}: {}",
                answer.message()
            );
        }

        let deleted = app
            .call(
                Method::DELETE,
                &format!("/api/v1/alert-rules/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        let again = app
            .call(
                Method::DELETE,
                &format!("/api/v1/alert-rules/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn bodies_refuse_unknown_fields_long_values_and_oversized_payloads() {
    on_each_backend(async |app: &App| {
        let id = open_alert(app).await;
        let until = (app.now() + TimeDelta::hours(6)).to_rfc3339();
        let silenced = app
            .post(
                &format!("/api/v1/alerts/{id}/silence"),
                Some(json!({ "until": until })),
            )
            .await;
        assert_eq!(silenced.status, StatusCode::OK, "{}", silenced.text);

        // A typo does not pass for an omitted field, which would lift the silence.
        let typo = app
            .post(
                &format!("/api/v1/alerts/{id}/silence"),
                Some(json!({ "untill": until })),
            )
            .await;
        assert_eq!(
            typo.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            typo.text
        );
        assert_eq!(typo.code(), "validation_failed");
        assert_eq!(typo.json["error"]["parameter"], "untill");
        let alert = app.get("/api/v1/alerts").await;
        assert!(
            alert.json[0]["silenced_until"].is_string(),
            "still silenced"
        );

        let long_name = "x".repeat(201);
        let rule = app
            .post(
                "/api/v1/alert-rules",
                Some(json!({ "kind": "backup_stale", "name": long_name })),
            )
            .await;
        assert_eq!(
            rule.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            rule.text
        );
        assert_eq!(rule.json["error"]["parameter"], "name");
        let nested = app
            .post(
                "/api/v1/alert-rules",
                Some(json!({ "kind": "backup_stale", "name": "n", "scope": { "type": "all", "extra": 1 } })),
            )
            .await;
        assert_eq!(
            nested.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            nested.text
        );

        let huge = app
            .post(
                "/api/v1/alert-rules",
                Some(json!({ "kind": "backup_stale", "name": "y".repeat(1_000_000) })),
            )
            .await;
        assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.text);
        assert_eq!(huge.code(), "payload_too_large");
    })
    .await;
}

#[tokio::test]
async fn a_customer_gets_its_own_thresholds_for_a_rule() {
    on_each_backend(async |app: &App| {
        let rules = app.get("/api/v1/alert-rules").await;
        let rule = rules.json[0]["id"].as_i64().unwrap();
        let customers = app.get("/api/v1/customers").await;
        let customer = customers.json[0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/alert-rules/{rule}/overrides/{customer}");

        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
        let set = app
            .call(
                Method::PUT,
                &path,
                Some(&app.admin),
                Some(json!({ "stale_after_hours": 72, "enabled": true })),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.text);
        assert_eq!(set.json["stale_after_hours"], 72);
        assert_eq!(set.json["customer_id"], customer);
        let read = app.get(&path).await;
        assert_eq!(read.json["stale_after_hours"], 72);
        assert!(read.json["lookback_hours"].is_null(), "not overridden");
        let listed = app.get("/api/v1/alert-rules").await;
        assert_eq!(listed.json[0]["overrides"][0]["customer_id"], customer);
        // The store evaluates with it.
        let stored = app
            .store
            .alert_rule(keepit_domain::AlertRuleId(rule))
            .await
            .unwrap();
        assert_eq!(
            stored
                .rule
                .thresholds_for(Some(keepit_domain::CustomerId(customer)))
                .stale_after,
            TimeDelta::hours(72)
        );

        for (body, field) in [
            (json!({ "stale_after_hours": 0 }), "stale_after_hours"),
            (
                json!({ "repeats_before_paging": 5000 }),
                "repeats_before_paging",
            ),
            (json!({ "stale_after": 3 }), "stale_after"),
        ] {
            let answer = app
                .call(Method::PUT, &path, Some(&app.admin), Some(body.clone()))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                answer.text
            );
            assert!(answer.message().contains(field), "{}", answer.message());
        }
        let nobody = app
            .call(
                Method::PUT,
                &format!("/api/v1/alert-rules/{rule}/overrides/99999"),
                Some(&app.admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(nobody.status, StatusCode::NOT_FOUND);
        let viewer = app
            .call(Method::DELETE, &path, Some(&app.viewer), None)
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
        let removed = app
            .call(Method::DELETE, &path, Some(&app.admin), None)
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    })
    .await;
}
