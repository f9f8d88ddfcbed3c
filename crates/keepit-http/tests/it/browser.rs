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
use secrecy::SecretString;

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

#[tokio::test]
async fn a_technician_signs_in_reads_filters_acknowledges_and_signs_out() {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = app
        .router
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });

    let (_driver, port) = start_driver();
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
    snap(&client, "01-sign-in").await;
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
    click(&client, Locator::Css("form button[type=submit]")).await;

    // The overview lists the firing alerts.
    let heading = text_of(&client, "#live h2").await;
    assert!(heading.starts_with("Open alerts"), "{heading}");
    let rows = client
        .find_all(Locator::Css("#live table tbody tr span.badge.firing"))
        .await
        .unwrap();
    assert_eq!(rows.len(), firing_before, "every firing alert is listed");
    snap(&client, "02-overview").await;

    // The Job Monitor, filtered to unsuccessful jobs.
    client.goto(&format!("{base}/jobs")).await.unwrap();
    click(
        &client,
        Locator::Css("input[name=status][value=unsuccessful]"),
    )
    .await;
    click(&client, Locator::Css("form.filters button[type=submit]")).await;
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
    snap(&client, "03-job-monitor").await;

    // One job's report.
    click(&client, Locator::Css("table tbody tr td a[href^='/jobs/']")).await;
    let title = text_of(&client, "main h1").await;
    assert!(title.contains("job"), "{title}");
    let why = text_of(&client, "main h2").await;
    assert_eq!(why, "Why it did not succeed");
    snap(&client, "04-job-report").await;

    // The customer and connector behind the first alert, and the inbox.
    client.goto(&format!("{base}/")).await.unwrap();
    click(
        &client,
        Locator::Css("#live table tbody tr td a[href^='/customers/']"),
    )
    .await;
    assert_eq!(
        text_of(&client, "main h2").await.split(' ').next(),
        Some("Connectors")
    );
    snap(&client, "05-customer").await;
    click(
        &client,
        Locator::Css("main table tbody tr td a[href^='/connectors/']"),
    )
    .await;
    text_of(&client, "dl.facts").await;
    snap(&client, "06-connector").await;
    client.goto(&format!("{base}/inbox")).await.unwrap();
    assert_eq!(text_of(&client, "main h1").await, "Inbox");
    snap(&client, "07-inbox").await;

    // Acknowledging an alert.
    client.goto(&format!("{base}/alerts")).await.unwrap();
    snap(&client, "08-alerts").await;
    click(&client, Locator::XPath("//button[text()='Acknowledge']")).await;
    let notice = text_of(&client, "p.notice").await;
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
    snap(&client, "09-acknowledged").await;

    // The wallboard, then signing out.
    client.goto(&format!("{base}/wall")).await.unwrap();
    text_of(&client, "body.wall .strip").await;
    snap(&client, "10-wallboard").await;
    // The overview on a phone.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    text_of(&client, "#live h2").await;
    snap(&client, "11-overview-phone").await;
    client.goto(&format!("{base}/")).await.unwrap();
    click(&client, Locator::XPath("//button[text()='Sign out']")).await;
    text_of(&client, "form input[name=password]").await;
    client.goto(&format!("{base}/alerts")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/login")
    );

    client.close().await.unwrap();
    server.abort();
}
