//! Heartbeats: a non-transactional logical message written every interval on an ordinary
//! connection, so the slot advances even when the published tables are quiet while other
//! WAL grows (the message passes through the stream, which confirms its position). The same
//! tick runs the WAL-retention guard on the same connection.

use std::time::Duration;

use pgkeel_net::{Database, describe_postgres};
use tokio_util::sync::CancellationToken;

use crate::assemble::HEARTBEAT_PREFIX;
use crate::pipeline::retention::RetentionGuard;

/// Every `every` until cancelled: writes a heartbeat (when `write` is set), then lets `guard`
/// look at the slot. Failures are logged and retried at the next tick (the stream itself
/// notices a lost database).
pub(crate) async fn run(
    database: Database,
    every: Duration,
    write: bool,
    mut guard: RetentionGuard,
    cancel: CancellationToken,
) {
    let sql = format!("SELECT pg_logical_emit_message(false, '{HEARTBEAT_PREFIX}', '')");
    let mut client: Option<tokio_postgres::Client> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = match database.connect().await {
                Ok((c, connection)) => {
                    tokio::spawn(connection);
                    Some(c)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "heartbeat: cannot connect");
                    continue;
                }
            };
        }
        let Some(c) = &client else { continue };
        if write && let Err(e) = c.batch_execute(&sql).await {
            tracing::debug!(error = %describe_postgres(&e), "heartbeat failed");
            client = None;
            continue;
        }
        guard.check(c).await;
    }
}
