//! `keepit-mock serve` from the outside: it prints where it listens, the parent
//! account and the credentials, answers with them (and only with them), and stops
//! on SIGTERM.

#![allow(missing_docs)] // An integration test binary has no public API.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use keepit_mock::basic_auth_header;

/// The server process, killed when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Server, Vec<(String, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keepit-mock"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keepit-mock");
    let stdout = child.stdout.take().expect("its output");
    let server = Server(child);
    let lines: Vec<(String, String)> = BufReader::new(stdout)
        .lines()
        .take(4)
        .map(|line| {
            let line = line.expect("a line");
            let (key, value) = line.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect();
    (server, lines)
}

fn value<'a>(lines: &'a [(String, String)], key: &str) -> &'a str {
    lines
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

#[tokio::test]
async fn serve_prints_how_to_reach_it_and_answers_with_those_credentials() {
    let (server, lines) = start(&[
        "--accounts",
        "3",
        "--seed",
        "5",
        "--latency-ms",
        "5",
        "--listen",
        "127.0.0.1:0",
    ]);
    let base = value(&lines, "base_url");
    let parent = value(&lines, "parent_account_guid");
    let auth = basic_auth_header(value(&lines, "username"), value(&lines, "password"));
    let client = reqwest::Client::new();
    let whoami = client
        .get(format!("{base}/users/"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    assert!(whoami.text().await.unwrap().contains(parent));
    let children = client
        .get(format!("{base}/users/{parent}/users"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(children.status(), 200);
    let body = children.text().await.unwrap();
    assert!(body.contains("<users>") && body.contains("<id>"), "{body}");
    let refused = client
        .get(format!("{base}/users/"))
        .header("authorization", basic_auth_header("someone", "else"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The same seed gives the same fleet.
    let (_again, same) = start(&["--accounts", "3", "--seed", "5"]);
    assert_eq!(value(&same, "parent_account_guid"), parent);

    // SIGTERM stops it.
    let mut server = server;
    #[cfg(unix)]
    {
        let pid = server.0.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = server.0.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        &["--accounts", "0"][..],
        &["--connectors-per-account", "5-2"],
        &["--listen", "not-an-address"],
        &["--latency-ms", "-3"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_keepit-mock"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
}
