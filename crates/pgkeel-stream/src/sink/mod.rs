//! Sinks: where change events go. A sink says a batch is delivered only once it holds every
//! event of it durably; only then is the WAL position confirmed to the server.
//!
//! Delivery is at least once: after a crash or a failed delivery the same events can come
//! again. `(commit_lsn, ordinal)` identifies an event, so a consumer can drop duplicates. A
//! sink that knows the last event it durably holds ([`Sink::position`]; the file sink reads
//! its own last line) gets exactly once: the pipeline skips every event at or before it.

mod channel;
mod error;
mod file;
mod http;
mod stdout;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::event::Event;
use crate::lsn::Lsn;

pub use channel::{ChannelSink, Delivery};
pub use error::SinkError;
pub use file::FileSink;
pub use http::HttpSink;
pub use stdout::StdoutSink;

/// Events of whole transactions, in commit order; `end_lsn` = end LSN of the last transaction
/// in it. When [`Sink::deliver`] returns `Ok` the sink holds every event durably; only then may
/// the WAL position be confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The events, in commit order and, within a transaction, by ordinal.
    pub events: Vec<Event>,
    /// The end LSN of the last transaction in the batch: the position to confirm.
    pub end_lsn: Lsn,
}

impl Batch {
    /// The events as JSON lines, each ending in a newline.
    pub fn json_lines(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.events.len() * 256);
        for event in &self.events {
            event.write_json_line(&mut out);
        }
        out
    }

    /// The events as one JSON array.
    pub fn json_array(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.events.len() * 256);
        // Serializing plain data into a Vec cannot fail.
        if serde_json::to_writer(&mut out, &self.events).is_err() {
            out.clear();
        }
        out
    }
}

/// Where an event stands in the stream: events are delivered in increasing
/// `(commit_lsn, ordinal)` order, so the last one a sink holds says what it already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The commit LSN of the event's transaction.
    pub commit_lsn: Lsn,
    /// The event's place in its transaction.
    pub ordinal: u32,
}

impl Position {
    /// The position of `event`.
    pub fn of(event: &Event) -> Self {
        Position {
            commit_lsn: event.commit_lsn,
            ordinal: event.ordinal,
        }
    }
}

/// A destination for batches of events.
pub trait Sink: Send {
    /// The last event this sink holds durably from before (read when it was opened), if it
    /// can tell; the pipeline then skips every event at or before it, whatever the slot
    /// resends. `None` (the default): delivery is at least once.
    fn position(&self) -> Option<Position> {
        None
    }

    /// Delivers the batch; returns when it is durable (or an error). Must not return `Ok` for
    /// a partial write. A batch without events (it only moves `end_lsn`) may write nothing.
    fn deliver<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>>;

    /// What the sink writes to, for logs: `stdout`, `file /tmp/x.jsonl`, `http http://…`.
    fn describe(&self) -> String;
}

/// The forms [`from_spec`] accepts, for error messages.
const SPEC_FORMS: &str = "stdout, file:PATH, http://HOST[:PORT]/PATH";

/// The sink a spec names: `stdout`, `file:PATH` (appends JSON lines, created if missing) or
/// `http://HOST[:PORT]/PATH` (POSTs each batch as a JSON array, retrying until it is accepted
/// or `cancel` fires). `https://` is refused: TLS is not supported yet.
pub fn from_spec(spec: &str, cancel: CancellationToken) -> Result<Box<dyn Sink>, SinkError> {
    if spec == "stdout" {
        return Ok(Box::new(StdoutSink::new()));
    }
    if let Some(path) = spec.strip_prefix("file:") {
        return Ok(Box::new(FileSink::open(path)?));
    }
    if has_scheme(spec, "http") || has_scheme(spec, "https") {
        return Ok(Box::new(HttpSink::new(spec, cancel)?));
    }
    Err(SinkError::invalid_spec(
        spec,
        format!("unknown sink; expected one of: {SPEC_FORMS}"),
    ))
}

/// `scheme://` at the start of `spec`, the scheme in any case.
fn has_scheme(spec: &str, scheme: &str) -> bool {
    spec.get(..scheme.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
        && spec
            .get(scheme.len()..)
            .is_some_and(|rest| rest.starts_with("://"))
}
