//! Running passes at an interval, and stopping gracefully.

use std::time::Duration;

use tokio::sync::watch;

/// Asks running work to stop. Cheap to clone; every clone sees the request.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// The sending side of a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownSignal {
    sender: watch::Sender<bool>,
}

impl Shutdown {
    /// A new shutdown pair.
    pub fn new() -> (ShutdownSignal, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownSignal { sender }, Shutdown { receiver })
    }

    /// A shutdown that is never requested.
    pub fn never() -> Shutdown {
        let (signal, shutdown) = Shutdown::new();
        // Keep the sender alive forever so `requested` stays false.
        std::mem::forget(signal);
        shutdown
    }

    /// Whether stopping was requested.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves when stopping is requested (or the signal is dropped).
    pub async fn requested(&mut self) {
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }
}

impl ShutdownSignal {
    /// Asks every [`Shutdown`] clone to stop.
    pub fn request(&self) {
        let _ = self.sender.send(true);
    }
}

/// Calls `pass` now and then every `interval` (measured from the start of each pass)
/// until `shutdown` is requested. A pass in progress is never interrupted: the sync
/// itself stops starting new accounts when asked, so the account in hand finishes
/// and commits. Errors of one pass are reported by `pass` and do not stop the loop.
pub async fn run_every<F, Fut>(interval: Duration, mut shutdown: Shutdown, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        if shutdown.is_requested() {
            return;
        }
        let next = tokio::time::Instant::now() + interval;
        pass().await;
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = shutdown.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passes_repeat_until_shutdown() {
        let (signal, shutdown) = Shutdown::new();
        let count = Arc::new(AtomicU32::new(0));
        let counter = count.clone();
        let task = tokio::spawn(run_every(Duration::from_secs(60), shutdown, move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_secs(150)).await;
        signal.request();
        task.await.unwrap();
        assert_eq!(
            count.load(Ordering::SeqCst),
            3,
            "passes at 0 s, 60 s and 120 s"
        );
    }

    #[tokio::test]
    async fn a_requested_shutdown_runs_no_pass() {
        let (signal, shutdown) = Shutdown::new();
        signal.request();
        let mut ran = false;
        run_every(Duration::from_secs(1), shutdown, || {
            ran = true;
            async {}
        })
        .await;
        assert!(!ran);
    }
}
