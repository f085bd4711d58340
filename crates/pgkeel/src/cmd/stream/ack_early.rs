//! A deliberately broken sink for `pgkeel demo --sabotage ack-early`: it says a batch is
//! durable at once and writes it a second later, so the slot is confirmed past events the
//! sink does not hold. A process killed in that second loses them — the demo must catch it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use pgkeel_stream::{Batch, Sink, SinkError};
use tokio::sync::mpsc;

/// How long a batch waits in memory after it was acknowledged.
const HOLD: Duration = Duration::from_secs(1);

/// Acknowledges every batch before `inner` has it.
pub(super) struct AckBeforeWriteSink {
    queue: mpsc::UnboundedSender<(Instant, Batch)>,
    describe: String,
}

impl AckBeforeWriteSink {
    pub(super) fn wrap(mut inner: Box<dyn Sink>) -> Self {
        let describe = format!("{} (UNSAFE: acknowledged before written)", inner.describe());
        let (queue, mut held) = mpsc::unbounded_channel::<(Instant, Batch)>();
        tokio::spawn(async move {
            while let Some((acknowledged, batch)) = held.recv().await {
                tokio::time::sleep_until(acknowledged + HOLD).await;
                if let Err(e) = inner.deliver(&batch).await {
                    tracing::error!(error = %e, "the unsafe sink lost a batch it had acknowledged");
                }
            }
        });
        AckBeforeWriteSink { queue, describe }
    }
}

impl Sink for AckBeforeWriteSink {
    fn deliver<'a>(
        &'a mut self,
        batch: &'a Batch,
    ) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>> {
        let _ = self.queue.send((Instant::now(), batch.clone()));
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
