//! Delivering notifications: e-mail over SMTP and a JSON webhook (generic, Slack or Teams).
//!
//! A delivery is tried a few times with growing pauses; the [`DeliveryReport`] says
//! how it went so the caller can record it and try again later. Nothing is dropped
//! silently. SMTP URLs and webhook URLs can carry credentials, so they are kept as
//! secrets and never printed.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

use keepit_domain::Severity;

/// What is being told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// A short code for what happened (a message kind or an alert rule kind).
    pub kind: String,
    /// One line.
    pub subject: String,
    /// A few sentences.
    pub body: String,
    /// The severity, for alerts.
    pub severity: Option<Severity>,
    /// The customer's name, when there is one.
    pub customer: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The channel is configured wrongly (bad URL, bad address).
    #[error("notification channel misconfigured: {0}")]
    Config(String),
    /// The mail server refused or could not be reached.
    #[error("e-mail delivery failed: {0}")]
    Smtp(String),
    /// The webhook endpoint could not be reached.
    #[error("webhook unreachable")]
    WebhookTransport(#[source] reqwest::Error),
    /// The webhook endpoint answered with an error status.
    #[error("webhook answered {0}")]
    WebhookStatus(u16),
}

impl DeliveryError {
    /// Whether trying again could help.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Config(_) => false,
            DeliveryError::WebhookStatus(status) => {
                *status >= 500 || *status == 429 || *status == 408
            }
            DeliveryError::Smtp(_) | DeliveryError::WebhookTransport(_) => true,
        }
    }
}

/// E-mail over SMTP.
#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// Builds the channel from an SMTP URL such as `smtp://user:pass@mail.example:587?tls=required`
    /// or `smtps://mail.example` (lettre's URL format), sending as `from`.
    pub fn from_url(url: &SecretString, from: &str) -> Result<Self, DeliveryError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            // The URL may hold a password: say what is wrong without repeating it.
            .map_err(|_| {
                DeliveryError::Config(
                    "the SMTP URL is not valid (expected smtp://host:port or smtps://host)".into(),
                )
            })?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|_| DeliveryError::Config(format!("{from:?} is not an e-mail address")))?;
        Ok(EmailChannel { transport, from })
    }

    /// Sends one notification to one address.
    pub async fn send(&self, to: &str, notification: &Notification) -> Result<(), DeliveryError> {
        let to: Mailbox = to
            .parse()
            .map_err(|_| DeliveryError::Config(format!("{to:?} is not an e-mail address")))?;
        let subject = match notification.severity {
            Some(severity) => format!("[keepit-watch {severity}] {}", notification.subject),
            None => format!("[keepit-watch] {}", notification.subject),
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(notification.body.clone())
            .map_err(|err| DeliveryError::Config(format!("could not build the e-mail: {err}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| DeliveryError::Smtp(err.to_string()))
    }
}

/// The JSON shape a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// keepit-watch's own JSON object.
    #[default]
    Generic,
    /// Slack incoming-webhook shape (`{"text": ...}`).
    Slack,
    /// Microsoft Teams connector card.
    Teams,
}

impl WebhookFormat {
    /// Parses `generic`, `slack` or `teams`.
    pub fn parse(text: &str) -> Option<WebhookFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "generic" | "json" => Some(WebhookFormat::Generic),
            "slack" => Some(WebhookFormat::Slack),
            "teams" => Some(WebhookFormat::Teams),
            _ => None,
        }
    }

    /// The JSON body for a notification in this format.
    pub fn payload(self, notification: &Notification) -> serde_json::Value {
        match self {
            WebhookFormat::Generic => serde_json::json!({
                "source": "keepit-watch",
                "kind": notification.kind,
                "subject": notification.subject,
                "body": notification.body,
                "severity": notification.severity.map(Severity::as_str),
                "customer": notification.customer,
                "at": notification.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
            WebhookFormat::Slack => serde_json::json!({
                "text": format!("*{}*\n{}", notification.subject, notification.body),
            }),
            WebhookFormat::Teams => serde_json::json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": notification.subject,
                "title": notification.subject,
                "text": notification.body.replace('\n', "<br>"),
                "themeColor": match notification.severity {
                    Some(Severity::Critical) => "D13438",
                    Some(Severity::Warning) => "FFB900",
                    None => "0078D4",
                },
            }),
        }
    }
}

/// A generic JSON webhook.
#[derive(Clone)]
pub struct WebhookChannel {
    http: reqwest::Client,
    url: SecretString,
    format: WebhookFormat,
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &"[redacted]")
            .field("format", &self.format)
            .finish()
    }
}

impl WebhookChannel {
    /// Builds the channel. The URL is checked now, so a typo fails at start-up.
    pub fn new(url: SecretString, format: WebhookFormat) -> Result<Self, DeliveryError> {
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|_| DeliveryError::Config("the webhook URL is not a URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DeliveryError::Config(
                "the webhook URL must use http or https".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|err| {
                DeliveryError::Config(format!("could not build the HTTP client: {err}"))
            })?;
        Ok(WebhookChannel { http, url, format })
    }

    /// Posts one notification.
    pub async fn send(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let body = self.format.payload(notification).to_string();
        let response = self
            .http
            .post(self.url.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            // reqwest errors name the URL, which may carry a token: drop it.
            .map_err(|err| DeliveryError::WebhookTransport(err.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::WebhookStatus(status.as_u16()))
        }
    }
}

/// How often and how patiently a delivery is tried within one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRetry {
    /// Attempts in total.
    pub attempts: u32,
    /// Pause before the second attempt; doubled after each further one.
    pub first_pause: Duration,
}

impl Default for DeliveryRetry {
    fn default() -> Self {
        DeliveryRetry {
            attempts: 3,
            first_pause: Duration::from_millis(500),
        }
    }
}

/// How one delivery went.
#[derive(Debug)]
pub struct DeliveryReport {
    /// Attempts made.
    pub attempts: u32,
    /// The last error, if the delivery did not succeed.
    pub error: Option<DeliveryError>,
}

impl DeliveryReport {
    /// Whether the notification arrived.
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// Runs `send` until it succeeds, fails permanently, or runs out of attempts.
pub async fn deliver_with_retry<F, Fut>(retry: DeliveryRetry, mut send: F) -> DeliveryReport
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), DeliveryError>>,
{
    let mut pause = retry.first_pause;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match send().await {
            Ok(()) => {
                return DeliveryReport {
                    attempts,
                    error: None,
                };
            }
            Err(error) if !error.is_transient() || attempts >= retry.attempts.max(1) => {
                tracing::warn!(attempts, %error, "notification not delivered");
                return DeliveryReport {
                    attempts,
                    error: Some(error),
                };
            }
            Err(error) => {
                tracing::debug!(attempts, %error, "notification delivery failed; trying again");
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
        }
    }
}

#[cfg(test)]
mod tests;
