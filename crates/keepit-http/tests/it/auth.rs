//! Tokens, roles, and one user's inbox being theirs alone.

use axum::http::{Method, StatusCode};
use keepit_domain::MessageKind;
use keepit_store::NewMessage;

use crate::support::App;

#[tokio::test]
async fn probes_need_no_token_and_everything_else_does() {
    let app = App::start().await;
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
}

#[tokio::test]
async fn metrics_can_be_served_without_a_token_when_the_operator_says_so() {
    let app = App::start().await;
    let mut state = app.state.clone();
    state.metrics_public = true;
    let open = keepit_http::router(state);
    let answer = crate::support::send(&open, Method::GET, "/metrics", None, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.text.contains("keepit_watch_"), "{}", answer.text);
    // Only the metrics: the API still needs a token.
    let api = crate::support::send(&open, Method::GET, "/api/v1/jobs", None, None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let app = App::start().await;
    let tokens = app.store.api_tokens(app.viewer_id).await.unwrap();
    app.store
        .revoke_api_token(tokens[0].id, app.now())
        .await
        .unwrap();
    let answer = app
        .call(Method::GET, "/api/v1/jobs", Some(&app.viewer), None)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn viewers_read_but_may_not_change_state() {
    let app = App::start().await;
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
}

#[tokio::test]
async fn each_user_sees_and_marks_only_their_own_messages() {
    let app = App::start().await;
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
}
