//! From a stored integration to a Keepit client: the one place that decides how
//! keepit-watch talks to Keepit for an integration. The sync binary and the HTTP
//! server (connection tests, skipped-item lookups, credential rotation) both call it,
//! so a setting changed on the integration changes every caller at once.

use std::time::Duration;

use keepit_client::{Credentials, KeepitClient, KeepitClientBuilder};
use keepit_store::{IntegrationRecord, KeepitCredentials};
use secrecy::SecretString;

/// Bounds the process puts on every client it builds, whatever the integration says:
/// they protect the process (memory, a stuck pass) rather than tune one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Time one request may take in total, retries and their waits included.
    pub request_deadline: Duration,
    /// Largest Keepit answer read, in bytes.
    pub max_response_bytes: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            request_deadline: keepit_client::DEFAULT_DEADLINE,
            max_response_bytes: keepit_client::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Why an integration could not be turned into a client. Messages name the
/// integration and never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Neither a username/password pair nor an API-token pair is stored whole.
    #[error("integration {integration} has no complete Keepit credentials")]
    IncompleteCredentials {
        /// The integration's name.
        integration: String,
    },
    /// Its region or base URL cannot be used.
    #[error("the Keepit connection of integration {integration} is misconfigured: {source}")]
    Misconfigured {
        /// The integration's name.
        integration: String,
        /// What the client refused.
        #[source]
        source: keepit_client::Error,
    },
}

/// The credentials a client uses, from what the store decrypted: an API-token pair
/// wins over username and password when both are whole. `None` when neither is.
pub fn credentials_from_stored(stored: KeepitCredentials) -> Option<Credentials> {
    Credentials::choose(
        stored.username,
        stored.password,
        stored.api_token_login.map(SecretString::from),
        stored.api_token_password,
    )
}

/// A client for `record` with its decrypted credentials.
pub fn client_for_integration(
    record: &IntegrationRecord,
    stored: KeepitCredentials,
    limits: &ClientLimits,
) -> Result<KeepitClient, ConnectError> {
    let credentials =
        credentials_from_stored(stored).ok_or_else(|| ConnectError::IncompleteCredentials {
            integration: record.name.clone(),
        })?;
    client_with_credentials(record, credentials, limits)
}

/// A client for `record` with credentials that are not (yet) stored: a rotation is
/// tested with these before it is saved.
pub fn client_with_credentials(
    record: &IntegrationRecord,
    credentials: Credentials,
    limits: &ClientLimits,
) -> Result<KeepitClient, ConnectError> {
    let builder = KeepitClient::builder()
        .credentials(credentials)
        .account(record.parent_account.clone());
    let builder = match (&record.base_url, &record.region) {
        (Some(base_url), _) => builder.base_url(base_url.clone()),
        (None, Some(region)) => builder.region(region.clone()),
        // The client's own error says a region or a base URL is needed.
        (None, None) => builder,
    };
    tuned(builder, record, limits)
        .build()
        .map_err(|source| ConnectError::Misconfigured {
            integration: record.name.clone(),
            source,
        })
}

fn tuned(
    builder: KeepitClientBuilder,
    record: &IntegrationRecord,
    limits: &ClientLimits,
) -> KeepitClientBuilder {
    builder
        .max_concurrency(usize::from(record.settings.concurrency()))
        .timeout(record.settings.request_timeout())
        .deadline(limits.request_deadline)
        .max_response_bytes(limits.max_response_bytes)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use keepit_domain::AccountId;
    use keepit_store::{IntegrationId, IntegrationSettings};

    use super::*;

    fn record(base_url: Option<&str>) -> IntegrationRecord {
        IntegrationRecord {
            id: IntegrationId(1),
            name: "EU tenant".to_owned(),
            region: None,
            base_url: base_url.map(str::to_owned),
            parent_account: AccountId::new("aaaa00-bbbb11-cccc22").unwrap(),
            enabled: true,
            last_sync_at: None,
            last_sync_outcome: None,
            sync_requested_at: None,
            settings: IntegrationSettings::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn stored(password: &str) -> KeepitCredentials {
        KeepitCredentials {
            username: Some("admin@msp.example".to_owned()),
            password: Some(SecretString::from(password.to_owned())),
            api_token_login: None,
            api_token_password: None,
        }
    }

    #[test]
    fn a_whole_pair_and_a_place_make_a_client() {
        let client = client_for_integration(
            &record(Some("https://keepit.test")),
            stored("hunter2-secret"),
            &ClientLimits::default(),
        )
        .unwrap();
        assert_eq!(client.base_url().as_str(), "https://keepit.test/");
    }

    #[test]
    fn half_a_pair_or_no_place_is_named_without_the_secret() {
        let half = KeepitCredentials {
            password: None,
            ..stored("hunter2-secret")
        };
        let error = client_for_integration(
            &record(Some("https://keepit.test")),
            half,
            &ClientLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(error, ConnectError::IncompleteCredentials { .. }));
        assert!(error.to_string().contains("EU tenant"));

        let error = client_for_integration(
            &record(None),
            stored("hunter2-secret"),
            &ClientLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(error, ConnectError::Misconfigured { .. }));
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
    }
}
