//! Metric names of sessions, transactions, work and the reaper (the `metrics` facade; the
//! binary exports Prometheus), and the small helpers that bump them.

use ::metrics::counter;

/// Sessions started, by component.
pub const SESSIONS_STARTED: &str = "pgkeel_work_sessions_started_total";
/// Sessions that expired locally (or were closed), by component and reason.
pub const SESSIONS_EXPIRED: &str = "pgkeel_work_sessions_expired_total";
/// Heartbeat renewals that failed and were retried, by component.
pub const HEARTBEAT_FAILURES: &str = "pgkeel_work_heartbeat_failures_total";
/// Transactions committed.
pub const TRANSACTIONS_COMMITTED: &str = "pgkeel_work_transactions_committed_total";
/// Transaction attempts retried after a serialization failure or deadlock.
pub const TRANSACTIONS_RETRIED: &str = "pgkeel_work_transactions_retried_total";
/// Transactions that failed (after their retries), by reason.
pub const TRANSACTIONS_FAILED: &str = "pgkeel_work_transactions_failed_total";
/// Work started, by process.
pub const WORK_STARTED: &str = "pgkeel_work_work_started_total";
/// Work ended, by process and result: finished, failed, canceled, rejected (not the owner).
pub const WORK_ENDED: &str = "pgkeel_work_work_ended_total";
/// Sessions deleted by the reaper.
pub const REAPED_SESSIONS: &str = "pgkeel_work_reaped_sessions_total";
/// Work rows released by the reaper.
pub const REAPED_WORK: &str = "pgkeel_work_reaped_work_total";
/// Running jobs set back to available by the reaper.
pub const REAPED_JOBS: &str = "pgkeel_work_reaped_jobs_total";
/// History rows pruned.
pub const HISTORY_PRUNED: &str = "pgkeel_work_history_pruned_total";

pub(crate) fn work_ended(process: &str, result: &'static str) {
    counter!(WORK_ENDED, "process" => process.to_owned(), "result" => result).increment(1);
}

pub(crate) fn transaction_failed(reason: &'static str) {
    counter!(TRANSACTIONS_FAILED, "reason" => reason).increment(1);
}
