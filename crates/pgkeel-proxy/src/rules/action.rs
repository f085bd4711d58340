//! What a rule does to the message (and connection) it matched.

use std::time::Duration;

/// An error the proxy injects in place of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedError {
    /// `ERROR`, `FATAL` or `PANIC`.
    pub severity: String,
    /// The SQLSTATE, e.g. `40001`.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// Optional detail.
    pub detail: Option<String>,
    /// Optional hint.
    pub hint: Option<String>,
}

impl InjectedError {
    /// True for FATAL and PANIC: the connection closes after the error.
    pub fn is_fatal(&self) -> bool {
        self.severity != "ERROR"
    }
}

/// The action at the end of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward the message unchanged.
    Allow,
    /// Close both sides without forwarding the message.
    Kill,
    /// Close both sides with a TCP RST.
    Reset,
    /// Kill this connection and every message of every connection until the rules change.
    KillAll,
    /// Stop forwarding both ways, keeping the sockets open, until the rules change.
    Stall,
    /// Swallow the message.
    Drop,
    /// Send SIGINT to a local process, wait 100 ms, then forward (Citus's `cancel(pid)`).
    CancelSignal {
        /// The process to signal.
        pid: i32,
    },
    /// Forward, then after `delay` send a protocol CancelRequest for this connection's backend.
    CancelQuery {
        /// Wait between forwarding the message and cancelling.
        delay: Duration,
    },
    /// Hold the connection's first packet for this long.
    ConnectDelay(Duration),
    /// Hold the message (and those after it in the same direction) for `base` plus up to
    /// `jitter`.
    Delay {
        /// Fixed delay.
        base: Duration,
        /// Extra random delay, up to this.
        jitter: Duration,
    },
    /// Answer with an ErrorResponse instead of forwarding.
    Error(InjectedError),
}

impl Action {
    /// The action's name as written in rules.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Kill => "kill",
            Action::Reset => "reset",
            Action::KillAll => "killall",
            Action::Stall => "stall",
            Action::Drop => "drop",
            Action::CancelSignal { .. } | Action::CancelQuery { .. } => "cancel",
            Action::ConnectDelay(_) => "connect_delay",
            Action::Delay { .. } => "delay",
            Action::Error(_) => "error",
        }
    }
}
