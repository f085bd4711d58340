//! What happens to one message of one direction: the per-direction state of a pump (swallowing
//! after an injection, injected errors, the recording batch) and one method per step — learn
//! connection facts, replace the answer to an injected error, swallow, classify, evaluate the
//! rules, record, turn the fired action into a decision.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pgkeel_wire::{Direction, FrameRef, MessageType};

use crate::connection::{Connection, Ending};
use crate::inject::{self, ClientSidePlan, Swallow};
use crate::recorder::Record;
use crate::rules::{Action, ConnRuleState, InjectedError, MessageView, RuleSet};
use crate::shared::ProxyShared;

/// What to do with one message.
#[derive(Debug)]
pub(crate) enum Decision {
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

/// Everything a pump shares with its connection and its proxy.
#[derive(Clone, Copy)]
pub(crate) struct PumpContext<'a> {
    pub(crate) conn: &'a Arc<Connection>,
    pub(crate) proxy: &'a Arc<ProxyShared>,
    pub(crate) rule_state: &'a Mutex<ConnRuleState>,
}

/// A rule that fired on a message: its index, its action, a random fraction for jitter.
struct Fired {
    rule: usize,
    action: Action,
    random: f64,
}

/// The decision state of one direction of one connection.
pub(crate) struct Judge<'a> {
    ctx: PumpContext<'a>,
    direction: Direction,
    /// TLS passed through: the bytes are not messages.
    opaque: bool,
    /// Client messages to drop after an injected error (until Sync, or the rest of a COPY).
    swallow: Swallow,
    /// Errors injected on client messages so far (numbers their markers).
    injected: u64,
    /// Recorded messages waiting to be pushed to the recorder in one batch.
    records: Vec<Record>,
    /// The recorder is on (read once per batch of messages).
    recording: bool,
}

impl<'a> Judge<'a> {
    pub(crate) fn new(ctx: PumpContext<'a>, direction: Direction, opaque: bool) -> Self {
        Judge {
            ctx,
            direction,
            opaque,
            swallow: Swallow::Nothing,
            injected: 0,
            records: Vec::new(),
            recording: false,
        }
    }

    /// Starts a batch of messages (one socket read): notes whether the recorder is on.
    pub(crate) fn begin_batch(&mut self) {
        self.recording = self.ctx.proxy.recorder.enabled();
    }

    /// Hands the batch's records to the recorder.
    pub(crate) fn end_batch(&mut self) {
        self.ctx.proxy.recorder.push_batch(&mut self.records);
    }

    /// Decides what happens to `frame`. Messages no rule is interested in take the first few
    /// checks only (one table lookup when nothing is recorded).
    #[inline]
    pub(crate) fn decide(&mut self, rules: &RuleSet, frame: FrameRef<'_>) -> Decision {
        let tag = frame.tag().unwrap_or(0);
        if !self.opaque && self.direction == Direction::Backend {
            self.learn_facts(tag, &frame);
            if let Some(replacement) = self.injected_error_answer(tag, &frame) {
                self.record(&frame, MessageType::ErrorResponse, None, Some("inject"));
                return Decision::Replace(replacement);
            }
        }
        if self.swallows(tag) {
            self.record(&frame, frame.message_type(), None, Some("swallow"));
            return Decision::Skip;
        }
        let interested = rules.interested(self.direction, tag);
        if !interested && !self.recording {
            return Decision::Forward;
        }
        let ty = self.classify(tag, &frame);
        let fired = if interested {
            self.evaluate(rules, frame, ty)
        } else {
            None
        };
        let Some(fired) = fired else {
            self.record(&frame, ty, None, None);
            return Decision::Forward;
        };
        self.ctx.proxy.note_fired();
        self.record(&frame, ty, Some(fired.rule), Some(fired.action.name()));
        tracing::debug!(
            conn = self.ctx.conn.id,
            rule = fired.rule,
            action = fired.action.name(),
            message = ty.name(),
            "rule fired"
        );
        self.act(fired, ty)
    }

    /// Server messages that tell the proxy about the connection: BackendKeyData (for
    /// `cancel()`), the last authentication request (to name the client's password message).
    fn learn_facts(&self, tag: u8, frame: &FrameRef<'_>) {
        match tag {
            b'K' => {
                if let Ok(key) = frame.backend_key_data() {
                    let mut facts = self.ctx.conn.facts();
                    facts.backend_pid = key.pid().ok();
                    facts.backend_key = key.key().ok().map(<[u8]>::to_vec);
                }
            }
            b'R' => self.ctx.conn.facts().last_auth_request = Some(frame.message_type()),
            _ => {}
        }
    }

    /// If `frame` is the server's ErrorResponse to a request we poisoned (an error injected on
    /// a client message), the error the client gets instead.
    fn injected_error_answer(&self, tag: u8, frame: &FrameRef<'_>) -> Option<Vec<u8>> {
        let conn = self.ctx.conn;
        if tag != b'E' || conn.poison_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let message = frame.error_fields().ok()?.message().ok()??;
        let mut poisons = conn.poisons.lock().unwrap_or_else(|e| e.into_inner());
        let index = poisons
            .iter()
            .position(|p| memchr::memmem::find(message, p.marker.as_bytes()).is_some())?;
        let poison = poisons.remove(index);
        conn.poison_count.fetch_sub(1, Ordering::AcqRel);
        Some(poison.replacement)
    }

    /// True if this client message belongs to a request an injected error already answered.
    /// The first message past the swallowed ones ends swallowing.
    fn swallows(&mut self, tag: u8) -> bool {
        if self.direction != Direction::Frontend || self.swallow == Swallow::Nothing {
            return false;
        }
        let swallowed = match self.swallow {
            Swallow::UntilSync => tag != b'S',
            Swallow::CopyData => matches!(tag, b'd' | b'c' | b'f'),
            Swallow::Nothing => false,
        };
        if !swallowed {
            self.swallow = Swallow::Nothing;
        }
        swallowed
    }

    /// The message type rules and the recording see: `p` is named by the authentication
    /// request it answers; TLS bytes are `Unknown`.
    fn classify(&self, tag: u8, frame: &FrameRef<'_>) -> MessageType {
        if self.opaque {
            MessageType::Unknown
        } else if self.direction == Direction::Frontend && tag == b'p' {
            MessageType::PasswordMessage.refine_password(self.ctx.conn.facts().last_auth_request)
        } else {
            frame.message_type()
        }
    }

    /// The first rule that fires on the message, if any.
    fn evaluate(&self, rules: &RuleSet, frame: FrameRef<'_>, ty: MessageType) -> Option<Fired> {
        let facts = self.ctx.conn.facts();
        let mut state = self
            .ctx
            .rule_state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let view = MessageView {
            frame,
            ty,
            initial: false,
        };
        rules
            .evaluate(&view, &facts.startup, &mut state)
            .map(|f| Fired {
                rule: f.rule,
                action: f.action.clone(),
                random: state.random_fraction(),
            })
    }

    fn record(
        &mut self,
        frame: &FrameRef<'_>,
        ty: MessageType,
        rule: Option<usize>,
        action: Option<&'static str>,
    ) {
        if self.recording {
            let record = Record::of_frame(&self.ctx.proxy.recorder, self.ctx.conn.id, frame, ty)
                .fired(rule, action);
            self.records.push(record);
        }
    }

    /// The decision for a fired rule's action.
    fn act(&mut self, fired: Fired, ty: MessageType) -> Decision {
        match fired.action {
            Action::Allow | Action::ConnectDelay(_) => Decision::Forward,
            Action::Drop => Decision::Skip,
            Action::Kill | Action::KillAll => Decision::End(Ending::Close),
            Action::Reset => Decision::End(Ending::Reset),
            Action::Stall => Decision::Stall,
            Action::Delay { base, jitter } => Decision::Delay(base + jitter.mul_f64(fired.random)),
            Action::CancelSignal { pid } => Decision::Signal(pid),
            Action::CancelQuery { delay } => Decision::CancelAfter(delay),
            Action::Error(error) if self.opaque => {
                tracing::warn!(conn = self.ctx.conn.id, code = %error.code, "cannot inject an error into a TLS stream; closing instead");
                Decision::End(Ending::Close)
            }
            Action::Error(error) => match self.direction {
                Direction::Backend if error.is_fatal() => {
                    Decision::Farewell(inject::error_bytes(&error, None))
                }
                Direction::Backend => Decision::Replace(inject::error_bytes(&error, None)),
                Direction::Frontend => self.inject_on_client_message(&error, ty),
            },
        }
    }

    /// An error injected on a client message: fatal ones end the connection; others go to the
    /// server as a poisoned request whose answer is replaced, and the rest of the request is
    /// swallowed.
    fn inject_on_client_message(&mut self, error: &InjectedError, ty: MessageType) -> Decision {
        self.injected += 1;
        let conn = self.ctx.conn;
        match inject::plan_client_side(error, ty, conn.id, self.injected) {
            ClientSidePlan::Fatal(bytes) => Decision::Farewell(bytes),
            ClientSidePlan::Poison {
                to_server,
                poison,
                swallow,
            } => {
                conn.poisons
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(poison);
                conn.poison_count.fetch_add(1, Ordering::AcqRel);
                self.swallow = swallow;
                Decision::Replace(to_server)
            }
        }
    }
}
