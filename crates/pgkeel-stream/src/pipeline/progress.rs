//! Counters and positions a running stream shares with its owner (tests, CLI, status).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::lsn::Lsn;

/// Where a stream is. Every field only grows (except `connected`).
#[derive(Debug, Default)]
pub struct Progress {
    events: AtomicU64,
    transactions: AtomicU64,
    durable: AtomicU64,
    confirmed: AtomicU64,
    received: AtomicU64,
    reconnects: AtomicU64,
    status_updates: AtomicU64,
    connected: AtomicBool,
}

/// A copy of [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressSnapshot {
    /// Events the sink holds.
    pub events: u64,
    /// Transactions delivered (including empty ones).
    pub transactions: u64,
    /// End LSN of the last transaction the sink holds.
    pub durable: Lsn,
    /// The flush position last sent to the server.
    pub confirmed: Lsn,
    /// The highest server position seen.
    pub received: Lsn,
    /// Connections lost and re-established.
    pub reconnects: u64,
    /// Standby status updates sent to the server (each reports `confirmed` as flushed).
    pub status_updates: u64,
    /// A replication connection is streaming now.
    pub connected: bool,
}

impl Progress {
    pub(crate) fn delivered(&self, events: u64, transactions: u64, end: Lsn) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        self.durable.fetch_max(end.0, Ordering::Relaxed);
    }

    /// A status update reporting `lsn` as flushed was sent.
    pub(crate) fn confirmed(&self, lsn: Lsn) {
        self.confirmed.fetch_max(lsn.0, Ordering::Relaxed);
        self.status_updates.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, lsn: Lsn) {
        self.received.fetch_max(lsn.0, Ordering::Relaxed);
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            events: self.events.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            durable: Lsn(self.durable.load(Ordering::Relaxed)),
            confirmed: Lsn(self.confirmed.load(Ordering::Relaxed)),
            received: Lsn(self.received.load(Ordering::Relaxed)),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            status_updates: self.status_updates.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
        }
    }
}
