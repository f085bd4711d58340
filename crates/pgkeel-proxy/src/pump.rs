//! One direction of one connection: read, frame, ask the judge, write. Forwarded messages
//! are written in runs straight from the read buffer, so when no rule is interested in a
//! message type the cost is one read and one write per socket read, with no allocation.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use pgkeel_net::{ReadHalf, WriteHalf};

use crate::cancel;
use crate::connection::Ending;
pub(crate) use crate::judge::PumpContext;
use crate::judge::{Decision, Judge};
use crate::stats::Stats;

/// Read buffer size; also the amount reserved when the buffer runs full.
const READ_CHUNK: usize = 64 * 1024;
/// While stalled, keep reading (to notice a closed peer) until this much is held.
const HOLD_LIMIT: usize = 4 * 1024 * 1024;
/// Citus's cancel(pid) waits this long after signalling before forwarding.
const SIGNAL_GRACE: Duration = Duration::from_millis(100);

/// Why a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PumpEnd {
    /// The sender closed its side (we shut down the receiver's side in turn).
    Eof,
    /// A rule or the control API ended the connection.
    Ended,
}

pub(crate) struct Pump<'a> {
    direction: Direction,
    reader: &'a mut ReadHalf,
    writer: &'a mut WriteHalf,
    framer: Framer,
    buf: BytesMut,
    ctx: PumpContext<'a>,
    opaque: bool,
    judge: Judge<'a>,
}

impl<'a> Pump<'a> {
    pub(crate) fn new(
        direction: Direction,
        reader: &'a mut ReadHalf,
        writer: &'a mut WriteHalf,
        leftover: BytesMut,
        opaque: bool,
        ctx: PumpContext<'a>,
    ) -> Self {
        let mut framer = Framer::new(direction).with_max_message_len(ctx.proxy.max_message_len);
        // The startup exchange is done; from here on every message is tagged.
        framer.expect_tagged();
        let mut buf = BytesMut::with_capacity(READ_CHUNK.max(leftover.len()));
        buf.extend_from_slice(&leftover);
        Pump {
            direction,
            reader,
            writer,
            framer,
            buf,
            ctx,
            opaque,
            judge: Judge::new(ctx, direction, opaque),
        }
    }

    /// Forwards until the sender closes or the connection is ended.
    pub(crate) async fn run(mut self) -> io::Result<PumpEnd> {
        loop {
            if !self.buf.is_empty()
                && let Some(end) = self.process().await?
            {
                return Ok(end);
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            let n = self.reader.read_buf(&mut self.buf).await?;
            if n == 0 {
                // Pass on whatever partial data remains, then the close.
                if !self.buf.is_empty() {
                    self.writer.write_all(&self.buf).await?;
                }
                let _ = self.writer.shutdown().await;
                return Ok(PumpEnd::Eof);
            }
            self.count_bytes(n as u64);
        }
    }

    fn count_bytes(&self, n: u64) {
        let (conn_counter, proxy_counter) = match self.direction {
            Direction::Frontend => (
                &self.ctx.conn.bytes_from_client,
                &self.ctx.proxy.stats.bytes_from_client,
            ),
            Direction::Backend => (
                &self.ctx.conn.bytes_from_server,
                &self.ctx.proxy.stats.bytes_from_server,
            ),
        };
        Stats::add(conn_counter, n);
        Stats::add(proxy_counter, n);
    }

    /// Handles every complete frame in the buffer. Returns `Some` when the pump must stop.
    async fn process(&mut self) -> io::Result<Option<PumpEnd>> {
        let mut rules = self.ctx.proxy.rules.load_full();
        self.judge.begin_batch();
        let mut pos = 0;
        let mut region = 0;
        let mut messages = 0u64;
        let outcome = loop {
            if self.ctx.conn.is_stalled(rules.version()) {
                flush(self.writer, &self.buf[region..pos]).await?;
                self.buf.advance(pos);
                (pos, region) = (0, 0);
                if self.wait_while_stalled().await? {
                    break Some(PumpEnd::Eof);
                }
                rules = self.ctx.proxy.rules.load_full();
                continue;
            }
            let (kind, end) = if self.opaque {
                if pos == self.buf.len() {
                    break None;
                }
                (FrameKind::Tagged(0), self.buf.len())
            } else {
                match self.framer.next_frame(&self.buf[pos..]) {
                    Ok(Some(header)) => (header.kind, pos + header.len),
                    Ok(None) => break None,
                    Err(e) => {
                        flush(self.writer, &self.buf[region..pos]).await?;
                        self.buf.advance(pos);
                        tracing::warn!(
                            conn = self.ctx.conn.id,
                            from = self.direction.sender(),
                            error = %e,
                            "closing the connection: malformed protocol data"
                        );
                        Stats::add(&self.ctx.proxy.stats.malformed, 1);
                        self.ctx.conn.end(Ending::Close);
                        self.judge.end_batch();
                        return Ok(Some(PumpEnd::Ended));
                    }
                }
            };
            messages += 1;
            let frame = FrameRef::new(self.direction, kind, &self.buf[pos..end]);
            match self.judge.decide(&rules, frame) {
                Decision::Forward => pos = end,
                Decision::Skip => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    (pos, region) = (end, end);
                }
                Decision::Replace(bytes) => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    self.writer.write_all(&bytes).await?;
                    (pos, region) = (end, end);
                }
                Decision::Stall => {
                    self.ctx
                        .conn
                        .stalled_version
                        .store(rules.version(), std::sync::atomic::Ordering::Release);
                    tracing::info!(conn = self.ctx.conn.id, "stalled until the rules change");
                }
                Decision::Delay(wait) => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    region = pos;
                    tokio::time::sleep(wait).await;
                    pos = end;
                }
                Decision::Signal(pid) => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    region = pos;
                    cancel::signal(pid);
                    tokio::time::sleep(SIGNAL_GRACE).await;
                    pos = end;
                }
                Decision::CancelAfter(delay) => {
                    flush(self.writer, &self.buf[region..end]).await?;
                    (pos, region) = (end, end);
                    cancel::spawn_protocol_cancel(self.ctx.proxy, self.ctx.conn, delay);
                }
                Decision::End(how) => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    self.ctx.conn.end(how);
                    break Some(PumpEnd::Ended);
                }
                Decision::Farewell(bytes) => {
                    flush(self.writer, &self.buf[region..pos]).await?;
                    if self.direction == Direction::Backend {
                        self.writer.write_all(&bytes).await?;
                        self.ctx.conn.end(Ending::Close);
                    } else {
                        self.ctx.conn.end_with_farewell(bytes);
                    }
                    break Some(PumpEnd::Ended);
                }
            }
        };
        if outcome.is_none() {
            flush(self.writer, &self.buf[region..pos]).await?;
            self.buf.advance(pos);
        }
        let counter = match self.direction {
            Direction::Frontend => &self.ctx.proxy.stats.messages_from_client,
            Direction::Backend => &self.ctx.proxy.stats.messages_from_server,
        };
        Stats::add(counter, messages);
        self.judge.end_batch();
        Ok(outcome)
    }

    /// Holds the stream until the rules change; keeps reading (up to a limit) so a peer that
    /// goes away is noticed. Returns true if the sender closed meanwhile.
    async fn wait_while_stalled(&mut self) -> io::Result<bool> {
        let mut changes = self.ctx.proxy.rules_changes();
        loop {
            let version = self.ctx.proxy.rules.load().version();
            if !self.ctx.conn.is_stalled(version) {
                return Ok(false);
            }
            let room = self.buf.len() < HOLD_LIMIT;
            if room && self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(true);
                    }
                }
                read = self.reader.read_buf(&mut self.buf), if room => {
                    let n = read?;
                    if n == 0 {
                        return Ok(true);
                    }
                    self.count_bytes(n as u64);
                }
            }
        }
    }
}

async fn flush(writer: &mut WriteHalf, bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    writer.write_all(bytes).await
}
