//! The delivery task: takes committed transactions in commit order, hands them to the sink in
//! batches, retries a failing sink without ever skipping, and publishes the end LSN of what
//! the sink holds durably — the only position the reader may confirm to the server. Events at
//! or before the last one the sink holds (its [`Sink::position`] at start, then the last
//! delivered) are left out: the slot resends from its confirmed position after a restart or a
//! reconnect, and a sink that knows its position gets each event once.

use std::sync::Arc;
use std::time::SystemTime;

use metrics::{counter, histogram};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::assemble::Transaction;
use crate::lsn::Lsn;
use crate::pipeline::progress::Progress;
use crate::pipeline::telemetry;
use crate::sink::{Batch, Position, Sink};

/// A transaction on its way to the sink, holding its share of the buffer.
pub(crate) struct Queued {
    pub(crate) txn: Transaction,
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// Runs until the channel closes (the reader is done) or `cancel` fires while the sink fails.
pub(crate) async fn deliver(
    mut sink: Box<dyn Sink>,
    mut queue: mpsc::Receiver<Queued>,
    durable: watch::Sender<Lsn>,
    progress: Arc<Progress>,
    max_batch_events: usize,
    backoff: pgkeel_conn::Backoff,
    cancel: CancellationToken,
) {
    let mut random = pgkeel_conn::Jitter::new();
    let mut held = sink.position();
    while let Some(first) = queue.recv().await {
        let mut taken = vec![first];
        let mut events = taken[0].txn.events.len();
        while events < max_batch_events {
            match queue.try_recv() {
                Ok(next) => {
                    events += next.txn.events.len();
                    taken.push(next);
                }
                Err(_) => break,
            }
        }
        let end_lsn = taken.last().map_or(Lsn::ZERO, |q| q.txn.end_lsn);
        let commit_times: Vec<_> = taken.iter().map(|q| q.txn.commit_time).collect();
        let mut skipped = 0u64;
        let batch = Batch {
            events: taken
                .iter_mut()
                .flat_map(|q| std::mem::take(&mut q.txn.events))
                .filter(|event| {
                    let new = held.is_none_or(|h| Position::of(event) > h);
                    skipped += u64::from(!new);
                    new
                })
                .collect(),
            end_lsn,
        };
        if skipped > 0 {
            counter!(telemetry::SKIPPED).increment(skipped);
            tracing::info!(skipped, sink = %sink.describe(), "left out events the sink already holds");
        }
        if !batch.events.is_empty() {
            let mut attempt = 0;
            loop {
                match sink.deliver(&batch).await {
                    Ok(()) => break,
                    Err(error) if error.is_cancelled() => return,
                    Err(error) => {
                        attempt += 1;
                        counter!(telemetry::SINK_FAILURES).increment(1);
                        let delay = backoff.delay(attempt, random.next());
                        tracing::warn!(
                            sink = %sink.describe(), %error, attempt, retry_in_ms = delay.as_millis() as u64,
                            "the sink failed; the batch will be delivered again (never skipped)"
                        );
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = cancel.cancelled() => return,
                        }
                    }
                }
            }
        }
        let now = SystemTime::now();
        for time in commit_times {
            if let Some(at) = time
                .to_system_time()
                .and_then(|t| now.duration_since(t).ok())
            {
                histogram!(telemetry::COMMIT_TO_SINK).record(at.as_secs_f64());
            }
        }
        if let Some(last) = batch.events.last() {
            held = Some(Position::of(last));
        }
        counter!(telemetry::EVENTS).increment(batch.events.len() as u64);
        counter!(telemetry::TRANSACTIONS).increment(taken.len() as u64);
        progress.delivered(batch.events.len() as u64, taken.len() as u64, end_lsn);
        durable.send_replace(end_lsn);
        drop(taken);
    }
}
