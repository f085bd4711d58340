//! The error of a sink: which sink failed and why, with predicates for the cases callers
//! handle differently (cancelled, closed, an invalid spec).

use std::fmt;
use std::io;

/// A sink could not be created or could not deliver a batch. A batch whose delivery failed is
/// not durable: its WAL position must not be confirmed.
#[derive(Debug)]
pub struct SinkError {
    sink: String,
    kind: Kind,
    message: String,
    io_kind: Option<io::ErrorKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InvalidSpec,
    Io,
    Closed,
    Cancelled,
}

impl SinkError {
    pub(crate) fn invalid_spec(spec: &str, reason: impl Into<String>) -> Self {
        SinkError {
            sink: format!("invalid sink {spec:?}"),
            kind: Kind::InvalidSpec,
            message: reason.into(),
            io_kind: None,
        }
    }

    /// `action` ("cannot open for appending") failed with `error`. A broken pipe means the
    /// reader went away: the error is also [`is_closed`](Self::is_closed).
    pub(crate) fn io(sink: String, action: &str, error: &io::Error) -> Self {
        SinkError {
            sink,
            kind: if error.kind() == io::ErrorKind::BrokenPipe {
                Kind::Closed
            } else {
                Kind::Io
            },
            message: format!("{action}: {error}"),
            io_kind: Some(error.kind()),
        }
    }

    /// The destination went away for good (stdout closed, receiver dropped).
    pub(crate) fn closed(sink: String, reason: impl Into<String>) -> Self {
        SinkError {
            sink,
            kind: Kind::Closed,
            message: reason.into(),
            io_kind: None,
        }
    }

    /// Shutdown began before the batch was accepted.
    pub(crate) fn cancelled(sink: String, detail: &str) -> Self {
        SinkError {
            sink,
            kind: Kind::Cancelled,
            message: format!(
                "cancelled before the batch was accepted{detail}; it is not durable and its WAL \
                 position stays unconfirmed"
            ),
            io_kind: None,
        }
    }

    /// Delivery stopped because the cancellation token fired; nothing is wrong with the sink.
    pub fn is_cancelled(&self) -> bool {
        self.kind == Kind::Cancelled
    }

    /// The destination is gone for good: stdout was closed, the channel's receiver was
    /// dropped, or a delivery was dropped without being acknowledged.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// The sink spec or URL is not valid (or names something not supported); fix the
    /// configuration.
    pub fn is_invalid_spec(&self) -> bool {
        self.kind == Kind::InvalidSpec
    }

    /// The kind of the I/O error behind this one (`NotFound`, `StorageFull`, `BrokenPipe`, …).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.io_kind
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.sink, self.message)
    }
}

impl std::error::Error for SinkError {}
