//! One replication session: start streaming from a position, decode and assemble what
//! arrives, hand committed transactions to delivery (pausing when the buffer is full), and
//! tell the server how far the sink durably got — never further.

use std::sync::Arc;
use std::time::Duration;

use metrics::gauge;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::assemble::{Assembler, Transaction};
use crate::error::Error;
use crate::lsn::Lsn;
use crate::pgoutput::Decoder;
use crate::pipeline::delivery::Queued;
use crate::pipeline::progress::Progress;
use crate::pipeline::telemetry;
use crate::repl::{ReplicationMessage, ReplicationStream};

/// State that outlives one session (kept across reconnects).
pub(crate) struct Shared {
    pub(crate) queue: mpsc::Sender<Queued>,
    pub(crate) buffer: Arc<Semaphore>,
    pub(crate) max_buffered_events: usize,
    pub(crate) durable: watch::Receiver<Lsn>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) status_interval: Duration,
    /// Types that are not built in, for typing values (read again when an unknown one shows
    /// up, through `database`).
    pub(crate) types: std::collections::HashMap<u32, crate::value::CustomType>,
    pub(crate) database: pgkeel_net::Database,
    /// Stop once the confirmed position reaches this.
    pub(crate) stop_at: Option<Lsn>,
    /// End LSN of the last transaction handed to delivery: anything up to it is not taken
    /// again after a reconnect.
    pub(crate) enqueued: Lsn,
}

/// How a session ended without an error.
pub(crate) enum End {
    /// Cancelled: the stream is still open, for the final status update.
    Stopped(ReplicationStream),
}

/// Reads `pg_type` again (a type created while the stream runs: an enum, a domain) so its
/// values are typed from now on; on failure they stay text, and the stream goes on.
async fn reload_types(shared: &mut Shared, assembler: &mut Assembler) {
    let loaded = async {
        let (client, connection) = shared.database.connect().await.map_err(|e| e.to_string())?;
        let connection = tokio::spawn(connection);
        let types = crate::setup::custom_types(&client)
            .await
            .map_err(|e| e.to_string());
        drop(client);
        connection.abort();
        types
    };
    match loaded.await {
        Ok(types) => {
            tracing::info!(
                types = types.len(),
                "read pg_type again: a type created while streaming"
            );
            assembler.set_types(types.clone());
            shared.types = types;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read pg_type for a new type; its values stay text");
            // Not asked again for every message: the types known now include the failure.
            assembler.give_up_on_unknown_types();
        }
    }
}

/// Streams until cancelled or an error.
pub(crate) async fn run(
    shared: &mut Shared,
    mut stream: ReplicationStream,
    proto_version: u32,
    cancel: &CancellationToken,
) -> Result<End, Error> {
    let mut decoder = Decoder::new(proto_version);
    let mut assembler = Assembler::with_types(shared.types.clone());
    let mut pending: Option<Transaction> = None;
    // The keepalive position confirmed while nothing was in flight.
    let mut idle_position = Lsn::ZERO;
    let mut server_end = Lsn::ZERO;
    let mut tick = tokio::time::interval(shared.status_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // Status after a durable advance, at most this often.
    let min_gap = Duration::from_millis(100);
    // Confirm at once what the sink already holds: the previous session may have died before
    // it could (on a flapping link, waiting would let confirmation starve).
    confirm(&mut stream, shared, &assembler, idle_position);
    send_status(&mut stream, shared, server_end, false).await?;
    let mut last_status = tokio::time::Instant::now();
    let mut durable = shared.durable.clone();
    loop {
        if reached_stop(&stream, shared) {
            return Ok(End::Stopped(stream));
        }
        let permits = match &pending {
            Some(txn) => txn.events.len().clamp(1, shared.max_buffered_events) as u32,
            None => 0,
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(End::Stopped(stream)),
            _ = tick.tick() => {
                confirm(&mut stream, shared, &assembler, idle_position);
                send_status(&mut stream, shared, server_end, false).await?;
                last_status = tokio::time::Instant::now();
            }
            changed = durable.changed() => {
                if changed.is_err() {
                    return Err(Error::protocol("the delivery task ended unexpectedly"));
                }
                confirm(&mut stream, shared, &assembler, idle_position);
                if last_status.elapsed() >= min_gap {
                    send_status(&mut stream, shared, server_end, false).await?;
                    last_status = tokio::time::Instant::now();
                }
            }
            permit = Arc::clone(&shared.buffer).acquire_many_owned(permits), if pending.is_some() => {
                let Ok(permit) = permit else {
                    return Err(Error::protocol("the delivery buffer was closed"));
                };
                if let Some(txn) = pending.take() {
                    shared.enqueued = txn.end_lsn;
                    if shared.queue.send(Queued { txn, _permit: permit }).await.is_err() {
                        return Err(Error::protocol("the delivery task ended unexpectedly"));
                    }
                }
            }
            message = stream.recv(), if pending.is_none() => match message? {
                ReplicationMessage::XLogData { wal_start, wal_end, data, .. } => {
                    server_end = server_end.max(wal_end);
                    stream.advance_write(wal_end);
                    shared.progress.received(wal_end);
                    let message = decoder.decode(&data)?;
                    if assembler.needs_types(&message) {
                        reload_types(shared, &mut assembler).await;
                    }
                    if let Some(txn) = assembler.push(wal_start, message)?
                        && txn.end_lsn > shared.enqueued
                    {
                        pending = Some(txn);
                    }
                }
                ReplicationMessage::Keepalive { wal_end, reply_requested, .. } => {
                    server_end = server_end.max(wal_end);
                    shared.progress.received(wal_end);
                    // Nothing partly received, nothing waiting for the sink: everything up to
                    // the server's position is handled.
                    if assembler.idle() && *shared.durable.borrow() >= shared.enqueued {
                        idle_position = idle_position.max(wal_end);
                    }
                    if reply_requested {
                        confirm(&mut stream, shared, &assembler, idle_position);
                        send_status(&mut stream, shared, server_end, false).await?;
                        last_status = tokio::time::Instant::now();
                    }
                }
            },
        }
    }
}

/// Moves the flush and apply positions to what may be confirmed: what the sink holds (not
/// past a prepared transaction still waiting for its commit), or the idle keepalive position.
fn confirm(
    stream: &mut ReplicationStream,
    shared: &Shared,
    assembler: &Assembler,
    idle_position: Lsn,
) {
    let durable = *shared.durable.borrow();
    let mut flush = match assembler.hold_back() {
        Some(hold) => durable.min(hold),
        None => durable,
    };
    if assembler.idle() && durable >= shared.enqueued {
        flush = flush.max(idle_position);
    }
    if !flush.is_zero() {
        stream.advance_flush(flush);
        stream.advance_apply(flush);
    }
}

/// True when the confirmed position reached `stop_at`.
fn reached_stop(stream: &ReplicationStream, shared: &Shared) -> bool {
    shared
        .stop_at
        .is_some_and(|stop| stream.feedback().flush >= stop)
}

async fn send_status(
    stream: &mut ReplicationStream,
    shared: &Shared,
    server_end: Lsn,
    reply: bool,
) -> Result<(), Error> {
    stream.send_status(reply).await?;
    let flush = stream.feedback().flush;
    shared.progress.confirmed(flush);
    gauge!(telemetry::CONFIRMED_LSN).set(flush.0 as f64);
    gauge!(telemetry::LAG_BYTES).set(server_end.0.saturating_sub(flush.0) as f64);
    Ok(())
}
