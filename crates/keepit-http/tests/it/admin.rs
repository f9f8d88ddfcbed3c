//! The admin pages and the rule dry run from the outside: roles, field-level
//! problems, secrets never written back, and the dry run agreeing with what the
//! alert pass then does.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use keepit_store::{AlertFilter, KeepitAccountSighting, LinkState};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::support::{App, on_each_backend};
use crate::web::{
    ADMIN_PASSWORD, VIEWER_PASSWORD, csrf, get, request, sign_in, url_encode, with_passwords,
};

/// A form post from a signed-in browser.
async fn post(app: &App, cookie: &str, path: &str, form: &str) -> crate::web::Page {
    request(&app.router, "POST", path, Some(cookie), Some(form), false).await
}

fn stale_rule(stale_hours: i64, warn_hours: Option<i64>) -> Value {
    json!({
        "kind": "backup_stale",
        "name": "stale backups",
        "stale_after_hours": stale_hours,
        "warn_after_hours": warn_hours,
    })
}

/// Open alerts by state after the shipped alert pass ran at `now`.
async fn open_by_state(app: &App, now: DateTime<Utc>) -> BTreeMap<&'static str, u32> {
    keepit_alerts::AlertPass::default()
        .run(&app.store, &[], now)
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for alert in app.store.alerts(&AlertFilter::default()).await.unwrap() {
        if alert.state.is_open() {
            *counts.entry(alert.state.as_str()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test]
async fn the_dry_run_shows_what_the_alert_pass_then_does_and_changes_nothing() {
    on_each_backend(async |app: &App| {
        let rules_before = app.get("/api/v1/alert-rules").await.json;
        let body = stale_rule(48, Some(24));
        let preview = app
            .post("/api/v1/alert-rules/preview", Some(body.clone()))
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
        let candidate = &preview.json["candidate"];
        let firing = candidate["firing"].as_u64().unwrap() as u32;
        let pending = candidate["pending"].as_u64().unwrap() as u32;
        assert!(
            firing > 0,
            "the fleet has stale connectors: {}",
            preview.text
        );
        assert_eq!(
            candidate["findings"].as_array().unwrap().len() as u32,
            firing + pending
        );
        assert!(preview.json["current"].is_null());
        assert_eq!(preview.json["history"]["days"], 14);
        assert!(preview.json["history"]["current"].is_null());
        // Nothing was stored.
        assert_eq!(app.get("/api/v1/alert-rules").await.json, rules_before);
        assert!(
            app.store
                .alerts(&AlertFilter::default())
                .await
                .unwrap()
                .is_empty()
        );

        // The same rule, saved and evaluated by the real pass, opens exactly that.
        let created = app.post("/api/v1/alert-rules", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let others: Vec<i64> = rules_before
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["id"].as_i64().unwrap())
            .collect();
        for id in others {
            let gone = app
                .call(
                    Method::DELETE,
                    &format!("/api/v1/alert-rules/{id}"),
                    Some(&app.admin),
                    None,
                )
                .await;
            assert_eq!(gone.status, StatusCode::NO_CONTENT);
        }
        let open = open_by_state(app, app.now()).await;
        assert_eq!(open.get("firing").copied().unwrap_or(0), firing);
        assert_eq!(open.get("pending").copied().unwrap_or(0), pending);

        // A change is compared with the rule as saved.
        let id = created.json["id"].as_i64().unwrap();
        let stricter = app
            .post(
                &format!("/api/v1/alert-rules/{id}/preview"),
                Some(stale_rule(1, None)),
            )
            .await;
        assert_eq!(stricter.status, StatusCode::OK, "{}", stricter.text);
        assert_eq!(
            stricter.json["current"]["firing"].as_u64().unwrap() as u32,
            firing
        );
        let strict_firing = stricter.json["candidate"]["firing"].as_u64().unwrap();
        assert!(strict_firing >= u64::from(firing));
        assert_eq!(stricter.json["candidate"]["pending"], 0);
        let listed = stricter.json["differences"].as_array().unwrap();
        assert_eq!(
            listed.len() as u64,
            stricter.json["differences_total"].as_u64().unwrap()
        );
        for difference in listed {
            assert_ne!(difference["before_state"], difference["after_state"]);
        }
        // Over the stored history a stricter rule opens and sends at least as much.
        let history = &stricter.json["history"];
        assert!(
            history["candidate"]["notices"].as_u64() >= history["current"]["notices"].as_u64(),
            "{history}"
        );
        assert!(
            history["candidate"]["opened"].as_u64().unwrap()
                + history["candidate"]["open_at_start"].as_u64().unwrap()
                > 0
        );
        // The saved rule did not change.
        let rules = app.get("/api/v1/alert-rules").await.json;
        assert_eq!(rules[0]["stale_after_hours"], 48);
    })
    .await;
}

#[tokio::test]
async fn the_dry_run_refuses_what_saving_would_refuse() {
    on_each_backend(async |app: &App| {
        let bad = app
            .post(
                "/api/v1/alert-rules/preview",
                Some(stale_rule(24, Some(48))),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(bad.json["error"]["parameter"], "warn_after_hours");
        let unknown = app
            .post(
                "/api/v1/alert-rules/999999/preview",
                Some(stale_rule(48, None)),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let typo = app
            .post(
                "/api/v1/alert-rules/preview",
                Some(json!({"kind": "backup_stale", "name": "x", "stale_afterhours": 3})),
            )
            .await;
        assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY);
        let viewer = app
            .call(
                Method::POST,
                "/api/v1/alert-rules/preview",
                Some(&app.viewer),
                Some(stale_rule(48, None)),
            )
            .await;
        assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn admin_pages_are_for_admins_only() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let viewer = sign_in(&app.router, "viewer@example.test", VIEWER_PASSWORD).await;
        let pages = [
            ("/admin/integrations", "Connect a Keepit parent account"),
            ("/admin/customers", "Import customers from the PSA"),
            ("/admin/users", "Add a person"),
            ("/admin/rules", "Alert rules"),
            ("/admin/rules/new", "Dry run"),
        ];
        for (path, expected) in pages {
            let page = get(&app.router, path, &admin).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
            assert!(page.text.contains(expected), "{path} lacks {expected:?}");
            let refused = get(&app.router, path, &viewer).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        }
        let overview = get(&app.router, "/", &viewer).await;
        assert!(
            !overview.text.contains("/admin/"),
            "a viewer sees no admin links"
        );
        let overview = get(&app.router, "/", &admin).await;
        assert!(overview.text.contains("href=\"/admin/rules\""));
        // A viewer's post to an admin page is refused before anything happens.
        let token = csrf(&get(&app.router, "/inbox", &viewer).await);
        let refused = post(
            app,
            &viewer,
            "/admin/users",
            &format!("csrf={token}&email=x%40example.test&name=X&role=admin"),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(app.store.users().await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn the_rule_form_keeps_what_was_typed_and_previews_before_saving() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let token = csrf(&get(&app.router, "/admin/rules/new", &admin).await);
        let rules_before = app.store.alert_rules().await.unwrap().len();
        let form = |stale: &str, warn: &str, action: &str| {
            format!(
                "csrf={token}&action={action}&name=Quiet+stale&kind=backup_stale&enabled=on&scope=all&stale_after_hours={stale}&warn_after_hours={warn}&lookback_hours=24&min_consecutive_failures=1&repeats_before_paging=3&reminder_every_hours=24"
            )
        };
        // A warning after the stale threshold: refused next to the field, values kept.
        let bad = post(app, &admin, "/admin/rules/new", &form("24", "48", "save")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.text.contains("class=\"field-error\""), "{}", bad.text);
        assert!(bad.text.contains("name=\"warn_after_hours\" min=\"1\" max=\"87840\" value=\"48\" aria-invalid=\"true\""));
        assert!(bad.text.contains("value=\"Quiet stale\""));
        let not_a_number = post(app, &admin, "/admin/rules/new", &form("soon", "", "save")).await;
        assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(not_a_number.text.contains("Enter a whole number."));
        assert_eq!(app.store.alert_rules().await.unwrap().len(), rules_before);

        // The dry run as a fragment (htmx) and as a page (no JavaScript).
        let fragment = request(&app.router, "POST", "/admin/rules/preview", Some(&admin), Some(&form("48", "24", "")), true).await;
        assert_eq!(fragment.status, StatusCode::OK, "{}", fragment.text);
        assert!(!fragment.text.contains("<html"));
        let api = app.post("/api/v1/alert-rules/preview", Some(stale_rule(48, Some(24)))).await;
        let firing = api.json["candidate"]["firing"].as_u64().unwrap();
        assert!(
            fragment.text.contains(&format!("data-preview=\"firing\">{firing}<")),
            "the page and the API show the same numbers: {}",
            fragment.text
        );
        let notices = api.json["history"]["candidate"]["notices"].as_u64().unwrap();
        assert!(fragment.text.contains(&format!("data-preview=\"notices\">{notices}<")));
        let page = post(app, &admin, "/admin/rules/new", &form("48", "24", "preview")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("<html") && page.text.contains("data-preview=\"firing\""));
        assert_eq!(app.store.alert_rules().await.unwrap().len(), rules_before, "a preview saves nothing");

        // Saving.
        let saved = post(app, &admin, "/admin/rules/new", &form("72", "", "save")).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
        let rules = app.store.alert_rules().await.unwrap();
        let rule = rules.iter().find(|r| r.rule.spec.name == "Quiet stale").unwrap();
        assert_eq!(rule.rule.spec.thresholds.stale_after.num_hours(), 72);
        assert_eq!(rule.rule.spec.thresholds.warn_after, None, "an empty warning switches it off");
        let id = rule.rule.id.0;
        let edit = get(&app.router, &format!("/admin/rules/{id}"), &admin).await;
        assert!(edit.text.contains("value=\"72\""));
        // A change's dry run compares with the rule as saved.
        let change = request(&app.router, "POST", &format!("/admin/rules/{id}/preview"), Some(&admin), Some(&form("1", "", "")), true).await;
        assert!(change.text.contains("What changes now"), "{}", change.text);
        assert!(change.text.contains("As saved"));
        // An override, then its removal.
        let customer = app.store.customers().await.unwrap()[0].id.0;
        let set = post(app, &admin, &format!("/admin/rules/{id}/overrides"), &format!("csrf={token}&customer_id={customer}&enabled=off")).await;
        assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text);
        let stored = app.store.alert_rule(rule.rule.id).await.unwrap();
        assert_eq!(stored.rule.overrides[0].enabled, Some(false));
        let bad_override = post(app, &admin, &format!("/admin/rules/{id}/overrides"), &format!("csrf={token}&customer_id={customer}&stale_after_hours=0")).await;
        assert_eq!(bad_override.status, StatusCode::UNPROCESSABLE_ENTITY);
        let removed = post(app, &admin, &format!("/admin/rules/{id}/overrides/{customer}/delete"), &format!("csrf={token}")).await;
        assert_eq!(removed.status, StatusCode::SEE_OTHER);
        assert!(app.store.alert_rule(rule.rule.id).await.unwrap().rule.overrides.is_empty());
        // Off, then deleted.
        let off = post(app, &admin, &format!("/admin/rules/{id}/disable"), &format!("csrf={token}")).await;
        assert_eq!(off.status, StatusCode::SEE_OTHER);
        assert!(!app.store.alert_rule(rule.rule.id).await.unwrap().rule.spec.enabled);
        let gone = post(app, &admin, &format!("/admin/rules/{id}/delete"), &format!("csrf={token}")).await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER);
        assert_eq!(app.store.alert_rules().await.unwrap().len(), rules_before);
    })
    .await;
}

#[tokio::test]
async fn connecting_keepit_tests_first_and_never_shows_a_password_again() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let token = csrf(&get(&app.router, "/admin/integrations", &admin).await);
        // The fixture's integration is for this parent already; delete it first, keeping the data.
        let id = app.integration.0;
        let confirm = get(&app.router, &format!("/admin/integrations/{id}/delete"), &admin).await;
        assert!(confirm.text.contains("Delete, keep the data"));
        let deleted = post(app, &admin, &format!("/admin/integrations/{id}/delete"), &format!("csrf={token}&purge=false")).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert!(app.store.integrations().await.unwrap().is_empty());

        let mock = &app._mock;
        let form = |password: &str| {
            format!(
                "csrf={token}&name=Production&parent_account_guid={}&base_url={}&auth=login&username={}&password={}",
                url_encode(app.fleet.parent().as_str()),
                url_encode(&mock.uri()),
                url_encode(mock.credentials().username()),
                url_encode(password),
            )
        };
        let wrong = "not-the-password-at-all";
        let refused = post(app, &admin, "/admin/integrations", &form(wrong)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.text.contains("Keepit refused the credentials"), "{}", refused.text);
        assert!(!refused.text.contains(wrong), "a password is never written back");
        assert!(refused.text.contains("value=\"Production\""), "what was typed stays");
        assert!(app.store.integrations().await.unwrap().is_empty(), "nothing stored");

        let password = mock.credentials().password().expose_secret().to_owned();
        let tested = post(app, &admin, "/admin/integrations/test", &form(&password)).await;
        assert_eq!(tested.status, StatusCode::OK);
        assert!(tested.text.contains("Keepit accepted the credentials"), "{}", tested.text);
        assert!(tested.text.contains(app.fleet.parent().as_str()));
        assert!(!tested.text.contains(&password));
        assert!(app.store.integrations().await.unwrap().is_empty(), "a test stores nothing");

        let missing = post(app, &admin, "/admin/integrations", &format!("csrf={token}&name=&auth=login")).await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing.text.contains("name=\"name\" value=\"\" maxlength=\"200\" placeholder=\"Keepit (production)\" aria-invalid=\"true\""));

        let created = post(app, &admin, "/admin/integrations", &form(&password)).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
        let stored = app.store.integrations().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].sync_requested_at.is_some(), "its first sync is asked for");
        let list = get(&app.router, "/admin/integrations?done=created", &admin).await;
        assert!(list.text.contains("waiting for the sync daemon"), "{}", list.text);
        assert!(!list.text.contains(&password));
        let live = request(&app.router, "GET", "/admin/integrations/live", Some(&admin), None, true).await;
        assert!(live.text.contains("every 3s"), "the list refreshes quickly while a sync waits");
    })
    .await;
}

#[tokio::test]
async fn people_and_tokens_from_the_browser() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let token = csrf(&get(&app.router, "/admin/users", &admin).await);
        let short = post(app, &admin, "/admin/users", &format!("csrf={token}&email=tech%40example.test&name=Tech&role=viewer&password=short")).await;
        assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(short.text.contains("Use 12 to"), "{}", short.text);
        assert!(short.text.contains("value=\"tech@example.test\""));
        let added = post(app, &admin, "/admin/users", &format!("csrf={token}&email=tech%40example.test&name=Tech&role=viewer&password=long+enough+secret&send_messages=on")).await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.text);
        let tech = app.store.user_by_email("tech@example.test").await.unwrap().unwrap();
        let _session = sign_in(&app.router, "tech@example.test", "long enough secret").await;
        let duplicate = post(app, &admin, "/admin/users", &format!("csrf={token}&email=tech%40example.test&name=Tech&role=viewer")).await;
        assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", duplicate.text);

        // A token, shown once, then revoked and refused.
        let created = post(app, &admin, &format!("/admin/users/{}/tokens", tech.id.0), &format!("csrf={token}&label=reporting")).await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.text);
        let start = created.text.find("id=\"new-token\" readonly value=\"").unwrap() + 31;
        let secret = created.text[start..].split('"').next().unwrap().to_owned();
        let works = app.call(Method::GET, "/api/v1/jobs?limit=1", Some(&secret), None).await;
        assert_eq!(works.status, StatusCode::OK);
        let list = get(&app.router, "/admin/users", &admin).await;
        assert!(list.text.contains("reporting"));
        assert!(!list.text.contains(&secret), "the secret is shown once");
        let tokens = app.store.api_tokens(tech.id).await.unwrap();
        let revoke = post(app, &admin, &format!("/admin/tokens/{}/revoke", tokens[0].id.0), &format!("csrf={token}")).await;
        assert_eq!(revoke.status, StatusCode::SEE_OTHER);
        let refused = app.call(Method::GET, "/api/v1/jobs?limit=1", Some(&secret), None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

        // Role, password reset, and no demoting or deleting oneself.
        let promoted = post(app, &admin, &format!("/admin/users/{}", tech.id.0), &format!("csrf={token}&role=admin")).await;
        assert_eq!(promoted.status, StatusCode::SEE_OTHER);
        assert_eq!(app.store.user(tech.id).await.unwrap().role, keepit_store::Role::Admin);
        let reset = post(app, &admin, &format!("/admin/users/{}/password", tech.id.0), &format!("csrf={token}&password=another+long+secret")).await;
        assert_eq!(reset.status, StatusCode::SEE_OTHER);
        let _again = sign_in(&app.router, "tech@example.test", "another long secret").await;
        let myself = post(app, &admin, &format!("/admin/users/{}/delete", app.admin_id.0), &format!("csrf={token}")).await;
        assert_eq!(myself.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", myself.text);
        assert!(app.store.user(app.admin_id).await.is_ok());
        let deleted = post(app, &admin, &format!("/admin/users/{}/delete", tech.id.0), &format!("csrf={token}")).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert!(app.store.user_by_email("tech@example.test").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn an_ambiguous_account_is_linked_with_one_click() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let token = csrf(&get(&app.router, "/admin/customers", &admin).await);
        // Two PSA customers of the same name, then an account of that name.
        let csv = "name,external_id\nTailspin Toys,T-1\nTailspin Toys,T-2\n";
        let imported = post(
            app,
            &admin,
            "/admin/customers/import",
            &format!("csrf={token}&csv={}", url_encode(csv)),
        )
        .await;
        assert_eq!(imported.status, StatusCode::OK);
        assert!(
            imported.text.contains("Imported: 2 new"),
            "{}",
            imported.text
        );
        let account = keepit_domain::AccountId::new("tail01-aaaaaa-aaaaaa").unwrap();
        app.store
            .sync_customer(&KeepitAccountSighting {
                integration: app.integration,
                account: account.clone(),
                parent: Some(app.fleet.parent()),
                company_name: "Tailspin Toys".into(),
                seen_at: app.now(),
            })
            .await
            .unwrap();
        let page = get(&app.router, "/admin/customers", &admin).await;
        assert!(
            page.text.contains("several customers match (1)"),
            "{}",
            page.text
        );
        assert_eq!(page.text.matches(">Link to this one</button>").count(), 2);

        let tailspin: Vec<i64> = app
            .store
            .customers()
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.name == "Tailspin Toys")
            .map(|c| c.id.0)
            .collect();
        let hostile = post(
            app,
            &admin,
            "/admin/customers/link",
            &format!(
                "csrf={token}&account=%3Cscript%3E&customer_id={}",
                tailspin[0]
            ),
        )
        .await;
        assert_eq!(hostile.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            !hostile.text.contains("<script>"),
            "what was posted is escaped"
        );
        assert!(
            hostile.text.contains("role=\"alert\""),
            "the refusal is shown"
        );
        let unknown = post(
            app,
            &admin,
            "/admin/customers/link",
            &format!("csrf={token}&account={account}&search=Nobody"),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unknown.text.contains("No customer has that name"));
        let linked = post(
            app,
            &admin,
            "/admin/customers/link",
            &format!("csrf={token}&account={account}&customer_id={}", tailspin[1]),
        )
        .await;
        assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.text);
        let record = app.store.keepit_account(&account).await.unwrap().unwrap();
        assert_eq!(record.link, LinkState::Manual);
        assert_eq!(record.customer.map(|c| c.0), Some(tailspin[1]));
        let page = get(&app.router, "/admin/customers?done=linked", &admin).await;
        assert!(page.text.contains("several customers match (0)"));
        assert!(page.text.contains("Linked by hand (1)"));
        let unlinked = post(
            app,
            &admin,
            "/admin/customers/unlink",
            &format!("csrf={token}&account={account}"),
        )
        .await;
        assert_eq!(unlinked.status, StatusCode::SEE_OTHER);
        assert_ne!(
            app.store
                .keepit_account(&account)
                .await
                .unwrap()
                .unwrap()
                .link,
            LinkState::Manual
        );

        // Merging: the duplicate goes.
        let merged = post(
            app,
            &admin,
            "/admin/customers/merge",
            &format!("csrf={token}&from={}&into={}", tailspin[0], tailspin[1]),
        )
        .await;
        assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.text);
        assert!(
            app.store
                .customer(keepit_domain::CustomerId(tailspin[0]))
                .await
                .is_err()
        );
        let same = post(
            app,
            &admin,
            "/admin/customers/merge",
            &format!("csrf={token}&from={}&into={}", tailspin[1], tailspin[1]),
        )
        .await;
        assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
        let empty = post(
            app,
            &admin,
            "/admin/customers/import",
            &format!("csrf={token}&csv="),
        )
        .await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn connecting_a_psa_tests_first_and_never_writes_a_secret_back() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let token = csrf(&get(&app.router, "/admin/psa", &admin).await);
        // A Halo that refuses the application's credentials.
        let halo = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/auth/token"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
            .mount(&halo)
            .await;
        let secret = "a-secret-nobody-may-read";
        let form = format!(
            "csrf={token}&name=Halo&kind=halopsa&base_url={}&halo_client_id=app&client_secret={secret}",
            url_encode(&halo.uri())
        );
        let refused = post(app, &admin, "/admin/psa", &form).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert!(refused.text.contains("Nothing was saved"), "{}", refused.text);
        assert!(!refused.text.contains(secret), "a secret is never written back");
        assert!(refused.text.contains("value=\"Halo\""), "what was typed stays");
        assert!(app.store.psa_connections().await.unwrap().is_empty());

        // Missing credentials are named next to their field, before anything is tried.
        let missing = post(
            app,
            &admin,
            "/admin/psa",
            &format!("csrf={token}&name=CW&kind=connectwise&base_url=https%3A%2F%2Fcw.example&company_id=msp"),
        )
        .await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing.text.contains("Is required for ConnectWise PSA."), "{}", missing.text);
        // Without the page's CSRF token, nothing happens.
        let forged = post(app, &admin, "/admin/psa", &form.replace(&token, "forged")).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Viewers cannot reach the page.
        let viewer = sign_in(&app.router, "viewer@example.test", VIEWER_PASSWORD).await;
        assert_eq!(get(&app.router, "/admin/psa", &viewer).await.status, StatusCode::FORBIDDEN);
    })
    .await;
}
