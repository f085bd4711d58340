//! Requests from a listener's handle to its task: listen to, or stop listening to, a channel at
//! run time.

use tokio::sync::oneshot;

use crate::error::Error;

/// LISTEN or UNLISTEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Listen,
    Unlisten,
}

impl Op {
    pub(super) fn sql(self) -> &'static str {
        match self {
            Op::Listen => "LISTEN",
            Op::Unlisten => "UNLISTEN",
        }
    }
}

/// One request and where its answer goes.
#[derive(Debug)]
pub(super) struct Command {
    pub(super) op: Op,
    pub(super) channel: String,
    pub(super) reply: oneshot::Sender<Result<(), Error>>,
}

impl Command {
    /// Answers the caller (who may have given up waiting).
    pub(super) fn answer(self, result: Result<(), Error>) {
        let _ = self.reply.send(result);
    }
}
