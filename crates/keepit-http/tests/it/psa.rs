//! `/api/v1/psa-connections`: validation, secrets kept out of answers, a test, the
//! picklists and a company import against a fake HaloPSA.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{App, on_each_backend};

const SECRET: &str = "halo-client-secret-value";

/// A HaloPSA with a token endpoint, two pages of clients, and picklists.
pub(crate) async fn halo(first_customer: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "token-1", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .mount(&server)
        .await;
    let clients: Vec<Value> = std::iter::once(json!({"id": 41, "name": first_customer}))
        .chain((2..=150).map(|n| json!({"id": 40 + n, "name": format!("Client {n}")})))
        .collect();
    let pages = clients.clone();
    Mock::given(method("GET"))
        .and(path("/api/Client"))
        .respond_with(move |request: &wiremock::Request| {
            let query: std::collections::HashMap<String, String> =
                request.url.query_pairs().into_owned().collect();
            let size: usize = query
                .get("page_size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100);
            let number: usize = query
                .get("page_no")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let page: Vec<Value> = pages
                .iter()
                .skip((number - 1) * size)
                .take(size)
                .cloned()
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(json!({"record_count": pages.len(), "clients": page}))
        })
        .mount(&server)
        .await;
    for (endpoint, rows) in [
        ("/api/TicketType", json!([{"id": 3, "name": "Incident"}])),
        (
            "/api/Status",
            json!([{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}]),
        ),
        ("/api/Priority", json!([{"priorityid": 2, "name": "High"}])),
        (
            "/api/Outcome",
            json!([{"id": 7, "outcome": "Private Note"}]),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(endpoint))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows))
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn psa_connections_are_checked_stored_without_secrets_tested_and_import_companies() {
    on_each_backend(async |app: &App| {
        let first = app.store.keepit_accounts(None).await.unwrap()[0]
            .company_name
            .clone();
        let server = halo(&first).await;
        let base = "/api/v1/psa-connections";

        // Refusals name the field.
        for (body, field) in [
            (json!({"name": "Halo"}), "kind"),
            (json!({"name": "Halo", "kind": "jira"}), "kind"),
            (json!({"name": "Halo", "kind": "halopsa", "base_url": server.uri()}), "client_id"),
            (
                json!({"name": "Halo", "kind": "halopsa", "base_url": server.uri(), "client_id": "app"}),
                "client_secret",
            ),
            (
                json!({"name": "Halo", "kind": "halopsa", "base_url": "ftp://x", "client_id": "a", "client_secret": "b"}),
                "base_url",
            ),
            (
                json!({"name": "Halo", "kind": "halopsa", "base_url": server.uri(), "client_id": "a", "client_secret": "b", "close_policy": "maybe"}),
                "close_policy",
            ),
            (json!({"name": "Halo", "kind": "halopsa", "colour": "red"}), "colour"),
        ] {
            let answer = app.post(base, Some(body.clone())).await;
            assert!(
                answer.status == StatusCode::UNPROCESSABLE_ENTITY
                    || answer.status == StatusCode::BAD_REQUEST,
                "{body}: {answer:?}"
            );
            assert!(answer.message().contains(field) || answer.json["error"]["parameter"] == field, "{body}: {answer:?}");
        }
        // Viewers may not create one.
        let viewer = app
            .call(Method::POST, base, Some(&app.viewer), Some(json!({"name": "x"})))
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);

        let created = app
            .post(
                base,
                Some(json!({
                    "name": "Halo",
                    "kind": "halopsa",
                    "base_url": server.uri(),
                    "client_id": "keepit-watch",
                    "client_secret": SECRET,
                    "board": "3",
                    "new_status": "1",
                    "closed_status": "9",
                    "reopen_days": 2
                })),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        assert!(!created.text.contains(SECRET));
        let id = created.json["id"].as_i64().unwrap();
        assert_eq!(created.json["settings"]["close_policy"], "close");
        assert_eq!(created.json["settings"]["reopen_days"], 2);
        let again = app
            .post(
                base,
                Some(json!({"name": "Halo", "kind": "halopsa", "base_url": server.uri(), "client_id": "a", "client_secret": "b"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");

        let listed = app.get(base).await;
        assert_eq!(listed.json.as_array().unwrap().len(), 1);
        assert!(!listed.text.contains(SECRET));

        let patched = app
            .call(
                Method::PATCH,
                &format!("{base}/{id}"),
                Some(&app.admin),
                Some(json!({"close_policy": "note", "note_interval_minutes": 60})),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
        assert_eq!(patched.json["settings"]["close_policy"], "note");
        assert_eq!(patched.json["settings"]["board"], "3", "kept");
        // The stored secrets never follow the connection to another host unasked, and
        // never go out over plain http except to this machine.
        for (url, problem) in [
            ("https://elsewhere.example", "credentials again"),
            ("http://halo.example", "must be https"),
        ] {
            let moved = app
                .call(
                    Method::PATCH,
                    &format!("{base}/{id}"),
                    Some(&app.admin),
                    Some(json!({"base_url": url})),
                )
                .await;
            assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{moved:?}");
            assert!(moved.message().contains(problem), "{moved:?}");
        }
        let kind = app
            .call(
                Method::PATCH,
                &format!("{base}/{id}"),
                Some(&app.admin),
                Some(json!({"kind": "autotask"})),
            )
            .await;
        assert_eq!(kind.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind:?}");

        let tested = app.post(&format!("{base}/{id}/test"), None).await;
        assert_eq!(tested.json["ok"], true, "{tested:?}");

        let picklists = app.get(&format!("{base}/{id}/picklists")).await;
        assert_eq!(picklists.status, StatusCode::OK, "{picklists:?}");
        let statuses = picklists
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|field| field["field"] == "status")
            .unwrap()
            .clone();
        assert_eq!(statuses["entries"].as_array().unwrap().len(), 2, "{statuses}");

        let imported = app.post(&format!("{base}/{id}/import-companies"), None).await;
        assert_eq!(imported.status, StatusCode::OK, "{imported:?}");
        assert_eq!(imported.json["companies"], 150);
        assert_eq!(imported.json["inserted"], 150);
        assert!(imported.json["relinked"].as_u64().unwrap() >= 1, "{imported:?}");
        let twice = app.post(&format!("{base}/{id}/import-companies"), None).await;
        assert_eq!((twice.json["inserted"].as_u64(), twice.json["unchanged"].as_u64()), (Some(0), Some(150)));
        let one = app.get(&format!("{base}/{id}")).await;
        assert!(one.json["last_import_at"].is_string(), "{one:?}");

        let tickets = app.get(&format!("{base}/{id}/tickets")).await;
        assert_eq!(tickets.json, json!([]));

        let deleted = app
            .call(Method::DELETE, &format!("{base}/{id}"), Some(&app.admin), None)
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("{base}/{id}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("{base}/abc")).await.status, StatusCode::BAD_REQUEST);
    })
    .await;
}
