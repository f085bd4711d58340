//! The WAL-retention guard of a running stream: every heartbeat tick it reads the slot's row
//! of `pg_replication_slots`, publishes lag, retained WAL and `safe_wal_size` as metrics, and
//! warns (once per episode) when the lag passes the threshold or `wal_status` becomes
//! `unreserved` — before the server invalidates the slot and the primary's disk fills.

use metrics::gauge;
use tokio_postgres::Client;

use crate::pipeline::telemetry;
use crate::setup::slot_status;

/// What the guard watches and what it has already said.
#[derive(Debug)]
pub(crate) struct RetentionGuard {
    slot: String,
    warn_lag_bytes: Option<u64>,
    lag_warned: bool,
    unreserved_warned: bool,
}

impl RetentionGuard {
    pub(crate) fn new(slot: &str, warn_lag_bytes: Option<u64>) -> Self {
        RetentionGuard {
            slot: slot.to_owned(),
            warn_lag_bytes,
            lag_warned: false,
            unreserved_warned: false,
        }
    }

    /// Reads the slot once; failures are logged at debug level (the stream notices a lost
    /// database by itself).
    pub(crate) async fn check(&mut self, client: &Client) {
        let status = match slot_status(client, &self.slot).await {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "retention guard: cannot read the slot");
                return;
            }
        };
        let lag = status.lag_bytes.unwrap_or(0).max(0) as u64;
        gauge!(telemetry::SLOT_LAG_BYTES).set(lag as f64);
        if let Some(retained) = status.retained_wal_bytes {
            gauge!(telemetry::SLOT_RETAINED_BYTES).set(retained as f64);
        }
        if let Some(safe) = status.safe_wal_size {
            gauge!(telemetry::SLOT_SAFE_WAL_BYTES).set(safe as f64);
        }
        let unreserved = matches!(status.wal_status.as_deref(), Some("unreserved" | "lost"));
        gauge!(telemetry::SLOT_WAL_UNRESERVED).set(if unreserved { 1.0 } else { 0.0 });
        match self.warn_lag_bytes {
            Some(limit) if lag > limit && !self.lag_warned => {
                self.lag_warned = true;
                tracing::warn!(
                    slot = %self.slot, lag_bytes = lag, limit_bytes = limit,
                    "the slot lags behind the server's WAL by more than the warning threshold; \
                     the server keeps that WAL on its disk until the stream confirms it \
                     (is the sink slow or failing?)"
                );
            }
            Some(limit) if lag <= limit && self.lag_warned => {
                self.lag_warned = false;
                tracing::info!(slot = %self.slot, lag_bytes = lag, "the slot's lag is below the warning threshold again");
            }
            _ => {}
        }
        if unreserved && !self.unreserved_warned {
            self.unreserved_warned = true;
            tracing::warn!(
                slot = %self.slot, wal_status = status.wal_status.as_deref().unwrap_or(""),
                safe_wal_size = status.safe_wal_size,
                "the slot's WAL is no longer reserved (max_slot_wal_keep_size): the server may \
                 remove it at the next checkpoint and the slot would be lost; catch up now, or \
                 raise max_slot_wal_keep_size"
            );
        } else if !unreserved {
            self.unreserved_warned = false;
        }
    }
}
