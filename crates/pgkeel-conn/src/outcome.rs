//! What a caller asks for (`Wait`) and what it gets back (`Outcome`).

use std::time::Duration;

/// Whether a caller waits for the database when it is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once if the pool is not ready.
    No,
    /// Wait up to this long in total for recovery (and, for idempotent operations, for retries).
    UpTo(Duration),
}

/// A successful operation, and what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    /// What the operation returned.
    pub value: T,
    /// True when the call met a broken connection or an unavailable database and succeeded
    /// after the pool recovered (it waited, retried, or replaced a dead connection).
    pub recovered: bool,
    /// The pool epoch the operation succeeded in (it grows by one per recovery).
    pub epoch: u64,
    /// Time from the call to the result.
    pub waited: Duration,
    /// How many times the operation was started (1 unless retried after a loss).
    pub attempts: u32,
}
