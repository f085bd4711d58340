//! The stdout sink: JSON lines on standard output, flushed per batch. "Durable" here means
//! handed to the reader of the pipe or terminal; a closed stdout is an error, never success.

use futures_util::future::BoxFuture;
use tokio::io::{AsyncWriteExt, Stdout};

use super::{Batch, Sink, SinkError};

/// Writes each event as one JSON line to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    out: Stdout,
}

impl StdoutSink {
    /// A sink on this process's standard output.
    pub fn new() -> Self {
        StdoutSink {
            out: tokio::io::stdout(),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for StdoutSink {
    fn deliver<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if batch.events.is_empty() {
                return Ok(());
            }
            let lines = batch.json_lines();
            let written = match self.out.write_all(&lines).await {
                Ok(()) => self.out.flush().await,
                Err(e) => Err(e),
            };
            written.map_err(|e| {
                SinkError::io(
                    self.describe(),
                    "cannot write (was the reading end of the pipe closed?)",
                    &e,
                )
            })
        })
    }

    fn describe(&self) -> String {
        "stdout".to_owned()
    }
}
