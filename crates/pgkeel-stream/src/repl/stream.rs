//! START_REPLICATION ... LOGICAL and the `ReplicationStream` it opens: cancel-safe `recv` of
//! XLogData and keepalives, status updates carrying the client's write/flush/apply positions,
//! and a graceful end (CopyDone, then drain until the server is ready again).

use std::time::{Duration, SystemTime};

use pgkeel_wire::encode;
use pgkeel_wire::sql::{quote_ident, quote_literal};

use crate::lsn::Lsn;
use crate::repl::connection::{ReplicationConnection, server_error, tag_name};
use crate::repl::db_error::log_notice;
use crate::repl::error::ReplError;
use crate::repl::feedback::Feedback;
use crate::repl::message::ReplicationMessage;
use crate::repl::quote::{check_no_nul, check_slot_name};
use crate::repl::transport::Transport;

impl ReplicationConnection {
    /// START_REPLICATION SLOT `slot` LOGICAL `start` (`"name" 'value'`, ...): streams the
    /// slot's changes from `start` (`0/0`, or anything below the slot's confirmed position,
    /// means "from where the slot stands"). For pgoutput pass e.g. `("proto_version", "1")`
    /// and `("publication_names", publication_names(&["pub"]))`; names and values are quoted
    /// here. A missing slot fails with 42704 (fatal), a slot in use with 55006 (transient).
    pub async fn start_logical(
        mut self,
        slot: &str,
        start: Lsn,
        options: &[(String, String)],
    ) -> Result<ReplicationStream, ReplError> {
        check_slot_name(slot)?;
        let mut sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {start}",
            quote_ident(slot)
        );
        if !options.is_empty() {
            let mut list = Vec::with_capacity(options.len());
            for (name, value) in options {
                if name.is_empty() {
                    return Err(ReplError::invalid("a plugin option has an empty name"));
                }
                check_no_nul("a plugin option", name)?;
                check_no_nul("a plugin option's value", value)?;
                list.push(format!("{} {}", quote_ident(name), quote_literal(value)));
            }
            sql.push_str(&format!(" ({})", list.join(", ")));
        }
        let what = format!("START_REPLICATION of slot {slot:?}");
        let message =
            encode::query(&sql).map_err(|e| ReplError::invalid(format!("{what}: {e}")))?;
        self.begin(&what)?;
        self.transport.send(&message, &what).await?;
        let mut error = None;
        loop {
            let frame = match self.transport.read_frame(&what).await {
                Ok(frame) => frame,
                Err(e) => return Err(error.unwrap_or(e)),
            };
            let frame = frame.as_ref();
            match frame.tag() {
                Some(b'W') => break,
                Some(b'E') => {
                    let e = server_error(&self.transport, &what, frame);
                    error.get_or_insert(e);
                }
                Some(b'N') => log_notice(self.transport.peer(), frame),
                Some(b'S') => self.record_parameter(frame),
                Some(b'Z') => {
                    return Err(error.unwrap_or_else(|| {
                        ReplError::protocol(
                            self.transport.context(&what),
                            "ReadyForQuery instead of CopyBothResponse",
                        )
                    }));
                }
                other => {
                    return Err(ReplError::protocol(
                        self.transport.context(&what),
                        format!("unexpected message {}", tag_name(other)),
                    ));
                }
            }
        }
        tracing::info!(conn = self.transport.peer(), slot, %start, "replication started");
        Ok(ReplicationStream {
            what: format!("replication stream of slot {slot:?}"),
            slot: slot.to_owned(),
            backend_pid: self.backend_pid(),
            timeout: self.timeout,
            transport: self.transport,
            feedback: Feedback::default(),
        })
    }
}

/// A logical replication stream in progress.
#[derive(Debug)]
pub struct ReplicationStream {
    transport: Transport,
    feedback: Feedback,
    slot: String,
    what: String,
    backend_pid: Option<i32>,
    timeout: Duration,
}

impl ReplicationStream {
    /// The next XLogData or keepalive. Cancel-safe (a partly received message stays buffered).
    /// A server error, the server's CopyDone or a lost connection is an error (see
    /// [`ReplError::is_transient`]); after one, drop the stream and reconnect.
    pub async fn recv(&mut self) -> Result<ReplicationMessage, ReplError> {
        loop {
            let frame = self.transport.read_frame(&self.what).await?;
            match frame.as_ref().tag() {
                Some(b'd') => {
                    let header = frame.kind().header_len();
                    let bytes = frame.into_bytes();
                    let body = bytes.slice(header.min(bytes.len())..);
                    return ReplicationMessage::parse(body)
                        .map_err(|reason| ReplError::protocol(self.context(), reason));
                }
                Some(b'N') => log_notice(self.transport.peer(), frame.as_ref()),
                Some(b'S') => {}
                Some(b'E') => {
                    return Err(server_error(&self.transport, &self.what, frame.as_ref()));
                }
                // CopyDone; or, from a walsender that is shutting down, CommandComplete
                // ("COPY 0") without a CopyDone first (PostgreSQL's WalSndDone).
                Some(b'c' | b'C') => return Err(ReplError::stream_ended(self.context())),
                other => {
                    return Err(ReplError::protocol(
                        self.context(),
                        format!("unexpected message {} while streaming", tag_name(other)),
                    ));
                }
            }
        }
    }

    fn context(&self) -> String {
        self.transport.context(&self.what)
    }

    /// The positions the next status update reports (read-only: move them with `advance_*`).
    pub fn feedback(&self) -> &Feedback {
        &self.feedback
    }

    /// Received up to `lsn` (ignored if lower than before).
    pub fn advance_write(&mut self, lsn: Lsn) {
        self.feedback.advance_write(lsn);
    }

    /// Durable up to `lsn`: the server may discard WAL and will not resend changes before it
    /// (ignored if lower than before).
    pub fn advance_flush(&mut self, lsn: Lsn) {
        self.feedback.advance_flush(lsn);
    }

    /// Applied up to `lsn` (ignored if lower than before).
    pub fn advance_apply(&mut self, lsn: Lsn) {
        self.feedback.advance_apply(lsn);
    }

    /// Sends a status update with the current positions (answer a keepalive that requests a
    /// reply, and send one periodically, well within `wal_sender_timeout`). If cancelled, the
    /// unsent rest goes out with the next update.
    pub async fn send_status(&mut self, reply_requested: bool) -> Result<(), ReplError> {
        let body = self.feedback.encode(SystemTime::now(), reply_requested);
        let message = encode::tagged(b'd', &body)
            .map_err(|e| ReplError::invalid(format!("status update: {e}")))?;
        self.transport.send(&message, &self.what).await?;
        tracing::trace!(
            conn = self.transport.peer(),
            write = %self.feedback.write,
            flush = %self.feedback.flush,
            apply = %self.feedback.apply,
            "status update sent"
        );
        Ok(())
    }

    /// The slot being streamed.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    /// The pid of the walsender serving this stream.
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_pid
    }

    /// Ends the stream gracefully: a last status update with the current positions, CopyDone,
    /// then reads (and drops) what the server still sends until it is ready again, and closes
    /// the connection. Bounded by the connect timeout.
    pub async fn finish(mut self) -> Result<(), ReplError> {
        let what = "ending the replication stream";
        let context = self.transport.context(what);
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, self.end_copy(what))
            .await
            .unwrap_or_else(|_| Err(ReplError::timeout(context, timeout)));
        let _ = tokio::time::timeout(timeout, self.transport.terminate()).await;
        if result.is_ok() {
            tracing::info!(slot = %self.slot, flush = %self.feedback.flush, "replication stream ended");
        }
        result
    }

    async fn end_copy(&mut self, what: &str) -> Result<(), ReplError> {
        self.send_status(false).await?;
        let done = encode::tagged(b'c', &[]).map_err(|e| ReplError::invalid(e.to_string()))?;
        self.transport.send(&done, what).await?;
        loop {
            let frame = self.transport.read_frame(what).await?;
            let frame = frame.as_ref();
            match frame.tag() {
                Some(b'd' | b'c' | b'C' | b'S') => {}
                Some(b'N') => log_notice(self.transport.peer(), frame),
                Some(b'E') => return Err(server_error(&self.transport, what, frame)),
                Some(b'Z') => return Ok(()),
                other => {
                    return Err(ReplError::protocol(
                        self.transport.context(what),
                        format!("unexpected message {} after CopyDone", tag_name(other)),
                    ));
                }
            }
        }
    }
}
