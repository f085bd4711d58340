//! The channel sink, for programs that embed pgkeel: batches arrive on a tokio channel, and a
//! batch is durable when the receiver says so with [`Delivery::ack`].

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Batch, Sink, SinkError};

/// Hands each batch to a [`Delivery`] receiver and waits until it is acknowledged.
#[derive(Debug, Clone)]
pub struct ChannelSink {
    sender: mpsc::Sender<Delivery>,
}

/// One batch for the receiver. Call [`ack`](Delivery::ack) once the batch is stored durably;
/// dropping the delivery without it fails the delivery, and the WAL is not confirmed.
#[derive(Debug)]
pub struct Delivery {
    /// The events.
    pub batch: Arc<Batch>,
    ack: oneshot::Sender<()>,
}

impl Delivery {
    /// Says the batch is durable: the sink's `deliver` returns `Ok`.
    pub fn ack(self) {
        // The sink stopped waiting (shutdown): nothing to tell it.
        let _ = self.ack.send(());
    }
}

impl ChannelSink {
    /// A sink and the receiver of its deliveries; up to `capacity` (at least 1) deliveries
    /// wait in the channel.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Delivery>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (ChannelSink { sender }, receiver)
    }
}

impl Sink for ChannelSink {
    fn deliver<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let (ack, acked) = oneshot::channel();
            let delivery = Delivery {
                batch: Arc::new(batch.clone()),
                ack,
            };
            if self.sender.send(delivery).await.is_err() {
                return Err(SinkError::closed(
                    self.describe(),
                    "the receiver was dropped; the batch was not delivered",
                ));
            }
            acked.await.map_err(|_| {
                SinkError::closed(
                    self.describe(),
                    "the delivery was dropped without ack(); the batch is not durable",
                )
            })
        })
    }

    fn describe(&self) -> String {
        "channel".to_owned()
    }
}
