//! Tokens, roles, and one user's inbox being theirs alone.

use axum::http::{Method, StatusCode};
use keepit_domain::MessageKind;
use keepit_store::NewMessage;

use crate::support::{App, on_each_backend};

#[tokio::test]
async fn probes_need_no_token_and_everything_else_does() {
    on_each_backend(async |app: &App| {
        for probe in ["/healthz", "/readyz"] {
            let answer = app.call(Method::GET, probe, None, None).await;
            assert_eq!(answer.status, StatusCode::OK, "{probe}");
            assert!(
                answer.text.len() < 16,
                "a probe tells nothing but ready: {}",
                answer.text
            );
        }
        for path in [
            "/api/v1/jobs",
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/nope",
        ] {
            let answer = app.call(Method::GET, path, None, None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(answer.code(), "unauthorized", "{path}");
            assert!(answer.message().contains("Bearer"), "{}", answer.message());
        }
        let bad = app
            .call(
                Method::GET,
                "/api/v1/jobs",
                Some("kw_not-a-real-token"),
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert_eq!(bad.code(), "unauthorized");
        assert_eq!(app.get("/api/v1/jobs").await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn metrics_can_be_served_without_a_token_when_the_operator_says_so() {
    on_each_backend(async |app: &App| {
        let mut state = app.state.clone();
        state.metrics_public = true;
        let open = keepit_http::router(state);
        let answer = crate::support::send(&open, Method::GET, "/metrics", None, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(
            answer
                .text
                .contains("keepit_watch_customer_connectors_stale{customer_id=\""),
            "{}",
            answer.text
        );
        // A page anyone can read names no customer: the ids tell series apart.
        for customer in app.store.customers().await.unwrap() {
            assert!(
                !answer.text.contains(&customer.name),
                "{} on a public page",
                customer.name
            );
        }
        assert!(!answer.text.contains("customer=\""));
        // Only the metrics: the API still needs a token.
        let api = crate::support::send(&open, Method::GET, "/api/v1/jobs", None, None).await;
        assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    on_each_backend(async |app: &App| {
        let tokens = app.store.api_tokens(app.viewer_id).await.unwrap();
        app.store
            .revoke_api_token(tokens[0].id, app.now())
            .await
            .unwrap();
        let answer = app
            .call(Method::GET, "/api/v1/jobs", Some(&app.viewer), None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn viewers_read_but_may_not_change_state() {
    on_each_backend(async |app: &App| {
        let viewer = Some(app.viewer.as_str());
        assert_eq!(
            app.call(Method::GET, "/api/v1/alert-rules", viewer, None)
                .await
                .status,
            StatusCode::OK
        );
        for (method, path) in [
            (Method::POST, "/api/v1/alert-rules"),
            (Method::PUT, "/api/v1/alert-rules/1"),
            (Method::DELETE, "/api/v1/alert-rules/1"),
            (Method::POST, "/api/v1/alerts/1/acknowledge"),
            (Method::POST, "/api/v1/alerts/1/silence"),
            (Method::POST, "/api/v1/integrations"),
            (Method::POST, "/api/v1/integrations/1/test"),
            (Method::POST, "/api/v1/integrations/1/enable"),
            (Method::POST, "/api/v1/integrations/1/disable"),
        ] {
            let answer = app
                .call(method.clone(), path, viewer, Some(serde_json::json!({})))
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(answer.code(), "forbidden");
        }
    })
    .await;
}

#[tokio::test]
async fn each_user_sees_and_marks_only_their_own_messages() {
    on_each_backend(async |app: &App| {
        let message = |key: &str| NewMessage {
            severity: None,
            kind: MessageKind::BackupUnsuccessful,
            subject: format!("subject {key}"),
            body: "body".to_owned(),
            customer: None,
            connector: None,
            job: None,
            dedup_key: key.to_owned(),
            created_at: app.now(),
        };
        let for_admin = app
            .store
            .store_message(&message("a"), &[app.admin_id])
            .await
            .unwrap();
        let for_viewer = app
            .store
            .store_message(&message("v"), &[app.viewer_id])
            .await
            .unwrap();

        let inbox = app.get("/api/v1/messages").await;
        assert_eq!(inbox.status, StatusCode::OK);
        let ids: Vec<i64> = inbox.json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [for_admin.id.0]);
        assert_eq!(inbox.json["unread"], 1);

        // Someone else's message is not found, whoever asks.
        let other = app
            .post(&format!("/api/v1/messages/{}/read", for_viewer.id.0), None)
            .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        assert_eq!(other.code(), "not_found");
        let missing = app.post("/api/v1/messages/999999/read", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);

        // Their own: read, and reading again is fine.
        let path = format!("/api/v1/messages/{}/read", for_admin.id.0);
        assert_eq!(app.post(&path, None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.post(&path, None).await.status, StatusCode::NO_CONTENT);
        let inbox = app.get("/api/v1/messages?unread=true").await;
        assert_eq!(inbox.json["messages"].as_array().unwrap().len(), 0);
        assert_eq!(inbox.json["unread"], 0);

        // A viewer may mark their own message read (it changes only their own state).
        let viewer_read = app
            .call(
                Method::POST,
                &format!("/api/v1/messages/{}/read", for_viewer.id.0),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(viewer_read.status, StatusCode::NO_CONTENT);

        let bad = app.get("/api/v1/messages?limit=0").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message().contains("limit"), "{}", bad.message());
    })
    .await;
}

#[tokio::test]
async fn tokens_are_created_once_listed_without_secrets_and_revoked() {
    on_each_backend(async |app: &App| {
        // A viewer makes a token for a script; the secret comes back once.
        let created = app
            .call(
                Method::POST,
                "/api/v1/tokens",
                Some(&app.viewer),
                Some(serde_json::json!({ "label": "nightly report" })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let secret = created.json["token"].as_str().unwrap().to_owned();
        let id = created.json["id"].as_i64().unwrap();
        assert_eq!(created.json["user_id"], app.viewer_id.0);
        let works = app
            .call(Method::GET, "/api/v1/jobs", Some(&secret), None)
            .await;
        assert_eq!(works.status, StatusCode::OK);

        // Listed without the secret: a viewer sees their own, an admin everyone's.
        let own = app
            .call(Method::GET, "/api/v1/tokens", Some(&app.viewer), None)
            .await;
        assert!(!own.text.contains(&secret));
        assert!(
            own.json
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["user_id"] == app.viewer_id.0)
        );
        let everyone = app.get("/api/v1/tokens").await;
        assert!(everyone.json.as_array().unwrap().len() > own.json.as_array().unwrap().len());
        let others = app
            .call(
                Method::GET,
                &format!("/api/v1/tokens?user={}", app.admin_id.0),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(others.status, StatusCode::FORBIDDEN);
        let for_admin = app
            .call(
                Method::POST,
                "/api/v1/tokens",
                Some(&app.viewer),
                Some(serde_json::json!({ "label": "x", "user_id": app.admin_id.0 })),
            )
            .await;
        assert_eq!(for_admin.status, StatusCode::FORBIDDEN);

        // A viewer cannot revoke someone else's token (it is not theirs to see).
        let admin_token = app.store.api_tokens(app.admin_id).await.unwrap()[0].id.0;
        let foreign = app
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{admin_token}"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);

        // Revoked: the next request with it is refused; a second revoke is a 404.
        let revoked = app
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        let refused = app
            .call(Method::GET, "/api/v1/jobs", Some(&secret), None)
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let again = app
            .call(
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        let blank = app
            .post("/api/v1/tokens", Some(serde_json::json!({ "label": " " })))
            .await;
        assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn users_are_managed_by_admins_and_the_last_admin_stays() {
    on_each_backend(async |app: &App| {
        let listed = app.get("/api/v1/users").await;
        assert_eq!(listed.status, StatusCode::OK);
        let count = listed.json.as_array().unwrap().len();

        let created = app
            .post(
                "/api/v1/users",
                Some(serde_json::json!({ "email": "Tech@MSP.example", "name": "Tech", "role": "viewer" })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.json["email"], "tech@msp.example");
        assert_eq!(created.json["send_messages"], false);
        let id = created.json["id"].as_i64().unwrap();
        let duplicate = app
            .post(
                "/api/v1/users",
                Some(serde_json::json!({ "email": "tech@msp.example", "name": "Again", "role": "viewer" })),
            )
            .await;
        assert_eq!(duplicate.status, StatusCode::CONFLICT);
        let bad_role = app
            .post(
                "/api/v1/users",
                Some(serde_json::json!({ "email": "a@b.example", "name": "A", "role": "boss" })),
            )
            .await;
        assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Opted in to messages (seed 000): they now receive what the primary admin does.
        let opted = app
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                Some(&app.admin),
                Some(serde_json::json!({ "send_messages": true, "name": "Tech One" })),
            )
            .await;
        assert_eq!(opted.status, StatusCode::OK, "{}", opted.text);
        assert_eq!(opted.json["send_messages"], true);
        assert_eq!(opted.json["name"], "Tech One");
        let candidates = app.store.recipient_candidates().await.unwrap();
        let routed = keepit_domain::route_message(keepit_domain::Audience::Subscribers, &candidates);
        assert!(routed.contains(&keepit_domain::UserId(id)));

        // Viewers may read the list but change nothing.
        let viewer_change = app
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                Some(&app.viewer),
                Some(serde_json::json!({ "role": "admin" })),
            )
            .await;
        assert_eq!(viewer_change.status, StatusCode::FORBIDDEN);

        // The last administrator can be neither demoted nor deleted.
        let demote = app
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", app.admin_id.0),
                Some(&app.admin),
                Some(serde_json::json!({ "role": "viewer" })),
            )
            .await;
        assert_eq!(demote.status, StatusCode::CONFLICT, "{}", demote.text);
        let delete_admin = app
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{}", app.admin_id.0),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(delete_admin.status, StatusCode::CONFLICT);

        let deleted = app
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get("/api/v1/users")
                .await
                .json
                .as_array()
                .unwrap()
                .len(),
            count
        );
        let missing = app
            .call(
                Method::DELETE,
                &format!("/api/v1/users/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    })
    .await;
}
