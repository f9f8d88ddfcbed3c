//! How a sync pass behaves: windows, overlaps, concurrency and the clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::lease::LeaseHolder;

/// Where the sync reads the time from. Tests and the demo use a fixed clock.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that reads `now` from a function.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// A clock that always says `at`.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// The current time, truncated to whole seconds (Keepit's precision).
    pub fn now(&self) -> DateTime<Utc> {
        let now = (self.0)();
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
    }

    /// The current time as read, for the start and end of a sync run, so the runs'
    /// durations keep their fractions of a second.
    pub fn exact(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Settings of a sync pass.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Accounts synced at the same time (default 16; Keepit requests are further capped
    /// by the client, at the integration's `concurrency`).
    pub account_concurrency: usize,
    /// Connectors of one account synced at the same time (default 16).
    pub connector_concurrency: usize,
    /// How far back the first sync of a connector reads job history.
    pub first_sync_window: TimeDelta,
    /// The audit log is read on a window this long, rolling forward from the cursor.
    pub audit_window: TimeDelta,
    /// Audit records are re-read this far behind the cursor (late arrivals); duplicates
    /// are dropped by their content hash.
    pub audit_overlap: TimeDelta,
    /// Job history is re-read this far behind the cursor, so jobs that finished just
    /// around the previous pass are not missed.
    pub job_overlap: TimeDelta,
    /// Job history is asked for in windows no longer than this.
    pub job_window: Duration,
    /// A connector's health, error code and running jobs are read again at least this
    /// often; sooner when new jobs arrived or a job was running. (Job history itself is
    /// read on every pass.)
    pub refresh_every: TimeDelta,
    /// Audit records per page.
    pub audit_page_size: u32,
    /// How long the sync lease of an integration lasts without renewal. A running pass
    /// renews it every third of this, so a holder that dies is replaced about this long
    /// after (at once when it died on this host).
    pub lease_ttl: TimeDelta,
    /// Who holds the lease (host and process).
    pub holder: LeaseHolder,
    /// Time one account may take in a pass, every request and the commit included.
    /// An account past it fails alone, and the pass goes on with the others.
    pub account_deadline: Duration,
    /// How long audit events and finished sync runs are kept; older ones are purged
    /// in batches at the end of each pass.
    pub retention: keepit_store::RetentionConfig,
    /// The clock.
    pub clock: Clock,
    /// Where the pass reports how far it has come (shared by clones of the config).
    pub progress: Progress,
}

/// How far a pass has come, for a progress display: how many accounts the pass covers
/// (once the tree has been walked) and how many are synced. Clones share the counts;
/// the pass writes them and a display reads them whenever it likes.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<ProgressCounts>);

#[derive(Debug, Default)]
struct ProgressCounts {
    /// Accounts in the pass, plus one; zero while the tree is being walked.
    total_plus_one: AtomicU64,
    done: AtomicU64,
}

impl Progress {
    /// How many accounts the pass covers, once its leader has walked the tree.
    pub fn accounts_total(&self) -> Option<u64> {
        self.0.total_plus_one.load(Ordering::Relaxed).checked_sub(1)
    }

    /// How many of them are synced (by any worker, as far as this one knows).
    pub fn accounts_done(&self) -> u64 {
        self.0.done.load(Ordering::Relaxed)
    }

    /// A new pass: nothing known yet.
    pub(crate) fn start(&self) {
        self.0.total_plus_one.store(0, Ordering::Relaxed);
        self.0.done.store(0, Ordering::Relaxed);
    }

    pub(crate) fn set_total(&self, accounts: u64) {
        self.0
            .total_plus_one
            .store(accounts.saturating_add(1), Ordering::Relaxed);
    }

    /// One more account synced by this worker.
    pub(crate) fn account_done(&self) {
        self.0.done.fetch_add(1, Ordering::Relaxed);
    }

    /// At least `accounts` are synced (the work list counts other workers' too).
    pub(crate) fn done_at_least(&self, accounts: u64) {
        self.0.done.fetch_max(accounts, Ordering::Relaxed);
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            // Enough work in hand to keep the client's requests in flight (its own
            // limit, the integration's `concurrency`, decides how many really go out):
            // with fewer accounts at once the requests an account makes one after the
            // other left the client idle.
            account_concurrency: 16,
            connector_concurrency: 16,
            first_sync_window: TimeDelta::days(14),
            audit_window: TimeDelta::days(14),
            audit_overlap: TimeDelta::minutes(15),
            job_overlap: TimeDelta::hours(1),
            job_window: Duration::from_secs(7 * 86_400),
            refresh_every: TimeDelta::hours(1),
            audit_page_size: 500,
            lease_ttl: TimeDelta::minutes(2),
            holder: LeaseHolder::this_process(),
            account_deadline: Duration::from_secs(600),
            retention: keepit_store::RetentionConfig::default(),
            clock: Clock::system(),
            progress: Progress::default(),
        }
    }
}
