//! What runs at the end of every pass: alert evaluation and messages in the binaries.

use std::future::Future;

use chrono::{DateTime, Utc};
use keepit_alerts::ChangeEvent;
use keepit_store::{IntegrationId, Store};

/// What a pass hands to its hook.
#[derive(Debug)]
pub struct PassContext<'a> {
    /// The database.
    pub store: &'a Store,
    /// The integration that was synced.
    pub integration: IntegrationId,
    /// What changed since the previous pass, for messages.
    pub changes: &'a [ChangeEvent],
    /// The pass's clock.
    pub now: DateTime<Utc>,
}

/// Runs after each pass, whatever its outcome, over the data that was committed.
pub trait PassHook: Send + Sync {
    /// Does the work; an error is logged and recorded but does not undo the pass.
    fn after_pass(&self, pass: PassContext<'_>) -> impl Future<Output = Result<(), String>> + Send;
}

/// A hook that does nothing: the test double for passes that need no alerts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHook;

impl PassHook for NoopHook {
    async fn after_pass(&self, _pass: PassContext<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// The shipped hook: evaluate alerts, store messages, deliver notifications.
impl PassHook for keepit_alerts::AlertPass {
    async fn after_pass(&self, pass: PassContext<'_>) -> Result<(), String> {
        match self.run(pass.store, pass.changes, pass.now).await {
            Ok(summary) => {
                tracing::info!(
                    opened = summary.opened,
                    changed = summary.changed,
                    reminded = summary.reminded,
                    resolved = summary.resolved,
                    messages = summary.messages,
                    delivered = summary.delivered,
                    delivery_failures = summary.delivery_failures,
                    "alerts evaluated"
                );
                Ok(())
            }
            Err(error) => Err(crate::error::chain(&error)),
        }
    }
}
