//! What a session knows about itself, shared by its handles and its heartbeat: the local
//! deadline (last successful renewal sent + interval − safety margin) and the one-way switch to
//! "expired", announced on a cancellation token.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::telemetry;

pub(crate) struct State {
    pub(crate) id: i64,
    pub(crate) component: String,
    pub(crate) interval: Duration,
    pub(crate) margin: Duration,
    /// The instant the deadline is counted from.
    base: Instant,
    /// The local deadline, in nanoseconds after `base`.
    deadline_ns: AtomicU64,
    expired: AtomicBool,
    /// Cancelled once the session expired locally or was closed.
    token: CancellationToken,
}

impl State {
    /// A session whose insert was sent at `sent`.
    pub(crate) fn new(
        id: i64,
        component: String,
        interval: Duration,
        margin: Duration,
        sent: Instant,
    ) -> Self {
        let state = State {
            id,
            component,
            interval,
            margin,
            base: sent,
            deadline_ns: AtomicU64::new(0),
            expired: AtomicBool::new(false),
            token: CancellationToken::new(),
        };
        state
            .deadline_ns
            .store(state.nanos(sent + interval - margin), Ordering::Release);
        state
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The local deadline.
    pub(crate) fn deadline(&self) -> Instant {
        self.base + Duration::from_nanos(self.deadline_ns.load(Ordering::Acquire))
    }

    /// True once expired (or closed), and from the local deadline on, whoever looks first.
    pub(crate) fn expired(&self) -> bool {
        if self.expired.load(Ordering::Acquire) {
            return true;
        }
        if Instant::now() >= self.deadline() {
            self.expire("the heartbeat was not renewed before the local deadline");
            return true;
        }
        false
    }

    /// Time left until the local deadline, `None` when expired.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        if self.expired() {
            return None;
        }
        Some(self.deadline().saturating_duration_since(Instant::now()))
    }

    /// A renewal sent at `sent` succeeded: the database deadline is at least `sent + interval`
    /// from now on. Never revives an expired session.
    pub(crate) fn renewed(&self, sent: Instant) {
        let next = self.nanos(sent + self.interval - self.margin);
        let mut current = self.deadline_ns.load(Ordering::Acquire);
        loop {
            if self.expired() {
                return;
            }
            if next <= current {
                return;
            }
            match self.deadline_ns.compare_exchange(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Switches to expired (once) and tells everyone waiting.
    pub(crate) fn expire(&self, reason: &'static str) {
        if self.expired.swap(true, Ordering::AcqRel) {
            return;
        }
        ::metrics::counter!(
            telemetry::SESSIONS_EXPIRED,
            "component" => self.component.clone(),
            "reason" => reason
        )
        .increment(1);
        tracing::warn!(session = self.id, component = %self.component, reason, "session expired");
        self.token.cancel();
    }

    /// Switches to expired because the owner closes the session.
    pub(crate) fn close(&self) {
        if self.expired.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::info!(session = self.id, component = %self.component, "session closed");
        self.token.cancel();
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}
