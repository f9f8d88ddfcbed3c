//! No secret reaches Debug output or traces, even when a call fails.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keepit_client::{Credentials, KeepitClient};
use secrecy::SecretString;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    PASSWORD, TOKEN_LOGIN, TOKEN_PASSWORD, account, fast_retries, fixture, user_credentials,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_clean(text: &str, what: &str) {
    use base64::Engine as _;
    for secret in [PASSWORD, TOKEN_LOGIN, TOKEN_PASSWORD] {
        assert!(!text.contains(secret), "{what} leaks {secret:?}:\n{text}");
    }
    let basic_user =
        base64::engine::general_purpose::STANDARD.encode(format!("admin@msp.example:{PASSWORD}"));
    let basic_token =
        base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_LOGIN}:{TOKEN_PASSWORD}"));
    assert!(
        !text.contains(&basic_user) && !text.contains(&basic_token),
        "{what} leaks an Authorization header"
    );
    assert!(
        !text.to_ascii_lowercase().contains("authorization: basic"),
        "{what} prints an Authorization header"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let token = Credentials::ApiToken {
        login: SecretString::from(TOKEN_LOGIN),
        password: SecretString::from(TOKEN_PASSWORD),
    };
    let client = KeepitClient::builder()
        .region("us-dc")
        .credentials(token.clone())
        .build()
        .unwrap();
    assert_clean(&format!("{token:?} {client:?}"), "Debug of a token client");
    let user = user_credentials();
    let text = format!("{user:?}");
    assert_clean(&text, "Debug of user credentials");
    assert!(
        text.contains("admin@msp.example"),
        "the username itself is not secret"
    );
}

#[tokio::test]
async fn traces_of_a_failing_call_hide_secrets() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503).set_body_string(fixture("errors", "server-error.xml")),
        )
        .mount(&server)
        .await;
    for credentials in [
        user_credentials(),
        Credentials::ApiToken {
            login: SecretString::from(TOKEN_LOGIN),
            password: SecretString::from(TOKEN_PASSWORD),
        },
    ] {
        let client = KeepitClient::builder()
            .base_url(server.uri())
            .credentials(credentials)
            .retry(fast_retries())
            .build()
            .unwrap();
        let error = client.connectors(&account(), false).await.unwrap_err();
        assert_clean(&format!("{error} {error:?}"), "the error");
    }
    let text = captured.text();
    assert!(
        text.contains("keepit.request"),
        "requests are traced:\n{text}"
    );
    assert!(
        text.contains("GET /users/{a}/devices"),
        "traces name the endpoint template"
    );
    assert!(text.contains("attempt=3"), "traces count attempts");
    assert_clean(&text, "the trace output");
}
