//! When a worker looks for jobs: coalesced wake-ups from NOTIFY (every notification, gap and
//! re-listen for its queue), a polling fallback for lost notifications, and a timer for the
//! earliest known future `run_at`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pgkeel_conn::PoolConfig;
use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::enqueue::CHANNEL;
use super::stats::Counters;
use crate::error::{Error, Kind};

/// A wake-up timer for a `run_at` never fires earlier than this after the previous look, so a
/// clock difference between worker and database cannot make the worker spin.
const MIN_TIMER: Duration = Duration::from_millis(5);

/// Why [`Wake::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// A notification, a re-listen or a gap: something may be due.
    Signal,
    /// The polling interval passed, or a known `run_at` came.
    Timer,
    /// The worker is stopping.
    Stop,
}

/// Coalesced wake-ups of one worker. Any number of signals between two looks make one
/// wake-up.
#[derive(Debug)]
pub(crate) struct Wake {
    notify: Notify,
    next_due: Mutex<Option<SystemTime>>,
    counters: Arc<Counters>,
}

impl Wake {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Wake {
            notify: Notify::new(),
            next_due: Mutex::new(None),
            counters,
        }
    }

    /// Something may be due now.
    pub(crate) fn signal(&self) {
        self.counters.sent.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// A job becomes due at `at`: wake up then, unless something earlier is known.
    pub(crate) fn due_at(&self, at: SystemTime) {
        let mut next = self.next_due.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_none_or(|known| at < known) {
            *next = Some(at);
            drop(next);
            // Let a waiting worker pick up the earlier deadline.
            self.notify.notify_one();
        }
    }

    /// Waits for a signal, the polling interval `poll`, the earliest known `run_at`, or
    /// `stop`.
    pub(crate) async fn wait(&self, poll: Duration, stop: &CancellationToken) -> Woken {
        let started = Instant::now();
        let poll_at = later(started, poll);
        loop {
            let sent = self.counters.sent.load(Ordering::SeqCst);
            if sent != self.counters.seen.load(Ordering::SeqCst) {
                self.counters.seen.store(sent, Ordering::SeqCst);
                return Woken::Signal;
            }
            let due = self.due_instant(started);
            let deadline = due.map_or(poll_at, |d| d.min(poll_at));
            if Instant::now() >= deadline {
                self.take_due_if_passed();
                return Woken::Timer;
            }
            self.counters.waiting.store(true, Ordering::SeqCst);
            let woken = tokio::select! {
                () = self.notify.notified() => None,
                () = tokio::time::sleep_until(deadline.into()) => Some(Woken::Timer),
                () = stop.cancelled() => Some(Woken::Stop),
            };
            self.counters.waiting.store(false, Ordering::SeqCst);
            match woken {
                None => continue,
                Some(Woken::Timer) => {
                    self.take_due_if_passed();
                    return Woken::Timer;
                }
                Some(other) => return other,
            }
        }
    }

    /// The known `run_at` as a deadline on this clock, at least `MIN_TIMER` after `since`.
    fn due_instant(&self, since: Instant) -> Option<Instant> {
        let due = (*self.next_due.lock().unwrap_or_else(|e| e.into_inner()))?;
        let now = Instant::now();
        let ahead = due
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Some(later(now, ahead).max(since + MIN_TIMER))
    }

    fn take_due_if_passed(&self) {
        let mut next = self.next_due.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_some_and(|due| due <= SystemTime::now()) {
            *next = None;
        }
    }
}

/// `at + by`, or a year after `at` when that is later than the clock can tell.
fn later(at: Instant, by: Duration) -> Instant {
    let year = Duration::from_secs(365 * 24 * 3600);
    at.checked_add(by.min(year)).unwrap_or(at)
}

/// Starts listening on [`CHANNEL`] with the pool's connection settings; every notification
/// for `queue`, every (re-)listen and every gap signals `wake`. If the listener stops for good,
/// polling alone keeps the worker going (logged once).
pub(crate) fn listen(
    connection: &PoolConfig,
    queue: String,
    wake: Arc<Wake>,
    counters: Arc<Counters>,
    stop: &CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let mut connection = connection.clone();
    connection.name = format!("{}-work-listen", connection.name);
    let config = ListenerConfig::new(connection).channel(CHANNEL).buffer(256);
    let mut listener = Listener::start(config, stop).map_err(|e| Error::new(Kind::Pool(e)))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(Event::Listening { epoch, .. }) => {
                    tracing::debug!(%queue, epoch, "listening for new jobs");
                    wake.signal();
                    counters.listening.store(true, Ordering::SeqCst);
                }
                Ok(Event::Notification(n)) => {
                    if n.payload == queue {
                        counters.notifications.fetch_add(1, Ordering::Relaxed);
                        wake.signal();
                    }
                }
                Ok(Event::Gap {
                    reconnected,
                    dropped,
                    ..
                }) => {
                    tracing::debug!(%queue, reconnected, dropped, "notifications may have been missed; looking for jobs");
                    wake.signal();
                }
                Ok(Event::Deaf { reason, .. }) => {
                    tracing::warn!(%queue, cause = %reason, "NOTIFY wake-ups are not delivered; polling only until they are");
                    counters.listening.store(false, Ordering::SeqCst);
                    wake.signal();
                }
                Err(e) if e.is_stopped() => break,
                Err(e) => {
                    tracing::warn!(%queue, error = %e, "cannot listen for new jobs; polling only");
                    break;
                }
            }
        }
        counters.listening.store(false, Ordering::SeqCst);
    }))
}
