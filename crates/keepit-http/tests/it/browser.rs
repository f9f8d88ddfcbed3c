//! The dashboard in a real browser: Debian's Chromium driven through chromedriver
//! (WebDriver) with fantoccini. Signs in, reads the overview's firing alerts,
//! filters the Job Monitor, opens a job report, acknowledges an alert and signs out,
//! taking a screenshot of each page into `target/tmp/screenshots/` for people to
//! look at.
//!
//! CI installs `chromium` and `chromium-driver` (see `.ci/run`) and runs this always;
//! on a workstation without them it says how to install them and stops there.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use secrecy::{ExposeSecret as _, SecretString};

use crate::support::{App, Backend};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "a browser test password";

/// chromedriver, killed when the test ends however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (driver, port)
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn snap(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn click(client: &Client, locator: Locator<'_>) {
    client
        .find(locator)
        .await
        .unwrap_or_else(|error| panic!("nothing to click: {error}"))
        .click()
        .await
        .unwrap();
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .text()
        .await
        .unwrap()
}

/// Whether Chromium and chromedriver are here; CI must have them.
fn browser_available() -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return true;
    }
    #[allow(clippy::disallowed_methods)] // CI must never skip this test.
    let in_ci = std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false");
    assert!(
        !in_ci,
        "CI must install chromium and chromium-driver (.ci/run does)"
    );
    #[allow(clippy::print_stderr)] // Says why nothing ran, on a workstation only.
    {
        eprintln!("browser test not run: apt-get install -y chromium chromium-driver");
    }
    false
}

/// The app served on a local port, and a headless Chromium driving it.
struct Browser {
    client: Client,
    base: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _driver: Driver,
}

impl Browser {
    async fn open(app: &App) -> Browser {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let service = app
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move { axum::serve(listener, service).await });
        let (driver, port) = start_driver();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect to chromedriver");
        Browser {
            client,
            base,
            server,
            _driver: driver,
        }
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.client
            .find(Locator::Css("input[name=email]"))
            .await
            .unwrap()
            .send_keys(email)
            .await
            .unwrap();
        self.client
            .find(Locator::Css("input[name=password]"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        click(&self.client, Locator::Css("form button[type=submit]")).await;
        text_of(&self.client, "header.top").await;
    }

    async fn close(self) {
        self.client.close().await.unwrap();
        self.server.abort();
    }
}

#[tokio::test]
async fn a_technician_signs_in_reads_filters_acknowledges_and_signs_out() {
    if !browser_available() {
        return;
    }
    let app = App::open_with(&Backend::Sqlite, true, true).await;
    app.store
        .set_user_password(app.admin_id, &SecretString::from(PASSWORD), app.now())
        .await
        .unwrap();
    let firing_before = app
        .get("/api/v1/alerts")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["state"] == "firing")
        .count();
    assert!(firing_before > 0, "the fleet has firing alerts to show");

    let browser = Browser::open(&app).await;
    let base = browser.base.clone();
    let client = &browser.client;

    // Signing in.
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );
    snap(client, "01-sign-in").await;
    client
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys("admin@example.test")
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(client, Locator::Css("form button[type=submit]")).await;

    // The overview lists the firing alerts.
    let heading = text_of(client, "#live h2").await;
    assert!(heading.starts_with("Open alerts"), "{heading}");
    let rows = client
        .find_all(Locator::Css("#live table tbody tr span.badge.firing"))
        .await
        .unwrap();
    assert_eq!(rows.len(), firing_before, "every firing alert is listed");
    snap(client, "02-overview").await;

    // The Job Monitor, filtered to unsuccessful jobs.
    client.goto(&format!("{base}/jobs")).await.unwrap();
    click(
        client,
        Locator::Css("input[name=status][value=unsuccessful]"),
    )
    .await;
    click(client, Locator::Css("form.filters button[type=submit]")).await;
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(&{
            let mut url = url::Url::parse(&format!("{base}/jobs")).unwrap();
            url.set_query(Some(
                "customer=&connector=&status=unsuccessful&type=&span=&from=&to=&q=",
            ));
            url
        })
        .await
        .unwrap();
    let statuses = client
        .find_all(Locator::Css("table tbody tr .badge"))
        .await
        .unwrap();
    assert!(!statuses.is_empty(), "the fleet has unsuccessful jobs");
    for status in &statuses {
        assert_eq!(status.text().await.unwrap(), "unsuccessful");
    }
    snap(client, "03-job-monitor").await;

    // One job's report.
    click(client, Locator::Css("table tbody tr td a[href^='/jobs/']")).await;
    let title = text_of(client, "main h1").await;
    assert!(title.contains("job"), "{title}");
    let why = text_of(client, "main h2").await;
    assert_eq!(why, "Why it did not succeed");
    snap(client, "04-job-report").await;

    // The customer and connector behind the first alert, and the inbox.
    client.goto(&format!("{base}/")).await.unwrap();
    click(
        client,
        Locator::Css("#live table tbody tr td a[href^='/customers/']"),
    )
    .await;
    assert_eq!(
        text_of(client, "main h2").await.split(' ').next(),
        Some("Connectors")
    );
    snap(client, "05-customer").await;
    click(
        client,
        Locator::Css("main table tbody tr td a[href^='/connectors/']"),
    )
    .await;
    text_of(client, "dl.facts").await;
    snap(client, "06-connector").await;
    client.goto(&format!("{base}/inbox")).await.unwrap();
    assert_eq!(text_of(client, "main h1").await, "Inbox");
    snap(client, "07-inbox").await;

    // Acknowledging an alert.
    client.goto(&format!("{base}/alerts")).await.unwrap();
    snap(client, "08-alerts").await;
    click(client, Locator::XPath("//button[text()='Acknowledge']")).await;
    let notice = text_of(client, "p.notice").await;
    assert_eq!(notice, "The alert is acknowledged.");
    let acknowledged = app
        .store
        .alerts(&Default::default())
        .await
        .unwrap()
        .iter()
        .filter(|alert| alert.acknowledged_by == Some(app.admin_id))
        .count();
    assert_eq!(acknowledged, 1);
    snap(client, "09-acknowledged").await;

    // The wallboard, then signing out.
    client.goto(&format!("{base}/wall")).await.unwrap();
    text_of(client, "body.wall .strip").await;
    snap(client, "10-wallboard").await;
    // The overview on a phone.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    text_of(client, "#live h2").await;
    snap(client, "11-overview-phone").await;
    client.goto(&format!("{base}/")).await.unwrap();
    click(client, Locator::XPath("//button[text()='Sign out']")).await;
    text_of(client, "form input[name=password]").await;
    client.goto(&format!("{base}/alerts")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );

    browser.close().await;
}

/// Waits until the text of `css` satisfies `done`, for up to `seconds`.
async fn wait_for_text(
    client: &Client,
    css: &str,
    seconds: u64,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && done(&text)
        {
            return text;
        }
        assert!(Instant::now() < deadline, "{css} never got there");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"));
    field.clear().await.unwrap();
    if !text.is_empty() {
        field.send_keys(text).await.unwrap();
    }
}

#[tokio::test]
async fn an_admin_connects_keepit_links_an_account_revokes_a_token_and_tunes_a_rule() {
    if !browser_available() {
        return;
    }
    let app = App::open_with(&Backend::Sqlite, true, true).await;
    app.store
        .set_user_password(app.admin_id, &SecretString::from(PASSWORD), app.now())
        .await
        .unwrap();
    let browser = Browser::open(&app).await;
    let client = &browser.client;
    browser.sign_in("admin@example.test", PASSWORD).await;

    // Integrations: the fixture's goes (keeping its data), then the same parent
    // account is connected again from the form, tested first.
    browser.goto("/admin/integrations").await;
    snap(client, "12-admin-integrations").await;
    browser
        .goto(&format!("/admin/integrations/{}/delete", app.integration.0))
        .await;
    snap(client, "13-admin-integration-delete").await;
    click(
        client,
        Locator::XPath("//button[text()='Delete, keep the data']"),
    )
    .await;
    text_of(client, "p.notice").await;
    let mock = &app._mock;
    let password = mock.credentials().password().expose_secret().to_owned();
    fill(client, "input[name=name]", "Production").await;
    fill(
        client,
        "input[name=parent_account_guid]",
        app.fleet.parent().as_str(),
    )
    .await;
    fill(client, "input[name=base_url]", &mock.uri()).await;
    fill(
        client,
        "input[name=username]",
        mock.credentials().username(),
    )
    .await;
    fill(client, "input[name=password]", &password).await;
    click(client, Locator::XPath("//button[text()='Test connection']")).await;
    let tested = text_of(client, "#test-result").await;
    assert!(
        tested.starts_with("Keepit accepted the credentials"),
        "{tested}"
    );
    snap(client, "14-admin-integration-tested").await;
    // The password is not written back: it is typed again to save.
    let typed = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some(""));
    fill(client, "input[name=password]", &password).await;
    click(
        client,
        Locator::XPath("//button[text()='Test, save and sync']"),
    )
    .await;
    wait_for_text(client, "[data-progress]", 10, |text| {
        text.contains("waiting")
    })
    .await;
    assert_eq!(
        app.run_requested_syncs().await,
        1,
        "the daemon finds one sync asked for"
    );
    // The list refreshes itself while a sync waits or runs.
    wait_for_text(client, "[data-run-outcome]", 15, |text| text == "ok").await;
    snap(client, "15-admin-integration-synced").await;

    // Customers: an account that matched two customers, linked with one click.
    let csv = "name,external_id\nTailspin Toys,T-1\nTailspin Toys,T-2\n";
    app.store
        .import_customers_csv(csv.as_bytes(), app.now())
        .await
        .unwrap();
    let account = keepit_domain::AccountId::new("tail01-aaaaaa-aaaaaa").unwrap();
    let integration = app.store.integrations().await.unwrap()[0].id;
    app.store
        .sync_customer(&keepit_store::KeepitAccountSighting {
            integration,
            account: account.clone(),
            parent: Some(app.fleet.parent()),
            company_name: "Tailspin Toys".into(),
            seen_at: app.now(),
        })
        .await
        .unwrap();
    browser.goto("/admin/customers").await;
    snap(client, "16-admin-customers").await;
    click(
        client,
        Locator::XPath("(//button[text()='Link to this one'])[2]"),
    )
    .await;
    let linked = text_of(client, "p.notice").await;
    assert!(linked.starts_with("The account was linked"), "{linked}");
    let record = app.store.keepit_account(&account).await.unwrap().unwrap();
    assert_eq!(record.link, keepit_store::LinkState::Manual);

    // People: a token, shown once, used, revoked and refused.
    browser.goto("/admin/users").await;
    let row = format!("#user-{}", app.admin_id.0);
    fill(
        client,
        &format!("{row} input[name=label]"),
        "browser script",
    )
    .await;
    click(
        client,
        Locator::Css(&format!("{row} form[action$='/tokens'] button")),
    )
    .await;
    let secret = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#new-token"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("the new token");
    snap(client, "17-admin-users-token").await;
    let works = app
        .call(
            axum::http::Method::GET,
            "/api/v1/jobs?limit=1",
            Some(&secret),
            None,
        )
        .await;
    assert_eq!(works.status, axum::http::StatusCode::OK);
    click(
        client,
        Locator::XPath("//li[contains(., 'browser script')]//button[text()='Revoke']"),
    )
    .await;
    client.accept_alert().await.unwrap();
    let revoked = text_of(client, "p.notice").await;
    assert!(revoked.starts_with("The token was revoked"), "{revoked}");
    let refused = app
        .call(
            axum::http::Method::GET,
            "/api/v1/jobs?limit=1",
            Some(&secret),
            None,
        )
        .await;
    assert_eq!(refused.status, axum::http::StatusCode::UNAUTHORIZED);

    // Rules: tighten the stale rule, watch the dry run follow, save, and see the
    // overview after the next pass.
    browser.goto("/admin/rules").await;
    snap(client, "18-admin-rules").await;
    click(
        client,
        Locator::XPath("//tr[td/span[text()='No recent backup']]//a[text()='Edit']"),
    )
    .await;
    click(client, Locator::XPath("//button[text()='Dry run']")).await;
    let before: u64 = text_of(client, "[data-preview=firing]")
        .await
        .parse()
        .unwrap();
    fill(client, "input[name=warn_after_hours]", "").await;
    fill(client, "input[name=stale_after_hours]", "2").await;
    let after: u64 = wait_for_text(client, "[data-preview=firing]", 15, |text| {
        text.parse::<u64>().is_ok_and(|n| n != before)
    })
    .await
    .parse()
    .unwrap();
    assert!(
        after > before,
        "a tighter rule holds more: {before} -> {after}"
    );
    snap(client, "19-admin-rule-dry-run").await;
    click(client, Locator::XPath("//button[text()='Save changes']")).await;
    let saved = text_of(client, "p.notice").await;
    assert!(saved.starts_with("The rule was saved"), "{saved}");
    keepit_alerts::AlertPass::default()
        .run(&app.store, &[], app.now())
        .await
        .unwrap();
    let stale_rule = app
        .store
        .alert_rules()
        .await
        .unwrap()
        .into_iter()
        .find(|record| record.rule.spec.kind == keepit_domain::RuleKind::BackupStale)
        .unwrap()
        .rule
        .id;
    let stale_firing = app
        .store
        .alerts(&Default::default())
        .await
        .unwrap()
        .iter()
        .filter(|alert| {
            alert.rule == stale_rule && alert.state == keepit_domain::AlertState::Firing
        })
        .count() as u64;
    assert_eq!(
        stale_firing, after,
        "the pass opens what the dry run showed"
    );
    browser.goto("/").await;
    let firing_rows = client
        .find_all(Locator::Css("#live table tbody tr span.badge.firing"))
        .await
        .unwrap()
        .len();
    assert!(
        firing_rows as u64 >= after,
        "the overview follows the saved rule: {firing_rows} firing rows, {after} previewed"
    );
    snap(client, "20-overview-after-rule-change").await;
    browser.close().await;
}

#[tokio::test]
async fn an_admin_connects_a_psa_picks_its_board_and_statuses_and_imports_companies() {
    if !browser_available() {
        return;
    }
    let app = App::open_with(&Backend::Sqlite, true, true).await;
    app.store
        .set_user_password(app.admin_id, &SecretString::from(PASSWORD), app.now())
        .await
        .unwrap();
    let first = app.store.keepit_accounts(None).await.unwrap()[0]
        .company_name
        .clone();
    let halo = crate::psa::halo(&first).await;
    let browser = Browser::open(&app).await;
    let client = &browser.client;
    browser.sign_in("admin@example.test", PASSWORD).await;

    browser.goto("/admin/psa").await;
    snap(client, "21-admin-psa-empty").await;
    // Connect HaloPSA: the credentials are tested, then saved.
    fill(client, "input[name=name]", "HaloPSA").await;
    click(
        client,
        Locator::Css("select[name=kind] option[value=halopsa]"),
    )
    .await;
    fill(client, "input[name=base_url]", &halo.uri()).await;
    fill(client, "input[name=halo_client_id]", "keepit-watch").await;
    fill(client, "input[name=client_secret]", "the-secret").await;
    click(client, Locator::XPath("//button[text()='Test and save']")).await;
    wait_for_text(client, "p.notice", 10, |text| {
        text.contains("tested and saved")
    })
    .await;
    snap(client, "22-admin-psa-settings").await;

    // The settings page offers the PSA's own ticket types, statuses and priorities.
    click(client, Locator::Css("select[name=board] option[value='3']")).await;
    click(
        client,
        Locator::Css("select[name=new_status] option[value='1']"),
    )
    .await;
    click(
        client,
        Locator::Css("select[name=closed_status] option[value='9']"),
    )
    .await;
    click(
        client,
        Locator::Css("select[name=priority_critical] option[value='2']"),
    )
    .await;
    fill(client, "input[name=reopen_days]", "2").await;
    click(client, Locator::XPath("//button[text()='Save']")).await;
    wait_for_text(client, "p.notice", 10, |text| {
        text.contains("settings were saved")
    })
    .await;
    let stored = app.store.psa_connections().await.unwrap().remove(0);
    assert_eq!(stored.settings.board.as_deref(), Some("3"));
    assert_eq!(stored.settings.closed_status.as_deref(), Some("9"));
    assert_eq!(stored.settings.priority_critical.as_deref(), Some("2"));
    assert_eq!(stored.settings.reopen_days, 2);

    // Companies: imported, and the Keepit account of the same name follows.
    browser.goto("/admin/psa").await;
    click(
        client,
        Locator::XPath("//button[text()='Import companies']"),
    )
    .await;
    wait_for_text(client, "#psa-outcome", 10, |text| {
        text.contains("150 active companies read")
    })
    .await;
    let account = app.store.keepit_accounts(None).await.unwrap().remove(0);
    let customer = app.store.customer(account.customer.unwrap()).await.unwrap();
    assert_eq!(customer.external_id.as_deref(), Some("41"));

    // A ticket opened for one of the firing alerts shows in the list.
    let alert = app
        .store
        .alerts(&Default::default())
        .await
        .unwrap()
        .remove(0);
    app.store
        .insert_psa_ticket(&keepit_store::NewPsaTicket {
            connection: stored.id,
            alert: alert.id,
            rule: alert.rule,
            connector: alert.connector.clone(),
            customer: Some(customer.id),
            key: format!("kw-{}-{}", alert.rule.0, alert.connector),
            ticket: "5150".into(),
            company: "41".into(),
            opened_status: Some("1".into()),
            at: app.now(),
        })
        .await
        .unwrap();
    browser.goto("/admin/psa").await;
    let ticket = text_of(client, "#tickets + div table tbody tr").await;
    assert!(
        ticket.contains("#5150") && ticket.contains("open"),
        "{ticket}"
    );
    snap(client, "23-admin-psa-imported").await;
    browser.close().await;
}
