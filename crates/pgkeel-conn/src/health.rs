//! The pool's health, published as a watch: Starting → Ready ⇄ Recovering, or Fatal.

use std::time::{Instant, SystemTime};

use crate::error::Error;

/// Where the pool stands.
#[derive(Debug, Clone)]
pub enum Health {
    /// The first connection has not been established yet.
    Starting {
        /// Failed attempts so far.
        attempt: u32,
        /// When the next attempt is due.
        next_retry_at: Option<Instant>,
        /// Why the last attempt failed.
        last_error: Option<String>,
    },
    /// Connected, and every reconnect hook succeeded.
    Ready {
        /// How many times the pool became ready (1 after the first connection).
        epoch: u64,
        /// Since when.
        since: SystemTime,
    },
    /// The connection was lost; recovering.
    Recovering {
        /// Failed attempts since the loss.
        attempt: u32,
        /// When the loss was noticed.
        since: SystemTime,
        /// When the next attempt is due (`None`: now).
        next_retry_at: Option<Instant>,
        /// Why the connection was lost, or why the last attempt failed.
        last_error: String,
    },
    /// A fatal error: the pool stopped trying.
    Fatal(Error),
}

impl Health {
    /// `starting`, `ready`, `recovering` or `fatal`.
    pub fn state(&self) -> &'static str {
        match self {
            Health::Starting { .. } => "starting",
            Health::Ready { .. } => "ready",
            Health::Recovering { .. } => "recovering",
            Health::Fatal(_) => "fatal",
        }
    }

    /// True when ready.
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready { .. })
    }

    /// The epoch when ready.
    pub fn epoch(&self) -> Option<u64> {
        match self {
            Health::Ready { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// Failed attempts (0 when ready or fatal).
    pub fn attempt(&self) -> u32 {
        match self {
            Health::Starting { attempt, .. } | Health::Recovering { attempt, .. } => *attempt,
            _ => 0,
        }
    }

    /// Milliseconds until the next attempt, if one is scheduled.
    pub fn next_retry_in_ms(&self) -> Option<u64> {
        match self {
            Health::Starting { next_retry_at, .. } | Health::Recovering { next_retry_at, .. } => {
                next_retry_at
                    .map(|at| at.saturating_duration_since(Instant::now()).as_millis() as u64)
            }
            _ => None,
        }
    }

    /// The last error, as text.
    pub fn last_error(&self) -> Option<String> {
        match self {
            Health::Starting { last_error, .. } => last_error.clone(),
            Health::Recovering { last_error, .. } => Some(last_error.clone()),
            Health::Fatal(e) => Some(e.to_string()),
            Health::Ready { .. } => None,
        }
    }

    /// Gauge value: 0 starting, 1 ready, 2 recovering, 3 fatal.
    pub(crate) fn gauge(&self) -> f64 {
        match self {
            Health::Starting { .. } => 0.0,
            Health::Ready { .. } => 1.0,
            Health::Recovering { .. } => 2.0,
            Health::Fatal(_) => 3.0,
        }
    }
}
