//! State shared by a listener's handle and its task: counters (also exported through the
//! `metrics` facade) and the error it stopped with.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Error;

const NOTIFICATIONS: &str = "pgkeel_listener_notifications_total";
const DROPPED: &str = "pgkeel_listener_dropped_total";
const LOSSES: &str = "pgkeel_listener_losses_total";
const EPOCH: &str = "pgkeel_listener_epoch";

/// A snapshot of a listener's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListenerStats {
    /// The current listening epoch (0 before the first LISTEN took effect).
    pub epoch: u64,
    /// True while LISTEN is in force on a live connection.
    pub listening: bool,
    /// Notifications received from the server (delivered or dropped).
    pub notifications: u64,
    /// Notifications dropped because the consumer was behind.
    pub dropped: u64,
    /// Connections lost after LISTEN took effect.
    pub losses: u64,
}

/// Counters and the final error, shared by the handle and the task.
#[derive(Debug)]
pub(super) struct Shared {
    epoch: AtomicU64,
    listening: AtomicBool,
    notifications: AtomicU64,
    dropped: AtomicU64,
    losses: AtomicU64,
    failure: OnceLock<Error>,
    metrics: Metrics,
}

#[derive(Debug)]
struct Metrics {
    notifications: metrics::Counter,
    dropped: metrics::Counter,
    losses: metrics::Counter,
    epoch: metrics::Gauge,
}

impl Shared {
    pub(super) fn new(name: &str) -> Self {
        Shared {
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            notifications: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            failure: OnceLock::new(),
            metrics: Metrics {
                notifications: metrics::counter!(NOTIFICATIONS, "listener" => name.to_owned()),
                dropped: metrics::counter!(DROPPED, "listener" => name.to_owned()),
                losses: metrics::counter!(LOSSES, "listener" => name.to_owned()),
                epoch: metrics::gauge!(EPOCH, "listener" => name.to_owned()),
            },
        }
    }

    pub(super) fn snapshot(&self) -> ListenerStats {
        ListenerStats {
            epoch: self.epoch.load(Ordering::Acquire),
            listening: self.listening.load(Ordering::Acquire),
            notifications: self.notifications.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            losses: self.losses.load(Ordering::Acquire),
        }
    }

    pub(super) fn listening(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Release);
        self.listening.store(true, Ordering::Release);
        self.metrics.epoch.set(epoch as f64);
    }

    pub(super) fn lost(&self) {
        self.listening.store(false, Ordering::Release);
        self.losses.fetch_add(1, Ordering::AcqRel);
        self.metrics.losses.increment(1);
    }

    pub(super) fn not_listening(&self) {
        self.listening.store(false, Ordering::Release);
    }

    pub(super) fn received(&self, dropped: bool) {
        self.notifications.fetch_add(1, Ordering::AcqRel);
        self.metrics.notifications.increment(1);
        if dropped {
            self.dropped.fetch_add(1, Ordering::AcqRel);
            self.metrics.dropped.increment(1);
        }
    }

    /// Records the error the listener stopped with (the first one wins).
    pub(super) fn fail(&self, error: Error) {
        let _ = self.failure.set(error);
    }

    pub(super) fn failure(&self) -> Option<Error> {
        self.failure.get().cloned()
    }
}
