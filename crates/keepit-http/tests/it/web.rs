//! The dashboard from the outside: sign-in, sessions, CSRF, roles, and every page as
//! a full page and as its htmx fragment.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::TimeDelta;
use http_body_util::BodyExt as _;
use secrecy::SecretString;
use tower::ServiceExt as _;

use crate::support::{App, on_each_backend};

pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery";
pub(crate) const VIEWER_PASSWORD: &str = "viewer staple battery";

/// A page's answer.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) set_cookie: Option<String>,
    pub(crate) text: String,
}

pub(crate) async fn request(
    router: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    htmx: bool,
) -> Page {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, format!("kw_session={cookie}"));
    }
    if htmx {
        builder = builder.header("hx-request", "true");
    }
    let request = match form {
        Some(form) => builder
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|value: &header::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let location = header_text(header::LOCATION);
    let set_cookie = header_text(header::SET_COOKIE);
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        location,
        set_cookie,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

pub(crate) async fn get(router: &Router, path: &str, cookie: &str) -> Page {
    request(router, "GET", path, Some(cookie), None, false).await
}

/// Signs in and returns the session cookie's value.
pub(crate) async fn sign_in(router: &Router, email: &str, password: &str) -> String {
    let form = format!(
        "email={}&password={}",
        url_encode(email),
        url_encode(password)
    );
    let page = request(router, "POST", "/login", None, Some(&form), false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let cookie = page.set_cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("kw_session="))
        .unwrap()
        .to_owned()
}

pub(crate) fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The CSRF token a page's forms carry.
pub(crate) fn csrf(page: &Page) -> String {
    let start = page
        .text
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    let end = page.text[start..].find('"').unwrap() + start;
    page.text[start..end].to_owned()
}

pub(crate) async fn with_passwords(app: &App) {
    app.store
        .set_user_password(app.admin_id, &SecretString::from(ADMIN_PASSWORD), app.now())
        .await
        .unwrap();
    app.store
        .set_user_password(
            app.viewer_id,
            &SecretString::from(VIEWER_PASSWORD),
            app.now(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn signing_in_and_out_with_a_session_cookie() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let router = &app.router;
        // Not signed in: every page sends the browser to the sign-in form, an htmx
        // refresh gets a redirect header instead.
        let away = request(router, "GET", "/jobs?span=7d", None, None, false).await;
        assert_eq!(away.status, StatusCode::SEE_OTHER);
        assert_eq!(
            away.location.as_deref(),
            Some("/login?next=%2Fjobs%3Fspan%3D7d")
        );
        let htmx = request(router, "GET", "/", None, None, true).await;
        assert_eq!(htmx.status, StatusCode::OK);
        let form = request(router, "GET", "/login", None, None, false).await;
        assert!(form.text.contains("name=\"email\"") && form.text.contains("name=\"password\""));

        // A wrong password and an unknown e-mail answer the same.
        let wrong = request(
            router,
            "POST",
            "/login",
            None,
            Some("email=admin%40example.test&password=nope-nope-nope"),
            false,
        )
        .await;
        let unknown = request(
            router,
            "POST",
            "/login",
            None,
            Some("email=nobody%40example.test&password=nope-nope-nope"),
            false,
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status, wrong.status);
        assert!(wrong.text.contains("do not match an account"));
        assert_eq!(
            wrong.text.replace("admin@example.test", "X"),
            unknown.text.replace("nobody@example.test", "X")
        );
        assert!(wrong.set_cookie.is_none());

        // Another site's form cannot sign a browser in.
        let forged = app
            .router
            .clone()
            .oneshot(
                Request::builder()
                    .method("POST")
                    .uri("/login")
                    .header(header::HOST, "watch.msp.example")
                    .header(header::ORIGIN, "https://evil.example")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "email=admin%40example.test&password={}",
                        url_encode(ADMIN_PASSWORD)
                    )))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        assert!(forged.headers().get(header::SET_COOKIE).is_none());

        // Signed in: the overview, then signed out for good.
        let cookie = sign_in(router, "admin@example.test", ADMIN_PASSWORD).await;
        let overview = get(router, "/", &cookie).await;
        assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
        assert!(
            overview
                .text
                .contains("<title>Overview · keepit-watch</title>")
        );
        let token = csrf(&overview);
        let out = request(
            router,
            "POST",
            "/logout",
            Some(&cookie),
            Some(&format!("csrf={token}")),
            false,
        )
        .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
        assert_eq!(
            get(router, "/", &cookie).await.status,
            StatusCode::SEE_OTHER
        );
        // The page keeps no secret: not the cookie, not a password.
        assert!(!overview.text.contains(&cookie) && !overview.text.contains(ADMIN_PASSWORD));
    })
    .await;
}

#[tokio::test]
async fn a_session_ends_after_idle_time_and_a_password_change() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let cookie = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let later = app.at(app.now() + TimeDelta::hours(9));
        let page = get(&later, "/alerts", &cookie).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "eight idle hours end a session"
        );
        let cookie = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        assert_eq!(
            get(&app.router, "/alerts", &cookie).await.status,
            StatusCode::OK
        );
        app.store
            .set_user_password(
                app.admin_id,
                &SecretString::from("another long password"),
                app.now(),
            )
            .await
            .unwrap();
        assert_eq!(
            get(&app.router, "/alerts", &cookie).await.status,
            StatusCode::SEE_OTHER
        );
    })
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        for _ in 0..5 {
            let page = request(
                &app.router,
                "POST",
                "/login",
                None,
                Some("email=admin%40example.test&password=wrong-wrong-wrong"),
                false,
            )
            .await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        }
        let form = format!(
            "email=admin%40example.test&password={}",
            url_encode(ADMIN_PASSWORD)
        );
        let limited = request(&app.router, "POST", "/login", None, Some(&form), false).await;
        assert_eq!(
            limited.status,
            StatusCode::TOO_MANY_REQUESTS,
            "even the right password waits"
        );
        assert!(limited.set_cookie.is_none());
        // The same for an e-mail nobody has: the limit says nothing about accounts.
        for _ in 0..5 {
            request(
                &app.router,
                "POST",
                "/login",
                None,
                Some("email=ghost%40example.test&password=wrong-wrong-wrong"),
                false,
            )
            .await;
        }
        let ghost = request(
            &app.router,
            "POST",
            "/login",
            None,
            Some("email=ghost%40example.test&password=wrong-wrong-wrong"),
            false,
        )
        .await;
        assert_eq!(ghost.status, StatusCode::TOO_MANY_REQUESTS);
        // Another account is not locked out by these.
        let viewer = format!(
            "email=viewer%40example.test&password={}",
            url_encode(VIEWER_PASSWORD)
        );
        assert_eq!(
            request(&app.router, "POST", "/login", None, Some(&viewer), false)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
    })
    .await;
}

#[tokio::test]
async fn every_page_renders_for_admins_and_viewers() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        crate::alerts::open_alert(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let viewer = sign_in(&app.router, "viewer@example.test", VIEWER_PASSWORD).await;
        let jobs = app.get("/api/v1/jobs?status=unsuccessful&limit=1").await;
        let job = jobs.json["jobs"][0]["job_guid"]
            .as_str()
            .unwrap()
            .to_owned();
        let connector = jobs.json["jobs"][0]["connector_guid"]
            .as_str()
            .unwrap()
            .to_owned();
        let customer = jobs.json["jobs"][0]["customer_id"].as_i64().unwrap();
        let pages = [
            ("/", "Open alerts (1)"),
            ("/alerts", "Resolved in the last 7 days"),
            ("/jobs", "Job Monitor"),
            ("/jobs?status=unsuccessful&span=30d", "attention"),
            (&format!("/jobs/{job}") as &str, "Why it did not succeed"),
            (&format!("/customers/{customer}"), "Last 30 days"),
            (&format!("/connectors/{connector}"), "Recent jobs"),
            ("/inbox", "Inbox"),
            ("/wall", "keepit-watch"),
        ];
        for (path, expected) in pages {
            for (who, cookie) in [("admin", &admin), ("viewer", &viewer)] {
                let page = get(&app.router, path, cookie).await;
                assert_eq!(page.status, StatusCode::OK, "{who} {path}: {}", page.text);
                assert!(
                    page.text.contains(expected),
                    "{who} {path} lacks {expected:?}"
                );
                assert!(
                    page.text.len() < 300_000,
                    "{path} is {} bytes",
                    page.text.len()
                );
                let buttons = page.text.contains(">Acknowledge</button>");
                if who == "viewer" {
                    assert!(!buttons, "a viewer sees no button they may not use: {path}");
                }
            }
        }
        let overview = get(&app.router, "/", &admin).await;
        assert!(
            overview.text.contains(">Acknowledge</button>"),
            "admins may act"
        );
        // htmx asks for the region it refreshes, not the page.
        for path in ["/", "/wall"] {
            let fragment = request(&app.router, "GET", path, Some(&admin), None, true).await;
            assert_eq!(fragment.status, StatusCode::OK);
            assert!(!fragment.text.contains("<html"), "{path}");
            assert!(fragment.text.contains("class=\"strip\""), "{path}");
        }
    })
    .await;
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_viewers_change_only_their_inbox() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let id = crate::alerts::open_alert(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let page = get(&app.router, "/alerts", &admin).await;
        let token = csrf(&page);
        let path = format!("/alerts/{id}/acknowledge");
        for form in ["quiet_hours=", "csrf=forged&quiet_hours="] {
            let refused =
                request(&app.router, "POST", &path, Some(&admin), Some(form), false).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form}");
        }
        assert!(
            app.store.alerts(&Default::default()).await.unwrap()[0]
                .acknowledged_at
                .is_none()
        );
        let bad = request(
            &app.router,
            "POST",
            &path,
            Some(&admin),
            Some(&format!("csrf={token}&quiet_hours=forever")),
            false,
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let done = request(
            &app.router,
            "POST",
            &path,
            Some(&admin),
            Some(&format!("csrf={token}&quiet_hours=4")),
            false,
        )
        .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
        let alert = &app.store.alerts(&Default::default()).await.unwrap()[0];
        assert_eq!(alert.acknowledged_by, Some(app.admin_id));
        assert_eq!(alert.silenced_until, Some(app.now() + TimeDelta::hours(4)));
        let after = get(&app.router, "/alerts?done=acknowledged", &admin).await;
        assert!(
            after.text.contains("by admin@example.test"),
            "who acknowledged it shows"
        );

        let viewer = sign_in(&app.router, "viewer@example.test", VIEWER_PASSWORD).await;
        let viewer_token = csrf(&get(&app.router, "/inbox", &viewer).await);
        let refused = request(
            &app.router,
            "POST",
            &format!("/alerts/{id}/silence"),
            Some(&viewer),
            Some(&format!("csrf={viewer_token}&hours=8")),
            false,
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        // The API reads with a session cookie, but never writes with one.
        let csv = request(
            &app.router,
            "GET",
            "/api/v1/jobs.csv?limit=2",
            Some(&viewer),
            None,
            false,
        )
        .await;
        assert_eq!(csv.status, StatusCode::OK);
        let write = request(
            &app.router,
            "POST",
            &format!("/api/v1/alerts/{id}/acknowledge"),
            Some(&admin),
            None,
            false,
        )
        .await;
        assert_eq!(write.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_a_plain_page_and_a_lost_database_a_503() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let bogus = get(&app.router, "/jobs?status=sleepy", &admin).await;
        assert_eq!(bogus.status, StatusCode::OK);
        assert!(
            bogus.text.contains("unknown job status"),
            "the filter's problem is named"
        );
        for path in [
            "/customers/abc",
            "/customers/999999",
            "/connectors/no-such",
            "/jobs/aaaaaa-bbbbbb-cccccc",
        ] {
            let page = get(&app.router, path, &admin).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.text);
        }
        let huge = "x".repeat(40_000);
        let too_big = request(
            &app.router,
            "POST",
            "/logout",
            Some(&admin),
            Some(&format!("csrf={huge}")),
            false,
        )
        .await;
        assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
        app.store.clone().close().await.unwrap();
        let down = get(&app.router, "/", &admin).await;
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        let text = down.text.to_lowercase();
        for internal in ["sqlx", "pool", "select", "panicked"] {
            assert!(!text.contains(internal), "{internal} leaked");
        }
    })
    .await;
}

#[tokio::test]
async fn the_overview_follows_a_change_at_once() {
    on_each_backend(async |app: &App| {
        with_passwords(app).await;
        let admin = sign_in(&app.router, "admin@example.test", ADMIN_PASSWORD).await;
        let count = |page: &Page, label: &str| {
            let end = page
                .text
                .find(&format!("</b><span>{label}</span>"))
                .expect(label);
            let start = page.text[..end].rfind("<b>").unwrap() + 3;
            page.text[start..end].parse::<usize>().unwrap()
        };
        let before = get(&app.router, "/", &admin).await;
        let connectors = count(&before, "connectors");
        assert_eq!(count(&before, "not watched"), 0);
        // Read again from the cache: the same page.
        assert_eq!(
            count(&get(&app.router, "/", &admin).await, "not watched"),
            0
        );
        let disabled = app
            .post(
                &format!("/api/v1/integrations/{}/disable", app.integration.0),
                None,
            )
            .await;
        assert_eq!(disabled.status, StatusCode::OK);
        let after = get(&app.router, "/", &admin).await;
        assert_eq!(
            count(&after, "not watched"),
            connectors,
            "nothing of a disabled integration is watched"
        );
    })
    .await;
}
