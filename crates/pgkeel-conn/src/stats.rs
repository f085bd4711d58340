//! Counters of one pool (the same events as the metrics, readable without a metrics recorder).

use std::sync::atomic::{AtomicU64, Ordering};

/// What happened to a pool so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Losses noticed.
    pub losses: u64,
    /// Recoveries completed.
    pub recoveries: u64,
    /// Failed connection attempts (starting or recovering).
    pub attempt_failures: u64,
    /// Failed reconnect hooks.
    pub hook_failures: u64,
    /// Requests to the recovery worker (signals, kicks), however many were coalesced.
    pub signals: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) losses: AtomicU64,
    pub(crate) recoveries: AtomicU64,
    pub(crate) attempt_failures: AtomicU64,
    pub(crate) hook_failures: AtomicU64,
    pub(crate) signals: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PoolStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PoolStats {
            losses: get(&self.losses),
            recoveries: get(&self.recoveries),
            attempt_failures: get(&self.attempt_failures),
            hook_failures: get(&self.hook_failures),
            signals: get(&self.signals),
        }
    }
}
