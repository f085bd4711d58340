//! Framed I/O of one connection: complete server messages out of a read buffer kept across
//! calls (so reading is cancel-safe), and a write buffer drained by `flush` (so a cancelled
//! send resumes on the next one instead of leaving half a message on the wire).

use bytes::{Buf, BytesMut};
use pgkeel_net::Socket;
use pgkeel_wire::{Direction, Frame, Framer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::repl::error::ReplError;

/// Bytes read per call when no large message is pending.
const READ_CHUNK: usize = 64 * 1024;
/// At most this much is reserved ahead for a declared message length, so a hostile length
/// cannot make us allocate a gigabyte before its bytes arrive.
const MAX_RESERVE_STEP: usize = 16 << 20;

/// A connection's socket with its buffers and backend framer.
#[derive(Debug)]
pub(crate) struct Transport {
    socket: Socket,
    read_buf: BytesMut,
    write_buf: BytesMut,
    framer: Framer,
    peer: String,
}

impl Transport {
    pub(crate) fn new(socket: Socket, peer: String, max_message_len: u32) -> Self {
        Transport {
            socket,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::new(),
            framer: Framer::new(Direction::Backend).with_max_message_len(max_message_len),
            peer,
        }
    }

    /// The address (and, once known, the backend pid) for logs and errors.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    pub(crate) fn set_peer(&mut self, peer: String) {
        self.peer = peer;
    }

    /// `what` on this connection, for error contexts.
    pub(crate) fn context(&self, what: &str) -> String {
        format!("{what} ({})", self.peer)
    }

    /// The next complete server message. Cancel-safe: bytes read so far stay in the buffer
    /// and a frame is consumed only when whole.
    pub(crate) async fn read_frame(&mut self, what: &str) -> Result<Frame, ReplError> {
        loop {
            match self.framer.decode(&mut self.read_buf) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(ReplError::protocol(self.context(what), e.to_string())),
            }
            self.reserve_for_next();
            match self.socket.read_buf(&mut self.read_buf).await {
                Ok(0) => return Err(ReplError::closed(self.context(what))),
                Ok(_) => {}
                Err(e) => return Err(ReplError::io(self.context(what), e)),
            }
        }
    }

    fn reserve_for_next(&mut self) {
        let pending = self.read_buf.len();
        let declared = match self.read_buf.get(1..5) {
            Some(len) => {
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                (len as usize).saturating_add(1)
            }
            None => 0,
        };
        let wanted = declared.saturating_sub(pending);
        self.read_buf
            .reserve(wanted.clamp(READ_CHUNK, MAX_RESERVE_STEP));
    }

    /// Appends an encoded message to the write buffer.
    pub(crate) fn queue(&mut self, message: &[u8]) {
        self.write_buf.extend_from_slice(message);
    }

    /// Writes out the write buffer. If cancelled, what is left is written by the next flush.
    pub(crate) async fn flush(&mut self, what: &str) -> Result<(), ReplError> {
        while !self.write_buf.is_empty() {
            match self.socket.write(&self.write_buf).await {
                Ok(0) => return Err(ReplError::closed(self.context(what))),
                Ok(n) => self.write_buf.advance(n),
                Err(e) => return Err(ReplError::io(self.context(what), e)),
            }
        }
        self.socket
            .flush()
            .await
            .map_err(|e| ReplError::io(self.context(what), e))
    }

    /// Queues `message` and flushes.
    pub(crate) async fn send(&mut self, message: &[u8], what: &str) -> Result<(), ReplError> {
        self.queue(message);
        self.flush(what).await
    }

    /// Sends Terminate and closes the socket; errors are ignored (the peer may be gone).
    pub(crate) async fn terminate(mut self) {
        self.queue(&pgkeel_wire::encode::terminate());
        let _ = self.flush("closing").await;
        let _ = self.socket.shutdown().await;
    }
}
