//! The command line from the outside: the contract-smoke sequence against the real
//! binary (user add, token create, serve), plus usage errors.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "keepit-server-cli-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // Unique among running processes only: clear what an earlier process with a
    // reused pid may have left there.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keepit-server"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("KEEPIT_MASTER_KEY_FILE", dir.join("master.key"));
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run keepit-server")
}

/// Stops the server when the test ends, even on failure.
struct Server(Child);

impl Drop for Server {
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

#[test]
fn a_bad_flag_exits_64() {
    let dir = temp_dir();
    let output = run(&dir, &["serve", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(64));
    let output = run(
        &dir,
        &[
            "user", "add", "--email", "a@b.c", "--name", "A", "--role", "boss",
        ],
    );
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn token_create_for_an_unknown_user_is_a_usage_error() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let output = run(
        &dir,
        &[
            "token",
            "create",
            "--database-url",
            &database,
            "--user",
            "nobody@example.test",
        ],
    );
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn user_token_and_serve_work_together() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let output = run(
        &dir,
        &[
            "user",
            "add",
            "--database-url",
            &database,
            "--email",
            "smoke@example.test",
            "--name",
            "Smoke",
            "--role",
            "admin",
            "--primary",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let output = run(
        &dir,
        &[
            "token",
            "create",
            "--database-url",
            &database,
            "--user",
            "smoke@example.test",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("kw_"), "{stdout}");

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = command(
        &dir,
        &["serve", "--database-url", &database, "--listen", &listen],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("start keepit-server");
    let mut server = Server(child);
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not answer /healthz");
    let status = |path: &'static str, token: Option<String>| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut request = http.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status("/api/v1/jobs", None).await, 401);
    assert_eq!(status("/api/v1/jobs", Some(token.clone())).await, 200);
    assert_eq!(
        status("/api/v1/openapi.json", Some(token.clone())).await,
        200
    );
    assert_eq!(
        status("/api/v1/jobs?status=bogus", Some(token.clone())).await,
        400
    );
    assert_eq!(status("/readyz", Some(token.clone())).await, 200);

    // SIGTERM stops it cleanly: it finishes what is in flight and exits 0.
    let pid = server.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let mut exit = None;
    for _ in 0..100 {
        if let Some(status) = server.0.try_wait().expect("wait for keepit-server") {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exit = exit.expect("keepit-server did not stop within 10 s of SIGTERM");
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}

#[test]
fn serve_refuses_an_unreadable_master_key() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let output = command(
        &dir,
        &[
            "serve",
            "--database-url",
            &database,
            "--listen",
            "127.0.0.1:0",
        ],
    )
    .env("KEEPIT_MASTER_KEY", "not-a-key")
    .output()
    .expect("run keepit-server");
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KEEPIT_MASTER_KEY"), "{stderr}");
    assert!(
        !stderr.contains("not-a-key"),
        "the bad value is not echoed: {stderr}"
    );
}

/// Waits until the server answers `/healthz`.
async fn wait_until_up(http: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not answer /healthz");
}

#[tokio::test]
async fn trace_logs_never_hold_a_secret() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let dashboard_password = "dashboard-Pa55word-x1";
    std::fs::write(dir.join("password.txt"), format!("{dashboard_password}\n")).unwrap();
    let added = run(
        &dir,
        &[
            "user",
            "add",
            "--database-url",
            &database,
            "--email",
            "ops@example.test",
            "--name",
            "Ops",
            "--role",
            "admin",
            "--password-file",
            dir.join("password.txt").to_str().unwrap(),
        ],
    );
    assert!(added.status.success(), "{added:?}");
    assert!(String::from_utf8_lossy(&added.stdout).contains("may sign in to the dashboard"));
    // A password too short to keep is refused before anything changes.
    std::fs::write(dir.join("short.txt"), "short\n").unwrap();
    let short = run(
        &dir,
        &[
            "user",
            "set",
            "--database-url",
            &database,
            "--email",
            "ops@example.test",
            "--password-file",
            dir.join("short.txt").to_str().unwrap(),
        ],
    );
    assert_eq!(short.status.code(), Some(64), "{short:?}");
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let created = run(
        &dir,
        &[
            "token",
            "create",
            "--database-url",
            &database,
            "--user",
            "ops@example.test",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let stdout_path = dir.join("serve.out");
    let stderr_path = dir.join("serve.err");
    let child = command(
        &dir,
        &["serve", "--database-url", &database, "--listen", &listen],
    )
    .env("RUST_LOG", "trace")
    .stdout(std::fs::File::create(&stdout_path).unwrap())
    .stderr(std::fs::File::create(&stderr_path).unwrap())
    .spawn()
    .expect("start keepit-server");
    let mut server = Server(child);
    let base = format!("http://{listen}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;

    // A failed sign-in: a well-formed token that is not ours.
    let wrong_token = "kw_0000000000000000WRONGTOKEN00000000000000";
    let refused = http
        .get(format!("{base}/api/v1/jobs"))
        .bearer_auth(wrong_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Two integrations, one per kind of credential, then a connection test that
    // sends them to a host that refuses the connection.
    let password = "pw-Sup3r-S3cret-9f1c";
    let api_password = "tok-Sup3r-S3cret-77ab";
    let bodies = [
        serde_json::json!({
            "name": "Password pair", "parent_account_guid": "aaaaaa-bbbbbb-cccccc",
            "base_url": "http://127.0.0.1:9", "username": "ops@msp.example", "password": password,
        }),
        serde_json::json!({
            "name": "Token pair", "parent_account_guid": "dddddd-eeeeee-ffffff",
            "base_url": "http://127.0.0.1:9", "api_token_login": "login-1", "api_token_password": api_password,
        }),
    ];
    for body in bodies {
        let answer = http
            .post(format!("{base}/api/v1/integrations"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
        let id = serde_json::from_str::<serde_json::Value>(&answer.text().await.unwrap()).unwrap()
            ["id"]
            .as_i64()
            .unwrap();
        let tested = http
            .post(format!("{base}/api/v1/integrations/{id}/test"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(tested.status(), 200);
        let report: serde_json::Value =
            serde_json::from_str(&tested.text().await.unwrap()).unwrap();
        assert_eq!(report["ok"], false, "{report}");
    }
    // Signing in to the dashboard with the password from the file.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=ops%40example.test&password={dashboard_password}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let overview = browser
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    assert!(overview.text().await.unwrap().contains("<h1>Overview</h1>"));
    drop(server.0.kill());
    let _ = server.0.wait();

    let output = std::fs::read_to_string(&stdout_path).unwrap()
        + &std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        output.contains("TRACE") && output.contains("/api/v1/integrations"),
        "the server logged too little to prove anything:\n{output}"
    );
    let master_key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    // user:password as a Basic header would carry it.
    let basic = |user: &str, password: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };
    for secret in [
        token.as_str(),
        wrong_token,
        password,
        api_password,
        master_key.trim(),
        &basic("ops@msp.example", password),
        &basic("login-1", api_password),
        dashboard_password,
        cookie.trim_start_matches("kw_session="),
    ] {
        assert!(
            !output.contains(secret),
            "a secret reached the logs: {secret}"
        );
    }
}

#[test]
fn users_and_tokens_are_managed_from_the_command_line() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let db = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database-url", database.as_str()]);
        run(&dir, &all)
    };
    let added = db(&[
        "user",
        "add",
        "--email",
        "boss@msp.example",
        "--name",
        "Boss",
        "--role",
        "admin",
        "--primary",
    ]);
    assert!(added.status.success(), "{added:?}");
    let added = db(&[
        "user",
        "add",
        "--email",
        "tech@msp.example",
        "--name",
        "Tech",
        "--role",
        "viewer",
    ]);
    assert!(added.status.success(), "{added:?}");

    // Seed 000: the technician opts in to messages.
    let set = db(&[
        "user",
        "set",
        "--email",
        "tech@msp.example",
        "--send-messages",
        "true",
    ]);
    assert!(set.status.success(), "{set:?}");
    let listed = String::from_utf8(db(&["user", "list"]).stdout).unwrap();
    let tech = listed
        .lines()
        .find(|line| line.contains("tech@msp.example"))
        .unwrap();
    assert!(tech.contains("viewer") && tech.contains("yes"), "{listed}");
    // The last administrator cannot be demoted.
    let demoted = db(&[
        "user",
        "set",
        "--email",
        "boss@msp.example",
        "--role",
        "viewer",
    ]);
    assert!(!demoted.status.success());

    let created = db(&[
        "token",
        "create",
        "--user",
        "tech@msp.example",
        "--label",
        "report",
    ]);
    assert!(created.status.success(), "{created:?}");
    let secret = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let listed = String::from_utf8(db(&["token", "list"]).stdout).unwrap();
    assert!(!listed.contains(&secret), "secrets are never listed");
    let line = listed.lines().find(|line| line.contains("report")).unwrap();
    let id = line.split_whitespace().next().unwrap().to_owned();
    let revoked = db(&["token", "revoke", "--id", &id]);
    assert!(revoked.status.success(), "{revoked:?}");
    let listed =
        String::from_utf8(db(&["token", "list", "--user", "tech@msp.example"]).stdout).unwrap();
    let line = listed.lines().find(|line| line.contains("report")).unwrap();
    assert!(!line.trim_end().ends_with('-'), "shown revoked: {line}");
    let again = db(&["token", "revoke", "--id", &id]);
    assert_eq!(again.status.code(), Some(64), "{again:?}");
}

#[tokio::test]
async fn alerts_are_acknowledged_and_silenced_from_the_command_line() {
    use keepit_domain::{AccountId, AlertState, ConnectorId, ConnectorKind, Severity};
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let added = run(
        &dir,
        &[
            "user",
            "add",
            "--database-url",
            &database,
            "--email",
            "noc@msp.example",
            "--name",
            "NOC",
            "--role",
            "admin",
            "--primary",
        ],
    );
    assert!(added.status.success(), "{added:?}");
    // One open alert, written as a sync would.
    let store =
        keepit_store::Store::connect_and_migrate(&keepit_store::StoreConfig::new(&database))
            .await
            .unwrap();
    let now = chrono::Utc::now();
    let connector = ConnectorId::new("cli001-aaaaaa-bbbbbb").unwrap();
    let account = AccountId::new("acc001-aaaaaa-bbbbbb").unwrap();
    store
        .upsert_connectors(
            &[keepit_store::ConnectorRecord {
                connector: connector.clone(),
                account: account.clone(),
                name: "Mail".into(),
                kind: ConnectorKind::Microsoft365,
                created: None,
                accessible: true,
                deletion_deadline: None,
                backup_retention: None,
            }],
            now,
        )
        .await
        .unwrap();
    let rule = store.alert_rules().await.unwrap()[0].rule.id;
    let alert = store
        .apply_alert_observation(&keepit_store::AlertObservation {
            rule,
            connector,
            account,
            state: AlertState::Firing,
            severity: Severity::Critical,
            reason: None,
            last_success_at: None,
            last_attempt_at: None,
            at: now,
            note: None,
        })
        .await
        .unwrap()
        .unwrap()
        .alert
        .id;
    let id = alert.0.to_string();
    let alert_cmd = |args: &[&str]| {
        let mut all = vec!["alert"];
        all.extend_from_slice(args);
        all.extend(["--database-url", database.as_str(), "--id", id.as_str()]);
        run(&dir, &all)
    };
    let acked = alert_cmd(&["ack"]);
    assert!(acked.status.success(), "{acked:?}");
    assert!(String::from_utf8_lossy(&acked.stdout).contains("noc@msp.example"));
    let until = (now + chrono::TimeDelta::hours(4)).to_rfc3339();
    let silenced = alert_cmd(&["silence", "--until", &until]);
    assert!(silenced.status.success(), "{silenced:?}");
    let stored = store.alert(alert).await.unwrap();
    assert!(stored.acknowledged_at.is_some());
    assert!(stored.silenced_until.is_some());
    let lifted = alert_cmd(&["unsilence"]);
    assert!(lifted.status.success(), "{lifted:?}");
    assert!(store.alert(alert).await.unwrap().silenced_until.is_none());
    let past = alert_cmd(&["silence", "--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(past.status.code(), Some(64));
    let unknown = run(
        &dir,
        &["alert", "ack", "--database-url", &database, "--id", "9999"],
    );
    assert_eq!(unknown.status.code(), Some(64));
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_access_log_has_one_info_line_per_request_without_the_query() {
    let dir = temp_dir();
    let database = format!("sqlite://{}?mode=rwc", dir.join("watch.db").display());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = dir.join("server.log");
    let child = command(
        &dir,
        &["serve", "--database-url", &database, "--listen", &listen],
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let server = Server(child);
    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    wait_until_up(&http, &base).await;
    let answer = http
        .get(format!("{base}/api/v1/jobs/abc-123?q=typed-by-a-person"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    drop(server);
    // The default filter (no RUST_LOG) logs each answered request at INFO.
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains("route=\"/api/v1/jobs/{job_guid}\""))
        .unwrap_or_else(|| panic!("no access-log line for the job route in:\n{text}"));
    assert!(
        line.contains("INFO") && line.contains("method=GET"),
        "{line}"
    );
    assert!(
        line.contains("status=401") && line.contains("latency="),
        "{line}"
    );
    assert!(
        !text.contains("typed-by-a-person"),
        "the query string is never logged"
    );
    assert!(
        !text.contains("abc-123"),
        "the route template, not the path"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
