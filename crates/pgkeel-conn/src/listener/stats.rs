//! State shared by a listener's handle and its task: counters (also exported through the
//! `metrics` facade) and the error it stopped with.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Error;

const NOTIFICATIONS: &str = "pgkeel_listener_notifications_total";
const DROPPED: &str = "pgkeel_listener_dropped_total";
const LOSSES: &str = "pgkeel_listener_losses_total";
const EPOCH: &str = "pgkeel_listener_epoch";
const DEAF: &str = "pgkeel_listener_deaf";
const DEAF_EPISODES: &str = "pgkeel_listener_deaf_total";

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
    /// True while notifications are not delivered although LISTEN succeeded (see
    /// [`Event::Deaf`](super::Event::Deaf)); false again once a probe comes back.
    pub deaf: bool,
    /// Deaf episodes so far.
    pub deaf_episodes: u64,
    /// Delivery probes that came back.
    pub probes: u64,
}

/// Counters and the final error, shared by the handle and the task.
#[derive(Debug)]
pub(super) struct Shared {
    epoch: AtomicU64,
    listening: AtomicBool,
    notifications: AtomicU64,
    dropped: AtomicU64,
    losses: AtomicU64,
    deaf: AtomicBool,
    deaf_episodes: AtomicU64,
    probes: AtomicU64,
    failure: OnceLock<Error>,
    metrics: Metrics,
}

#[derive(Debug)]
struct Metrics {
    notifications: metrics::Counter,
    dropped: metrics::Counter,
    losses: metrics::Counter,
    epoch: metrics::Gauge,
    deaf: metrics::Gauge,
    deaf_episodes: metrics::Counter,
}

impl Shared {
    pub(super) fn new(name: &str) -> Self {
        Shared {
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            notifications: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            deaf: AtomicBool::new(false),
            deaf_episodes: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            failure: OnceLock::new(),
            metrics: Metrics {
                notifications: metrics::counter!(NOTIFICATIONS, "listener" => name.to_owned()),
                dropped: metrics::counter!(DROPPED, "listener" => name.to_owned()),
                losses: metrics::counter!(LOSSES, "listener" => name.to_owned()),
                epoch: metrics::gauge!(EPOCH, "listener" => name.to_owned()),
                deaf: metrics::gauge!(DEAF, "listener" => name.to_owned()),
                deaf_episodes: metrics::counter!(DEAF_EPISODES, "listener" => name.to_owned()),
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
            deaf: self.deaf.load(Ordering::Acquire),
            deaf_episodes: self.deaf_episodes.load(Ordering::Acquire),
            probes: self.probes.load(Ordering::Acquire),
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

    /// Deaf from now on; true when this starts an episode.
    pub(super) fn deaf(&self) -> bool {
        self.listening.store(false, Ordering::Release);
        let started = !self.deaf.swap(true, Ordering::AcqRel);
        if started {
            self.deaf_episodes.fetch_add(1, Ordering::AcqRel);
            self.metrics.deaf_episodes.increment(1);
            self.metrics.deaf.set(1.0);
        }
        started
    }

    /// A probe came back.
    pub(super) fn probed(&self) {
        self.probes.fetch_add(1, Ordering::AcqRel);
    }

    /// Heard again; true when this ends an episode.
    pub(super) fn heard(&self) -> bool {
        let ended = self.deaf.swap(false, Ordering::AcqRel);
        if ended {
            self.metrics.deaf.set(0.0);
        }
        ended
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
