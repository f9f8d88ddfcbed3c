//! The OpenAPI document lists every route the router serves, and the router serves
//! every route the document lists.

use axum::http::{Method, StatusCode};

use crate::support::{App, on_each_backend};

/// Every route of the API, as the router is built.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs.csv"),
    ("get", "/api/v1/jobs/{job_guid}"),
    ("get", "/api/v1/jobs/{job_guid}/skipped-items.csv"),
    ("get", "/api/v1/customers"),
    ("get", "/api/v1/customers/{id}/timeline"),
    ("get", "/api/v1/keepit-accounts"),
    ("put", "/api/v1/keepit-accounts/{guid}/customer"),
    ("delete", "/api/v1/keepit-accounts/{guid}/customer"),
    ("post", "/api/v1/customers/{id}/merge"),
    ("get", "/api/v1/connectors"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{id}/transitions"),
    ("post", "/api/v1/alerts/{id}/acknowledge"),
    ("post", "/api/v1/alerts/{id}/silence"),
    ("get", "/api/v1/alert-rules"),
    ("post", "/api/v1/alert-rules"),
    ("put", "/api/v1/alert-rules/{id}"),
    ("delete", "/api/v1/alert-rules/{id}"),
    ("post", "/api/v1/alert-rules/preview"),
    ("post", "/api/v1/alert-rules/{id}/preview"),
    ("get", "/api/v1/alert-rules/{id}/overrides/{customer_id}"),
    ("put", "/api/v1/alert-rules/{id}/overrides/{customer_id}"),
    ("delete", "/api/v1/alert-rules/{id}/overrides/{customer_id}"),
    ("get", "/api/v1/messages"),
    ("post", "/api/v1/messages/{id}/read"),
    ("get", "/api/v1/integrations"),
    ("post", "/api/v1/integrations/test"),
    ("post", "/api/v1/integrations"),
    ("get", "/api/v1/integrations/{id}"),
    ("patch", "/api/v1/integrations/{id}"),
    ("delete", "/api/v1/integrations/{id}"),
    ("post", "/api/v1/integrations/{id}/sync"),
    ("post", "/api/v1/integrations/{id}/test"),
    ("post", "/api/v1/integrations/{id}/enable"),
    ("post", "/api/v1/integrations/{id}/disable"),
    ("get", "/api/v1/psa-connections"),
    ("post", "/api/v1/psa-connections"),
    ("get", "/api/v1/psa-connections/{id}"),
    ("patch", "/api/v1/psa-connections/{id}"),
    ("delete", "/api/v1/psa-connections/{id}"),
    ("post", "/api/v1/psa-connections/{id}/test"),
    ("get", "/api/v1/psa-connections/{id}/picklists"),
    ("post", "/api/v1/psa-connections/{id}/import-companies"),
    ("get", "/api/v1/psa-connections/{id}/tickets"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/sync-runs"),
];

fn documented(document: &serde_json::Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                routes.push((method.clone(), path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

#[tokio::test]
async fn the_document_and_the_router_agree() {
    on_each_backend(async |app: &App| {
        let answer = app.get("/api/v1/openapi.json").await;
        assert_eq!(answer.status, StatusCode::OK);
        let mut expected: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(documented(&answer.json), expected);
        assert_eq!(
            serde_json::to_value(keepit_http::openapi()).unwrap()["paths"],
            answer.json["paths"]
        );

        // Each documented route is served: the router answers it with anything but
        // "no such route" or "method not allowed".
        for (method, path) in documented(&answer.json) {
            let concrete = path
                .replace("{job_guid}", "va14e0-sa8c7o-giq88n-hsfgdx")
                .replace("{id}", "999999")
                .replace("{customer_id}", "999999")
                .replace("{guid}", "zzzzzz-zzzzzz-zzzzzz");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = app
                .call(
                    method.clone(),
                    &concrete,
                    Some(&app.admin),
                    Some(serde_json::json!({})),
                )
                .await;
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete}"
            );
            assert_ne!(reply.code(), "no_such_route", "{method} {concrete}");
        }
        let unknown = app.get("/api/v1/nothing-here").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.code(), "no_such_route");
    })
    .await;
}
