//! Customers, timelines, connectors, integrations, sync runs and the operations endpoints.

use axum::http::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::support::{App, on_each_backend};

#[tokio::test]
async fn customers_timelines_and_connectors() {
    on_each_backend(async |app: &App| {
        let customers = app.get("/api/v1/customers").await;
        assert_eq!(customers.status, StatusCode::OK);
        let list = customers.json.as_array().unwrap();
        assert!(!list.is_empty());
        let id = list[0]["id"].as_i64().unwrap();

        let timeline = app
            .get(&format!("/api/v1/customers/{id}/timeline?limit=5"))
            .await;
        assert_eq!(timeline.status, StatusCode::OK, "{}", timeline.text);
        let entries = timeline.json["entries"].as_array().unwrap();
        assert!(!entries.is_empty());
        assert!(
            entries
                .iter()
                .all(|e| e["kind"] == "job" || e["kind"] == "audit")
        );
        if let Some(next) = timeline.json["next_cursor"].as_str() {
            let page = app
                .get(&format!(
                    "/api/v1/customers/{id}/timeline?limit=5&cursor={next}"
                ))
                .await;
            assert_eq!(page.status, StatusCode::OK);
        }
        assert_eq!(
            app.get("/api/v1/customers/999999/timeline").await.status,
            StatusCode::NOT_FOUND
        );
        let bad = app
            .get(&format!("/api/v1/customers/{id}/timeline?cursor=zzz"))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message().contains("cursor"));
        let misspelt = app
            .get(&format!("/api/v1/customers/{id}/timeline?limt=5"))
            .await;
        assert_eq!(misspelt.status, StatusCode::BAD_REQUEST);
        assert_eq!(misspelt.json["error"]["parameter"], "limt");

        let connectors = app.get("/api/v1/connectors").await;
        assert_eq!(connectors.status, StatusCode::OK);
        let connectors = connectors.json.as_array().unwrap().clone();
        assert!(!connectors.is_empty());
        assert!(connectors.iter().any(|c| c["status"]["health"].is_string()));
        let mine = app.get(&format!("/api/v1/connectors?customer={id}")).await;
        assert!(
            mine.json
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["customer_id"] == id)
        );
    })
    .await;
}

#[tokio::test]
async fn one_integration_shows_its_latest_sync_and_a_waiting_sync_now() {
    on_each_backend(async |app: &App| {
        let id = app.integration.0;
        let one = app.get(&format!("/api/v1/integrations/{id}")).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.text);
        assert!(one.json["sync_requested_at"].is_null());
        assert!(!one.text.contains("password"));

        let asked = app
            .post(&format!("/api/v1/integrations/{id}/sync"), None)
            .await;
        assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
        let first = asked.json["sync_requested_at"].clone();
        assert!(first.is_string());
        // A second request while the first waits collapses into it.
        let again = app
            .post(&format!("/api/v1/integrations/{id}/sync"), None)
            .await;
        assert_eq!(again.json["sync_requested_at"], first);
        assert_eq!(
            app.get(&format!("/api/v1/integrations/{id}")).await.json["sync_requested_at"],
            first
        );
        assert_eq!(
            app.store.take_sync_requests().await.unwrap(),
            vec![app.integration]
        );

        let viewer = app
            .call(
                Method::POST,
                &format!("/api/v1/integrations/{id}/sync"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.post("/api/v1/integrations/9999/sync", None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get("/api/v1/integrations/x").await.status,
            StatusCode::BAD_REQUEST
        );
        app.post(&format!("/api/v1/integrations/{id}/disable"), None)
            .await;
        let disabled = app
            .post(&format!("/api/v1/integrations/{id}/sync"), None)
            .await;
        assert_eq!(disabled.status, StatusCode::CONFLICT, "{}", disabled.text);
    })
    .await;
}

#[tokio::test]
async fn integrations_keep_their_secrets() {
    on_each_backend(async |app: &App| {
        let created = app
            .post(
                "/api/v1/integrations",
                Some(json!({
                    "name": "Second",
                    "region": "dk-co",
                    "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd33",
                    "username": "admin@msp.test",
                    "password": "hunter2-very-secret"
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert!(!created.text.contains("hunter2"));
        let listed = app.get("/api/v1/integrations").await;
        assert_eq!(listed.json.as_array().unwrap().len(), 2);
        assert!(!listed.text.contains("hunter2"));
        assert!(!listed.text.contains("password"));

        let missing_secret = app
            .post(
                "/api/v1/integrations",
                Some(json!({ "name": "x", "region": "dk-co", "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd44", "username": "u" })),
            )
            .await;
        assert_eq!(missing_secret.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing_secret.message().contains("credentials"));

        // Where Keepit is reached is checked when the integration is created.
        for (field, value, parameter) in [
            ("region", "not a region!", "region"),
            ("base_url", "ftp://keepit.example/", "base_url"),
            (
                "base_url",
                "https://admin:hunter3@keepit.example/",
                "base_url",
            ),
            ("base_url", "no url", "base_url"),
        ] {
            let mut body = json!({
                "name": "Third",
                "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd66",
                "username": "admin@msp.test",
                "password": "hunter2-very-secret"
            });
            body[field] = json!(value);
            let refused = app.post("/api/v1/integrations", Some(body)).await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{value}: {}",
                refused.text
            );
            assert_eq!(refused.json["error"]["parameter"], parameter, "{value}");
            assert!(!refused.text.contains("hunter"), "{}", refused.text);
        }

        // The synced integration's stored credentials reach the mock.
        let id = app.integration.0;
        let test = app
            .post(&format!("/api/v1/integrations/{id}/test"), None)
            .await;
        assert_eq!(test.status, StatusCode::OK, "{}", test.text);
        assert_eq!(test.json["ok"], true, "{}", test.text);
        assert!(test.json["customer_accounts"].as_u64().unwrap() > 0);

        let disabled = app
            .post(&format!("/api/v1/integrations/{id}/disable"), None)
            .await;
        assert_eq!(disabled.json["enabled"], false);
        let enabled = app
            .post(&format!("/api/v1/integrations/{id}/enable"), None)
            .await;
        assert_eq!(enabled.json["enabled"], true);
        assert_eq!(
            app.post("/api/v1/integrations/9999/enable", None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn without_a_master_key_integrations_cannot_be_created() {
    let app = App::start_with(false).await;
    let answer = app
        .post(
            "/api/v1/integrations",
            Some(json!({ "name": "x", "region": "dk-co", "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd55", "username": "u", "password": "p" })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.message().contains("master key"));
}

#[tokio::test]
async fn sync_runs_metrics_and_readiness() {
    on_each_backend(async |app: &App| {
        let runs = app.get("/api/v1/sync-runs").await;
        assert_eq!(runs.status, StatusCode::OK);
        assert_eq!(runs.json[0]["outcome"], "ok");
        let requests = runs.json[0]["requests"].as_u64().unwrap();
        assert!(requests > 0);
        // Every request is counted under Keepit's answer; the mock answers 404 where
        // Keepit means "nothing here" (a connector without a snapshot, say).
        let by_status = runs.json[0]["requests_by_status"].as_object().unwrap();
        assert_eq!(
            by_status.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
            requests
        );
        assert!(
            by_status
                .keys()
                .all(|status| ["200", "404"].contains(&status.as_str()))
        );
        let ok_requests = by_status["200"].as_u64().unwrap();
        assert!(ok_requests > 0);
        assert_eq!(runs.json[0]["errors"], serde_json::json!([]));
        assert_eq!(
            app.get("/api/v1/sync-runs?limit=5&colour=red").await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.get("/api/v1/sync-runs?limit=0").await.status,
            StatusCode::BAD_REQUEST
        );

        assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
        // /metrics has its own tests (metrics.rs).
    })
    .await;
}

#[tokio::test]
async fn a_lost_database_is_a_generic_503_everywhere() {
    on_each_backend(async |app: &App| {
        // Closing the pool makes every query fail the way a lost database does.
        app.store.clone().close().await.unwrap();
        for path in ["/api/v1/jobs", "/readyz"] {
            let answer = app.get(path).await;
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{path}: {}",
                answer.text
            );
            assert_eq!(answer.code(), "unavailable");
            let message = answer.message().to_lowercase();
            for internal in ["pool", "sqlx", "sqlite", "select", "closed"] {
                assert!(!message.contains(internal), "{internal} leaked: {message}");
            }
        }
        assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn accounts_are_linked_by_hand_unlinked_and_customers_merged() {
    on_each_backend(async |app: &App| {
        let unmatched = app.get("/api/v1/keepit-accounts?match=unmatched").await;
        assert_eq!(unmatched.status, StatusCode::OK, "{}", unmatched.text);
        let accounts = unmatched.json.as_array().unwrap().clone();
        assert!(
            accounts.len() >= 3,
            "the sync made a customer for each account"
        );
        let guid = |i: usize| accounts[i]["account_guid"].as_str().unwrap().to_owned();

        // A by hand to a customer of the MSP's own.
        let own = app
            .store
            .create_customer("Hand Picked Ltd", None, app.now())
            .await
            .unwrap();
        let linked = app
            .call(
                Method::PUT,
                &format!("/api/v1/keepit-accounts/{}/customer", guid(0)),
                Some(&app.admin),
                Some(json!({ "customer_id": own.id.0 })),
            )
            .await;
        assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
        assert_eq!(linked.json["link"], "manual");
        assert_eq!(linked.json["customer_name"], "Hand Picked Ltd");
        let listed = app.get("/api/v1/keepit-accounts?match=linked").await;
        assert!(
            listed
                .json
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["account_guid"] == guid(0))
        );

        // Unlinked, it waits in the queue.
        let unlinked = app
            .call(
                Method::DELETE,
                &format!("/api/v1/keepit-accounts/{}/customer", guid(0)),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(unlinked.status, StatusCode::OK);
        assert!(unlinked.json["customer_id"].is_null());
        let queue = app.get("/api/v1/keepit-accounts?match=ambiguous").await;
        assert!(
            queue
                .json
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["account_guid"] == guid(0))
        );

        // B's customer merged into the MSP's own: its connectors follow.
        let from = accounts[1]["customer_id"].as_i64().unwrap();
        let merged = app
            .post(
                &format!("/api/v1/customers/{from}/merge"),
                Some(json!({ "into": own.id.0 })),
            )
            .await;
        assert_eq!(merged.status, StatusCode::OK, "{}", merged.text);
        let customers = app.get("/api/v1/customers").await;
        assert!(
            !customers
                .json
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == from)
        );
        let connectors = app
            .get(&format!("/api/v1/connectors?customer={}", own.id.0))
            .await;
        assert!(
            !connectors.json.as_array().unwrap().is_empty(),
            "{}",
            connectors.text
        );
        let account = app
            .store
            .keepit_account(&keepit_domain::AccountId::new(&guid(1)).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.customer, Some(own.id));

        // A PSA import that now matches C by name relinks it and drops the customer made for it.
        let c_name = accounts[2]["company_name"].as_str().unwrap().to_owned();
        let c_made = accounts[2]["customer_id"].as_i64().unwrap();
        let csv = format!(
            "name,external_id\n\"{}\",PSA-77\n",
            c_name.replace('"', "\"\"")
        );
        let report = app
            .store
            .import_customers_csv(csv.as_bytes(), app.now())
            .await
            .unwrap();
        assert_eq!(report.relinked, 1, "{report:?}");
        let c = app
            .store
            .keepit_account(&keepit_domain::AccountId::new(&guid(2)).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(c.customer.map(|id| id.0), Some(c_made));
        assert!(
            app.store
                .customer(keepit_store::CustomerId(c_made))
                .await
                .is_err(),
            "no duplicate left"
        );

        for (method, path, body, status) in [
            (
                Method::GET,
                "/api/v1/keepit-accounts?match=some".to_owned(),
                None,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/api/v1/keepit-accounts/not%20a%20guid/customer".to_owned(),
                Some(json!({ "customer_id": 1 })),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/api/v1/keepit-accounts/zzzzzz-zzzzzz-zzzzzz/customer".to_owned(),
                Some(json!({ "customer_id": own.id.0 })),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PUT,
                format!("/api/v1/keepit-accounts/{}/customer", guid(0)),
                Some(json!({ "customer_id": 99999 })),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::POST,
                format!("/api/v1/customers/{}/merge", own.id.0),
                Some(json!({ "into": own.id.0 })),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            let answer = app
                .call(method.clone(), &path, Some(&app.admin), body)
                .await;
            assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        }
        let viewer = app
            .call(
                Method::PUT,
                &format!("/api/v1/keepit-accounts/{}/customer", guid(0)),
                Some(&app.viewer),
                Some(json!({ "customer_id": own.id.0 })),
            )
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn integrations_are_renamed_rotated_after_a_test_and_deleted() {
    on_each_backend(async |app: &App| {
        let id = app.integration.0;
        let path = format!("/api/v1/integrations/{id}");
        let patch = |body: serde_json::Value, query: &'static str| {
            let path = format!("{path}{query}");
            let app = &app;
            async move {
                app.call(Method::PATCH, &path, Some(&app.admin), Some(body))
                    .await
            }
        };
        let renamed = patch(json!({ "name": "Main tenant" }), "").await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        assert_eq!(renamed.json["name"], "Main tenant");

        // A rotation that Keepit refuses is not stored; the old credentials keep working.
        let user = app._mock.credentials().username().to_owned();
        let refused = patch(
            json!({ "username": user, "password": "wrong-password-1" }),
            "",
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert!(
            refused.message().contains("refused"),
            "{}",
            refused.message()
        );
        assert!(!refused.text.contains("wrong-password-1"));
        let test = app.post(&format!("{path}/test"), None).await;
        assert_eq!(test.json["ok"], true, "{}", test.text);
        // A good one is tested and stored.
        let password = app
            ._mock
            .credentials()
            .password()
            .expose_secret()
            .to_owned();
        let rotated = patch(json!({ "username": user, "password": password }), "").await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
        assert!(!rotated.text.contains(&password));
        // Half a pair is refused; ?verify=false stores without asking Keepit.
        let half = patch(json!({ "password": "x" }), "").await;
        assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);
        let unverified = patch(
            json!({ "username": user, "password": "wrong-password-2" }),
            "?verify=false",
        )
        .await;
        assert_eq!(unverified.status, StatusCode::OK, "{}", unverified.text);
        assert_eq!(
            app.post(&format!("{path}/test"), None).await.json["ok"],
            false
        );

        // Another integration's parent account is taken.
        let other = app
            .post(
                "/api/v1/integrations",
                Some(json!({ "name": "Other", "region": "dk-co", "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd33", "username": "u", "password": "p" })),
            )
            .await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
        let clash = patch(
            json!({ "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd33" }),
            "?verify=false",
        )
        .await;
        assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);

        // Deleted: the synced connectors stay; with ?purge=true they go too.
        let before = app
            .get("/api/v1/connectors")
            .await
            .json
            .as_array()
            .unwrap()
            .len();
        let deleted = app
            .call(Method::DELETE, &path, Some(&app.admin), None)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.get("/api/v1/connectors")
                .await
                .json
                .as_array()
                .unwrap()
                .len(),
            before
        );
        let other_id = other.json["id"].as_i64().unwrap();
        let purged = app
            .call(
                Method::DELETE,
                &format!("/api/v1/integrations/{other_id}?purge=true"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(purged.status, StatusCode::NO_CONTENT);
        let viewer = app
            .call(
                Method::DELETE,
                &format!("/api/v1/integrations/{other_id}"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn an_integration_carries_its_own_connection_settings() {
    on_each_backend(async |app: &App| {
        let created = app
            .post(
                "/api/v1/integrations",
                Some(json!({ "name": "Slow region", "region": "dk-co", "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd44", "username": "u", "password": "p", "concurrency": 12, "request_timeout_secs": 90 })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.json["concurrency"], 12);
        assert_eq!(created.json["request_timeout_secs"], 90);
        let id = created.json["id"].as_i64().unwrap();
        let path = format!("/api/v1/integrations/{id}");
        // Defaults for the synced one; a change to one setting keeps the other.
        let synced = app
            .get(&format!("/api/v1/integrations/{}", app.integration.0))
            .await;
        assert_eq!(
            (
                &synced.json["concurrency"],
                &synced.json["request_timeout_secs"]
            ),
            (&json!(5), &json!(30))
        );
        let changed = app
            .call(
                Method::PATCH,
                &path,
                Some(&app.admin),
                Some(json!({ "concurrency": 3 })),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        assert_eq!(
            (
                &changed.json["concurrency"],
                &changed.json["request_timeout_secs"]
            ),
            (&json!(3), &json!(90))
        );
        // Out of bounds: 422 naming the field, nothing changed.
        for (body, field) in [
            (json!({ "concurrency": 0 }), "concurrency"),
            (json!({ "concurrency": 65 }), "concurrency"),
            (json!({ "request_timeout_secs": 4 }), "request_timeout_secs"),
            (json!({ "request_timeout_secs": 601 }), "request_timeout_secs"),
        ] {
            let refused = app
                .call(Method::PATCH, &path, Some(&app.admin), Some(body.clone()))
                .await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {}",
                refused.text
            );
            assert!(refused.message().contains(field), "{}", refused.message());
        }
        let create_refused = app
            .post(
                "/api/v1/integrations",
                Some(json!({ "name": "Bad", "region": "dk-co", "parent_account_guid": "aaaa00-bbbb11-cccc22-dddd55", "username": "u", "password": "p", "concurrency": 0 })),
            )
            .await;
        assert_eq!(create_refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let after = app.get(&path).await;
        assert_eq!(after.json["concurrency"], 3);
        let viewer = app
            .call(
                Method::PATCH,
                &path,
                Some(&app.viewer),
                Some(json!({ "concurrency": 9 })),
            )
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn deleting_with_purge_removes_the_synced_data_and_keeps_the_customers() {
    on_each_backend(async |app: &App| {
        let count = async |path: &str| {
            let answer = app.get(path).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
            answer
                .json
                .as_array()
                .map_or_else(|| answer.json["jobs"].as_array().unwrap().len(), Vec::len)
        };
        crate::alerts::open_alert(app).await;
        let customers = count("/api/v1/customers").await;
        assert!(count("/api/v1/connectors").await > 0);
        assert!(count("/api/v1/jobs").await > 0);
        assert_eq!(count("/api/v1/alerts").await, 1);
        let path = format!("/api/v1/integrations/{}?purge=true", app.integration.0);
        let viewer = app
            .call(Method::DELETE, &path, Some(&app.viewer), None)
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
        assert!(
            count("/api/v1/connectors").await > 0,
            "a refused delete changes nothing"
        );
        let deleted = app
            .call(Method::DELETE, &path, Some(&app.admin), None)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        assert_eq!(count("/api/v1/connectors").await, 0);
        assert_eq!(count("/api/v1/jobs").await, 0);
        assert_eq!(count("/api/v1/alerts").await, 0);
        assert_eq!(count("/api/v1/keepit-accounts").await, 0);
        assert_eq!(
            count("/api/v1/customers").await,
            customers,
            "customers are the MSP's, not Keepit's"
        );
        let again = app
            .call(Method::DELETE, &path, Some(&app.admin), None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
    })
    .await;
}
