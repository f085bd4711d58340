//! One direction of one connection: read, frame, apply the rules, write. Forwarded messages
//! are written in runs straight from the read buffer, so when no rule is interested in a
//! message type the cost is one read and one write per socket read, with no allocation.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cancel;
use crate::connection::{Connection, Ending};
use crate::inject::{self, ClientSidePlan, Swallow};
use crate::recorder::Record;
use crate::rules::{Action, ConnRuleState, MessageView, RuleSet};
use crate::shared::ProxyShared;
use crate::stats::Stats;
use crate::summary::summarize;
use pgkeel_net::{ReadHalf, WriteHalf};

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

/// What to do with one message.
#[derive(Debug)]
enum Decision {
    Forward,
    Skip,
    Replace(Vec<u8>),
    Stall,
    Delay(Duration),
    Signal(i32),
    CancelAfter(Duration),
    End(Ending),
    Farewell(Vec<u8>),
}

/// Everything a pump needs besides its sockets.
pub(crate) struct PumpContext<'a> {
    pub(crate) conn: &'a Arc<Connection>,
    pub(crate) proxy: &'a Arc<ProxyShared>,
    pub(crate) rule_state: &'a Mutex<ConnRuleState>,
}

pub(crate) struct Pump<'a> {
    direction: Direction,
    reader: &'a mut ReadHalf,
    writer: &'a mut WriteHalf,
    framer: Framer,
    buf: BytesMut,
    ctx: PumpContext<'a>,
    records: Vec<Record>,
    opaque: bool,
    swallow: Swallow,
    injected: u64,
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
            records: Vec::new(),
            opaque,
            swallow: Swallow::Nothing,
            injected: 0,
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
        let recording = self.ctx.proxy.recorder.enabled();
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
                        self.push_records();
                        return Ok(Some(PumpEnd::Ended));
                    }
                }
            };
            messages += 1;
            let frame = FrameRef::new(self.direction, kind, &self.buf[pos..end]);
            let decision = decide(
                &self.ctx,
                &rules,
                frame,
                self.opaque,
                recording,
                &mut self.swallow,
                &mut self.records,
                &mut self.injected,
            );
            match decision {
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
        self.push_records();
        Ok(outcome)
    }

    fn push_records(&mut self) {
        self.ctx.proxy.recorder.push_batch(&mut self.records);
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

/// Decides what happens to one frame: connection bookkeeping, injected-error bookkeeping,
/// swallowing after an injection, then the rules (only when one could be interested).
#[allow(clippy::too_many_arguments)]
fn decide(
    ctx: &PumpContext<'_>,
    rules: &RuleSet,
    frame: FrameRef<'_>,
    opaque: bool,
    recording: bool,
    swallow: &mut Swallow,
    records: &mut Vec<Record>,
    injected: &mut u64,
) -> Decision {
    let direction = frame.direction();
    let tag = frame.tag().unwrap_or(0);
    let conn = ctx.conn;
    if !opaque && direction == Direction::Backend {
        match tag {
            b'K' => {
                if let Ok(key) = frame.backend_key_data() {
                    let mut facts = conn.facts();
                    facts.backend_pid = key.pid().ok();
                    facts.backend_key = key.key().ok().map(<[u8]>::to_vec);
                }
            }
            b'R' => conn.facts().last_auth_request = Some(frame.message_type()),
            b'E' if conn.poison_count.load(std::sync::atomic::Ordering::Acquire) > 0 => {
                if let Some(replacement) = take_poison(conn, &frame) {
                    note(
                        ctx,
                        records,
                        recording,
                        &frame,
                        MessageType::ErrorResponse,
                        None,
                        Some("inject"),
                    );
                    return Decision::Replace(replacement);
                }
            }
            _ => {}
        }
    }
    if direction == Direction::Frontend && *swallow != Swallow::Nothing {
        let swallowed = match *swallow {
            Swallow::UntilSync => tag != b'S',
            Swallow::CopyData => matches!(tag, b'd' | b'c' | b'f'),
            Swallow::Nothing => false,
        };
        if swallowed {
            let ty = frame.message_type();
            note(ctx, records, recording, &frame, ty, None, Some("swallow"));
            return Decision::Skip;
        }
        *swallow = Swallow::Nothing;
    }
    let interested = rules.interested(direction, tag);
    if !interested && !recording {
        return Decision::Forward;
    }
    let ty = if opaque {
        MessageType::Unknown
    } else if direction == Direction::Frontend && tag == b'p' {
        MessageType::PasswordMessage.refine_password(conn.facts().last_auth_request)
    } else {
        frame.message_type()
    };
    let fired = if interested {
        let facts = conn.facts();
        let mut state = ctx.rule_state.lock().unwrap_or_else(|e| e.into_inner());
        let view = MessageView {
            frame,
            ty,
            initial: false,
        };
        rules
            .evaluate(&view, &facts.startup, &mut state)
            .map(|f| (f.rule, f.action.clone(), state.random_fraction()))
    } else {
        None
    };
    let Some((rule, action, random)) = fired else {
        note(ctx, records, recording, &frame, ty, None, None);
        return Decision::Forward;
    };
    ctx.proxy.note_fired();
    note(
        ctx,
        records,
        recording,
        &frame,
        ty,
        Some(rule),
        Some(action.name()),
    );
    tracing::debug!(
        conn = conn.id,
        rule,
        action = action.name(),
        message = ty.name(),
        "rule fired"
    );
    match action {
        Action::Allow | Action::ConnectDelay(_) => Decision::Forward,
        Action::Drop => Decision::Skip,
        Action::Kill | Action::KillAll => Decision::End(Ending::Close),
        Action::Reset => Decision::End(Ending::Reset),
        Action::Stall => Decision::Stall,
        Action::Delay { base, jitter } => Decision::Delay(base + jitter.mul_f64(random)),
        Action::CancelSignal { pid } => Decision::Signal(pid),
        Action::CancelQuery { delay } => Decision::CancelAfter(delay),
        Action::Error(error) if opaque => {
            tracing::warn!(conn = conn.id, code = %error.code, "cannot inject an error into a TLS stream; closing instead");
            Decision::End(Ending::Close)
        }
        Action::Error(error) => match direction {
            Direction::Backend if error.is_fatal() => {
                Decision::Farewell(inject::error_bytes(&error, None))
            }
            Direction::Backend => Decision::Replace(inject::error_bytes(&error, None)),
            Direction::Frontend => {
                *injected += 1;
                match inject::plan_client_side(&error, ty, conn.id, *injected) {
                    ClientSidePlan::Fatal(bytes) => Decision::Farewell(bytes),
                    ClientSidePlan::Poison {
                        to_server,
                        poison,
                        swallow: then,
                    } => {
                        conn.poisons
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(poison);
                        conn.poison_count
                            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        *swallow = then;
                        Decision::Replace(to_server)
                    }
                }
            }
        },
    }
}

/// If `frame` is the server's answer to a poisoned request, the error to send instead.
fn take_poison(conn: &Connection, frame: &FrameRef<'_>) -> Option<Vec<u8>> {
    let message = frame.error_fields().ok()?.message().ok()??;
    let mut poisons = conn.poisons.lock().unwrap_or_else(|e| e.into_inner());
    let index = poisons
        .iter()
        .position(|p| memchr::memmem::find(message, p.marker.as_bytes()).is_some())?;
    let poison = poisons.remove(index);
    conn.poison_count
        .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    Some(poison.replacement)
}

fn note(
    ctx: &PumpContext<'_>,
    records: &mut Vec<Record>,
    recording: bool,
    frame: &FrameRef<'_>,
    ty: MessageType,
    rule: Option<usize>,
    action: Option<&'static str>,
) {
    if !recording {
        return;
    }
    records.push(Record {
        seq: 0,
        conn: ctx.conn.id,
        at_us: ctx.proxy.recorder.now_us(),
        from: frame.direction(),
        message: ty,
        len: frame.len() as u32,
        summary: if ty == MessageType::Unknown && frame.tag() == Some(0) {
            "TLS data".to_owned()
        } else {
            summarize(frame, ty)
        },
        initial: false,
        rule,
        action,
    });
}
