//! Shared helpers: fixture loading, a mock server and a client pointed at it.

use std::path::PathBuf;
use std::time::Duration;

use keepit_client::{Credentials, KeepitClient, KeepitClientBuilder, RetryPolicy};
use secrecy::SecretString;
use wiremock::MockServer;

pub(crate) const PASSWORD: &str = "s3cret-Pa55word!";
pub(crate) const TOKEN_LOGIN: &str = "Zq4L+dyQsns1k6gB5Ia,aX%";
pub(crate) const TOKEN_PASSWORD: &str = "t0ken-pa55-(#@!$=)";

/// The text of `fixtures/keepit/<endpoint>/<case>` (the fixtures live in keepit-mock,
/// which is not a dependency of this crate).
pub(crate) fn fixture(endpoint: &str, case: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "keepit-mock",
        "fixtures",
        "keepit",
        endpoint,
        case,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("fixture {}: {err}", path.display()))
}

pub(crate) fn user_credentials() -> Credentials {
    Credentials::UserPassword {
        username: "admin@msp.example".into(),
        password: SecretString::from(PASSWORD),
    }
}

pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A client builder pointed at `server`, with user credentials and fast retries.
pub(crate) fn builder(server: &MockServer) -> KeepitClientBuilder {
    KeepitClient::builder()
        .base_url(server.uri())
        .credentials(user_credentials())
        .retry(fast_retries())
}

pub(crate) async fn setup() -> (MockServer, KeepitClient) {
    let server = MockServer::start().await;
    let client = builder(&server).build().expect("client builds");
    (server, client)
}

pub(crate) fn account() -> keepit_domain::AccountId {
    keepit_domain::AccountId::new("5d67ai-hl7znb-f2ykpu").unwrap()
}

pub(crate) fn connector() -> keepit_domain::ConnectorId {
    keepit_domain::ConnectorId::new("sjoyv2-t978ok-rot9nv").unwrap()
}
