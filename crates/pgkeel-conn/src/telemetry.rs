//! Metric names of the recovering pool (the `metrics` facade; the binary exports Prometheus).

/// Recoveries completed (Ready again after a loss).
pub const RECOVERIES: &str = "pgkeel_conn_recoveries_total";
/// Seconds from noticing a loss to Ready again.
pub const RECOVERY_SECONDS: &str = "pgkeel_conn_recovery_seconds";
/// Losses noticed.
pub const LOSSES: &str = "pgkeel_conn_losses_total";
/// Failed connection attempts while starting or recovering.
pub const ATTEMPT_FAILURES: &str = "pgkeel_conn_attempt_failures_total";
/// Reconnect hooks that failed, by hook.
pub const HOOK_FAILURES: &str = "pgkeel_conn_hook_failures_total";
/// Connections discarded, by reason.
pub const DISCARDS: &str = "pgkeel_conn_discards_total";
/// Connections open.
pub const POOL_SIZE: &str = "pgkeel_conn_pool_size";
/// Connections handed out.
pub const POOL_IN_USE: &str = "pgkeel_conn_pool_in_use";
/// Callers waiting for a connection.
pub const POOL_WAITING: &str = "pgkeel_conn_pool_waiting";
/// Health: 0 starting, 1 ready, 2 recovering, 3 fatal.
pub const HEALTH: &str = "pgkeel_conn_health";
/// Supervisor rounds that were asked for (signals and kicks), to show one worker handles many.
pub const SIGNALS: &str = "pgkeel_conn_recovery_requests_total";

pub(crate) fn discard(pool: &str, reason: &'static str) {
    ::metrics::counter!(DISCARDS, "pool" => pool.to_owned(), "reason" => reason).increment(1);
}
