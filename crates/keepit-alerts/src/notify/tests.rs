//! E-mail against a real (minimal) SMTP server on 127.0.0.1, and webhooks against wiremock.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn notification() -> Notification {
    Notification {
        kind: "backup_failed".into(),
        subject: "Contoso / Microsoft 365: backup failed".into(),
        body: "The latest backup was unsuccessful.\nWhat to do: re-authenticate the connector."
            .into(),
        severity: Some(Severity::Critical),
        customer: Some("Contoso".into()),
        at: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 10, 12, 0, 0).unwrap(),
    }
}

/// A minimal SMTP server: accepts one message per connection and keeps its DATA.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test.local ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buffer) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 OK queued\r\n").await.unwrap();
                        } else {
                            buffer.push_str(&line);
                            buffer.push('\n');
                        }
                        continue;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 test.local\r\n"
                    } else if upper.starts_with("DATA") {
                        data = Some(String::new());
                        b"354 go ahead\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server() {
    let (port, received) = smtp_server().await;
    let url = SecretString::from(format!("smtp://127.0.0.1:{port}"));
    let channel = EmailChannel::from_url(&url, "keepit-watch@msp.example").unwrap();
    channel
        .send("oncall@msp.example", &notification())
        .await
        .unwrap();
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0]
            .contains("Subject: [keepit-watch critical] Contoso / Microsoft 365: backup failed"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("To: oncall@msp.example"));
    assert!(messages[0].contains("re-authenticate the connector"));
}

#[tokio::test]
async fn bad_addresses_and_urls_are_configuration_errors() {
    let url = SecretString::from("smtp://user:hunter2@127.0.0.1:1".to_owned());
    let channel = EmailChannel::from_url(&url, "keepit-watch@msp.example").unwrap();
    let error = channel
        .send("not an address", &notification())
        .await
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Config(_)) && !error.is_transient());
    let bad = EmailChannel::from_url(
        &SecretString::from("gopher://user:hunter2@x".to_owned()),
        "a@b.example",
    )
    .unwrap_err();
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
    assert!(!format!("{channel:?}").contains("hunter2"));
}

#[tokio::test]
async fn an_unreachable_mail_server_is_retried_then_reported() {
    let url = SecretString::from("smtp://127.0.0.1:9".to_owned());
    let channel = EmailChannel::from_url(&url, "keepit-watch@msp.example").unwrap();
    let retry = DeliveryRetry {
        attempts: 2,
        first_pause: Duration::from_millis(10),
    };
    let note = notification();
    let report = deliver_with_retry(retry, || channel.send("oncall@msp.example", &note)).await;
    assert_eq!(report.attempts, 2);
    assert!(matches!(report.error, Some(DeliveryError::Smtp(_))));
}

#[tokio::test]
async fn webhook_payloads_for_generic_slack_and_teams() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/generic")).and(body_partial_json(serde_json::json!({"kind": "backup_failed", "severity": "critical", "customer": "Contoso", "at": "2026-03-10T12:00:00Z"}))).respond_with(ResponseTemplate::new(200)).expect(1).mount(&server).await;
    Mock::given(method("POST")).and(path("/slack")).and(body_partial_json(serde_json::json!({"text": "*Contoso / Microsoft 365: backup failed*\nThe latest backup was unsuccessful.\nWhat to do: re-authenticate the connector."}))).respond_with(ResponseTemplate::new(200)).expect(1).mount(&server).await;
    Mock::given(method("POST")).and(path("/teams")).and(body_partial_json(serde_json::json!({"@type": "MessageCard", "title": "Contoso / Microsoft 365: backup failed", "themeColor": "D13438"}))).respond_with(ResponseTemplate::new(200)).expect(1).mount(&server).await;
    for (route, format) in [
        ("generic", WebhookFormat::Generic),
        ("slack", WebhookFormat::Slack),
        ("teams", WebhookFormat::Teams),
    ] {
        let channel = WebhookChannel::new(
            SecretString::from(format!("{}/{route}", server.uri())),
            format,
        )
        .unwrap();
        channel.send(&notification()).await.unwrap();
    }
}

#[tokio::test]
async fn a_failing_webhook_is_retried_until_it_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let channel = WebhookChannel::new(
        SecretString::from(format!("{}/hook?token=abc123", server.uri())),
        WebhookFormat::Generic,
    )
    .unwrap();
    let retry = DeliveryRetry {
        attempts: 4,
        first_pause: Duration::from_millis(10),
    };
    let note = notification();
    let report = deliver_with_retry(retry, || channel.send(&note)).await;
    assert!(report.delivered());
    assert_eq!(report.attempts, 3);
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_reported_not_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let channel = WebhookChannel::new(
        SecretString::from(format!("{}/hook?token=abc123", server.uri())),
        WebhookFormat::Slack,
    )
    .unwrap();
    let note = notification();
    let report = deliver_with_retry(
        DeliveryRetry {
            attempts: 3,
            first_pause: Duration::from_millis(5),
        },
        || channel.send(&note),
    )
    .await;
    assert_eq!(report.attempts, 3);
    assert!(matches!(
        report.error,
        Some(DeliveryError::WebhookStatus(500))
    ));
    assert!(!format!("{channel:?}").contains("abc123"));
    // A 4xx other than 408/429 will not get better by retrying.
    let gone = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&gone)
        .await;
    let channel =
        WebhookChannel::new(SecretString::from(gone.uri()), WebhookFormat::Generic).unwrap();
    let report = deliver_with_retry(DeliveryRetry::default(), || channel.send(&note)).await;
    assert_eq!(report.attempts, 1);
}
