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

/// What a hook wants shown in the pass's record without failing the pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassNotes {
    /// One line each, such as notifications that wait for another delivery attempt.
    pub notices: Vec<String>,
}

/// Runs after each pass, whatever its outcome, over the data that was committed.
pub trait PassHook: Send + Sync {
    /// Why the hook failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Does the work. An error is logged and recorded, and the pass is no longer "ok"
    /// (its alerts may be out of date), but the data it committed stays.
    fn after_pass(
        &self,
        pass: PassContext<'_>,
    ) -> impl Future<Output = Result<PassNotes, Self::Error>> + Send;

    /// Records what changed in accounts this worker synced for a pass another worker
    /// leads (see [`crate::help_pass`]); that worker's [`PassHook::after_pass`] runs
    /// once at the end of the pass, without these changes. Does nothing by default.
    fn record_changes(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (store, changes, now);
        async { Ok(()) }
    }
}

/// A hook that does nothing: the test double for passes that need no alerts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHook;

impl PassHook for NoopHook {
    type Error = std::convert::Infallible;

    async fn after_pass(&self, _pass: PassContext<'_>) -> Result<PassNotes, Self::Error> {
        Ok(PassNotes::default())
    }
}

/// The shipped hook: evaluate alerts, store messages, deliver notifications.
impl PassHook for keepit_alerts::AlertPass {
    type Error = keepit_alerts::Error;

    async fn after_pass(&self, pass: PassContext<'_>) -> Result<PassNotes, Self::Error> {
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
                let mut notes = PassNotes::default();
                if summary.delivery_failures > 0 {
                    notes.notices.push(format!(
                        "{} notification deliveries failed; they stay queued and are retried on later passes",
                        summary.delivery_failures
                    ));
                }
                Ok(notes)
            }
            Err(error) => Err(error),
        }
    }

    async fn record_changes(
        &self,
        store: &Store,
        changes: &[ChangeEvent],
        now: DateTime<Utc>,
    ) -> Result<(), Self::Error> {
        let messages = self.store_change_messages(store, changes, now).await?;
        tracing::debug!(
            messages,
            "messages stored for changes found in a shared pass"
        );
        Ok(())
    }
}
