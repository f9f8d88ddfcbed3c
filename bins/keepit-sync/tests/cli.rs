//! The command line from the outside: each subcommand against a fake Keepit, exit
//! codes, output shapes, and no secret in anything printed.

use std::process::{Command, Output};

use keepit_mock::{Fleet, FleetSpec, MockKeepit};
use secrecy::ExposeSecret as _;

use crate::common::{sqlite_url, temp_dir, text};

mod common;

/// Runs the binary with a clean environment (no inherited DATABASE_URL or KEEPIT_*),
/// its key file in `dir`.
async fn keepit_sync(dir: &std::path::Path, args: &[&str]) -> Output {
    let key = dir.join("master.key");
    keepit_sync_with(dir, args, &[("KEEPIT_MASTER_KEY_FILE", &key)]).await
}

#[tokio::test]
async fn bad_flags_and_missing_configuration_exit_64_with_a_message() {
    let dir = temp_dir("cli");
    let output = keepit_sync(&dir, &["run", "--no-such-flag"]).await;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    assert!(text(&output).contains("--no-such-flag"));

    let output = keepit_sync(&dir, &["daemon", "--interval", "fast"]).await;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    // A bare number is not taken for seconds: the message names the units.
    let output = keepit_sync(&dir, &["daemon", "--interval", "15"]).await;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    assert!(text(&output).contains("15m"), "{}", text(&output));

    // --version names the commit and the build date.
    let output = keepit_sync(&dir, &["--version"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let version = text(&output);
    assert!(
        version.starts_with(&format!(
            "keepit-sync {} (commit ",
            env!("CARGO_PKG_VERSION")
        )) && version.contains(", built 20"),
        "{version}"
    );

    let db = sqlite_url(&dir);
    let output = keepit_sync(&dir, &["run", "--database-url", &db]).await;
    assert_eq!(
        output.status.code(),
        Some(64),
        "nothing to sync is a usage error: {}",
        text(&output)
    );
    assert!(text(&output).contains("nothing to sync"));

    let output = keepit_sync(
        &dir,
        &[
            "run",
            "--database-url",
            &db,
            "--region",
            "us-dc",
            "--account-guid",
            "abc-def",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
    assert!(text(&output).contains("credentials are required"));

    let output = keepit_sync(&dir, &["status", "--database-url", "mysql://x"]).await;
    assert_eq!(output.status.code(), Some(64), "{}", text(&output));
}

#[tokio::test]
async fn help_explains_every_subcommand() {
    let dir = temp_dir("cli");
    for sub in ["run", "daemon", "test-connection", "demo", "status"] {
        let output = keepit_sync(&dir, &[sub, "--help"]).await;
        assert_eq!(output.status.code(), Some(0), "{sub}");
        assert!(
            text(&output).contains("--output"),
            "{sub} --help explains --output"
        );
    }
    let output = keepit_sync(&dir, &["run", "--help"]).await;
    let help = text(&output);
    for needle in [
        "--database-url",
        "--region",
        "--base-url",
        "--account-guid",
        "--username",
        "--password",
        "--password-file",
        "--api-token-login",
        "--api-token-password",
        "--output",
        "--log-format",
        "DATABASE_URL",
        "KEEPIT_REGION",
        "KEEPIT_BASE_URL",
        "KEEPIT_ACCOUNT_GUID",
        "KEEPIT_USERNAME",
        "KEEPIT_PASSWORD",
        "KEEPIT_API_TOKEN_LOGIN",
        "KEEPIT_API_TOKEN_PASSWORD",
    ] {
        assert!(help.contains(needle), "run --help lacks {needle}");
    }
    let output = keepit_sync(&dir, &["customers", "import", "--help"]).await;
    assert!(text(&output).contains("external_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_test_connection_and_status_against_a_fake_keepit_without_printing_secrets() {
    let dir = temp_dir("cli");
    let db = sqlite_url(&dir);
    let fleet = Fleet::generate(&FleetSpec {
        accounts: 4,
        connectors_per_account: (1, 3),
        ..FleetSpec::default()
    })
    .unwrap();
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    let parent = served.parent().to_string();
    let username = mock.credentials().username().to_owned();
    let password = mock.credentials().password().expose_secret().to_owned();
    let uri = mock.uri();
    let keepit = [
        "--base-url",
        uri.as_str(),
        "--account-guid",
        parent.as_str(),
        "--username",
        username.as_str(),
        "--password",
        password.as_str(),
    ];

    let mut args = vec!["test-connection"];
    args.extend(keepit);
    let output = keepit_sync(&dir, &args).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains(&parent), "{out}");
    let customers = served.ground_truth().accounts.len() - 1;
    assert!(
        out.contains(&format!("Customer accounts visible: {customers}")),
        "{out}"
    );
    assert!(!out.contains(&password));

    let mut args = vec!["run", "--database-url", db.as_str(), "--output", "json"];
    args.extend(keepit);
    let output = keepit_sync(&dir, &args).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    assert_eq!(json["outcome"], "ok");
    for key in [
        "integrations",
        "accounts",
        "accounts_failed",
        "connectors",
        "jobs_new",
        "audit_events_new",
        "requests",
        "duration_ms",
        "errors",
    ] {
        assert!(
            json.get(key).is_some(),
            "run --output json has {key}: {json}"
        );
    }
    assert_eq!(json["accounts"], customers);
    assert!(
        !text(&output).contains(&password),
        "the password is never printed"
    );

    let output = keepit_sync(&dir, &["status", "--database-url", &db, "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let alerts = json["alerts"].as_array().expect("alerts list");
    for alert in alerts {
        for key in [
            "rule",
            "state",
            "severity",
            "customer",
            "account_guid",
            "connector_guid",
            "connector_name",
            "reason_code",
            "last_success_at",
            "since",
        ] {
            assert!(alert.get(key).is_some(), "alert has {key}: {alert}");
        }
    }
    let output = keepit_sync(&dir, &["status", "--database-url", &db]).await;
    assert_eq!(output.status.code(), Some(0));

    // Wrong credentials: the pass fails (exit 1), says why, and does not echo the password.
    let wrong = "not-the-password-123";
    let args = [
        "run",
        "--database-url",
        db.as_str(),
        "--base-url",
        uri.as_str(),
        "--account-guid",
        parent.as_str(),
        "--username",
        username.as_str(),
        "--password",
        wrong,
        "--output",
        "json",
    ];
    let output = keepit_sync(&dir, &args).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["outcome"], "failed");
    assert!(
        json["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("refused the credentials"),
        "{json}"
    );
    assert!(!text(&output).contains(wrong));
}

#[tokio::test]
async fn demo_then_status_and_customers_import() {
    let dir = temp_dir("cli");
    let db = sqlite_url(&dir);
    let output = keepit_sync(
        &dir,
        &[
            "demo",
            "--database-url",
            &db,
            "--accounts",
            "5",
            "--seed",
            "3",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let out = text(&output);
    for heading in [
        "Connectors by kind and health",
        "Jobs by status",
        "Stale and failing connectors",
    ] {
        assert!(out.contains(heading), "{out}");
    }
    let output = keepit_sync(&dir, &["status", "--database-url", &db, "--output", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        !json["alerts"].as_array().unwrap().is_empty(),
        "the demo fleet has stale and failing connectors on purpose"
    );
    let all = json["alerts"].as_array().unwrap().len();
    assert!(
        json["alerts"][0]["id"].is_i64(),
        "ids for `keepit-server alert`"
    );
    // Filters narrow the list, each on its own field.
    let filtered = keepit_sync(
        &dir,
        &[
            "status",
            "--database-url",
            &db,
            "--output",
            "json",
            "--severity",
            "critical",
        ],
    )
    .await;
    let critical: serde_json::Value = serde_json::from_slice(&filtered.stdout).unwrap();
    let critical = critical["alerts"].as_array().unwrap();
    assert!(critical.iter().all(|a| a["severity"] == "critical"));
    assert!(critical.len() < all, "the demo has warnings too");
    let nobody = keepit_sync(
        &dir,
        &[
            "status",
            "--database-url",
            &db,
            "--customer",
            "no such customer",
        ],
    )
    .await;
    assert!(
        text(&nobody).contains("No open alert matches"),
        "{}",
        text(&nobody)
    );
    let bad = keepit_sync(
        &dir,
        &["status", "--database-url", &db, "--state", "sleepy"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(64));

    let csv = dir.join("customers.csv");
    std::fs::write(
        &csv,
        "name,external_id\nContoso Ltd,PSA-1\n,PSA-2\nFabrikam,PSA-3\n",
    )
    .unwrap();
    let output = keepit_sync(
        &dir,
        &[
            "customers",
            "import",
            csv.to_str().unwrap(),
            "--database-url",
            &db,
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "a rejected row makes the import partial: {}",
        text(&output)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["inserted"], 2);
    assert_eq!(json["errors"][0]["line"], 3);
    let output = keepit_sync(
        &dir,
        &[
            "customers",
            "import",
            "/no/such/file.csv",
            "--database-url",
            &db,
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_holds_the_master_key_and_the_database() {
    let dir = temp_dir("cli-state");
    let state = dir.join("state");
    let fleet = Fleet::generate(&FleetSpec {
        accounts: 2,
        connectors_per_account: (1, 2),
        ..FleetSpec::default()
    })
    .unwrap();
    let (mock, served) = MockKeepit::start_with_fleet(fleet).await;
    let parent = served.parent().to_string();
    let password = mock.credentials().password().expose_secret().to_owned();
    let state_arg = state.display().to_string();
    let run = [
        "--state-dir",
        state_arg.as_str(),
        "run",
        "--save",
        "--base-url",
        &mock.uri(),
        "--account-guid",
        parent.as_str(),
        "--username",
        mock.credentials().username(),
        "--password",
        password.as_str(),
    ]
    .map(str::to_owned);
    // No DATABASE_URL and no key settings: both land in the state directory.
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let output = keepit_sync_with(&dir, &run, &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(state.join("keepit-watch.db").exists());
    assert!(state.join("keepit-master.key").exists());
    assert!(
        !dir.join("keepit-watch.db").exists(),
        "nothing in the working directory"
    );
    assert!(!dir.join("keepit-master.key").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the state directory is its owner's only");
    }
    // KEEPIT_STATE_DIR works like the flag; status reads the same database.
    let status = keepit_sync_with(&dir, &["status"], &[("KEEPIT_STATE_DIR", &state)]).await;
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        text(&status).contains(&format!("{}", state.join("keepit-watch.db").display())),
        "{}",
        text(&status)
    );

    // The same database from a process that was not given the state directory: it
    // would make (and use) a key of its own, which opens none of the stored
    // credentials. It stops at once, naming the fix, and the credentials are intact.
    let database = format!("sqlite://{}", state.join("keepit-watch.db").display());
    let stray = keepit_sync_with(&dir, &["run", "--database-url", &database], &[]).await;
    assert_eq!(stray.status.code(), Some(1), "{}", text(&stray));
    let said = text(&stray);
    assert!(
        said.contains("KEEPIT_STATE_DIR") && said.contains("encrypted with master key"),
        "{said}"
    );
    // The key file it made in its working directory is gone again.
    assert!(said.contains("had just created was removed"), "{said}");
    assert!(!dir.join("keepit-master.key").exists());
    let again = keepit_sync_with(&dir, &["run"], &[("KEEPIT_STATE_DIR", &state)]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary with a clean environment holding only `PATH` and `env` (without
/// key settings, where the key and the database land is the binary's own choice).
async fn keepit_sync_with(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> Output {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let env: Vec<(String, std::path::PathBuf)> = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.to_path_buf()))
        .collect();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_keepit-sync"))
            .args(&args)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env)
            .output()
            .expect("run keepit-sync")
    })
    .await
    .unwrap()
}

/// Runs the binary on a pseudo-terminal (util-linux `script`, part of every Debian),
/// returning everything the terminal received.
async fn on_a_terminal(dir: &std::path::Path, args: &[&str], no_color: bool) -> String {
    let command = std::iter::once(env!("CARGO_BIN_EXE_keepit-sync"))
        .chain(args.iter().copied())
        .map(|word| format!("'{word}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let dir = dir.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut script = Command::new("script");
        script
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TERM", "xterm-256color")
            .env("KEEPIT_MASTER_KEY_FILE", dir.join("master.key"));
        if no_color {
            script.env("NO_COLOR", "1");
        }
        script.output().expect("run script (util-linux)")
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_terminal_shows_accounts_done_of_total_and_the_bar_leaves_no_frame() {
    let dir = temp_dir("cli-progress");
    let db = sqlite_url(&dir);
    let args = [
        "demo",
        "--database-url",
        &db,
        "--accounts",
        "30",
        "--seed",
        "5",
    ];
    let screen = on_a_terminal(&dir, &args, false).await;
    // The bar counts accounts against the total once the tree is walked, and the
    // requests made.
    let frames: Vec<&str> = screen
        .split(['\r', '\n'])
        .filter(|line| line.contains(" accounts, demo: "))
        .collect();
    assert!(!frames.is_empty(), "no bar in {screen:?}");
    // Each frame reads `[====>   ] DONE/TOTAL accounts, demo: N requests`; the count
    // only grows, never past the total, and the bar moves while the pass runs.
    let counts: Vec<(u64, u64)> = frames
        .iter()
        .map(|frame| {
            let counts = frame
                .split(']')
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{frame}"));
            let (done, total) = counts.split_once('/').unwrap();
            (done.parse().unwrap(), total.parse().unwrap())
        })
        .collect();
    assert!(
        counts
            .iter()
            .all(|(done, total)| done <= total && *total >= 30),
        "{counts:?}"
    );
    assert!(
        counts.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "{counts:?}"
    );
    assert!(counts.iter().any(|(done, _)| *done > 0), "{counts:?}");
    assert!(
        frames.iter().all(|frame| frame.contains(" requests")),
        "{frames:?}"
    );
    // Before the report, the bar's line is erased: the report starts on a clean line.
    let report = screen.find("keepit-watch demo:").expect("the report");
    let before = &screen[..report];
    assert!(
        before.ends_with("\u{1b}[2K"),
        "the bar's last frame is cleared before the report: {:?}",
        &before[before.len().saturating_sub(120)..]
    );
    // Log lines are coloured on a terminal...
    assert!(screen.contains("\u{1b}[3m"), "{screen:?}");

    // ...and not with NO_COLOR, which leaves the bar in place.
    let plain = on_a_terminal(&dir, &args, true).await;
    assert!(plain.contains(" accounts, demo: "), "{plain:?}");
    let without_bar: String = plain
        .replace("\u{1b}[2K", "")
        .chars()
        .filter(|c| *c != '\u{1b}')
        .collect();
    assert_eq!(
        plain.matches('\u{1b}').count(),
        plain.matches("\u{1b}[2K").count(),
        "only the bar's line erasures, no colour: {without_bar:?}"
    );

    // Not a terminal: plain log lines, no bar.
    let piped = keepit_sync(&dir, &args).await;
    assert!(
        !text(&piped).contains(" accounts, demo: "),
        "{}",
        text(&piped)
    );
}
