//! Metric names of the change stream (Prometheus text on the metrics listener).

/// Events the sink holds durably (counter).
pub(crate) const EVENTS: &str = "pgkeel_stream_events_total";
/// Events left out because the sink already held them (counter).
pub(crate) const SKIPPED: &str = "pgkeel_stream_events_skipped_total";
/// Transactions delivered, including empty ones (counter).
pub(crate) const TRANSACTIONS: &str = "pgkeel_stream_transactions_total";
/// Failed sink deliveries, each retried (counter).
pub(crate) const SINK_FAILURES: &str = "pgkeel_stream_sink_failures_total";
/// Replication connections lost and re-established (counter).
pub(crate) const RECONNECTS: &str = "pgkeel_stream_reconnects_total";
/// Bytes of WAL between the server's position and the confirmed position (gauge).
pub(crate) const LAG_BYTES: &str = "pgkeel_stream_lag_bytes";
/// The confirmed (flushed) LSN as a number (gauge).
pub(crate) const CONFIRMED_LSN: &str = "pgkeel_stream_confirmed_lsn";
/// 1 while a replication connection streams, else 0 (gauge).
pub(crate) const CONNECTED: &str = "pgkeel_stream_connected";
/// Seconds from a transaction's commit to the sink holding it (histogram).
pub(crate) const COMMIT_TO_SINK: &str = "pgkeel_stream_commit_to_sink_seconds";
/// The slot's lag as the server sees it: current WAL − `confirmed_flush_lsn` (gauge).
pub(crate) const SLOT_LAG_BYTES: &str = "pgkeel_stream_slot_lag_bytes";
/// WAL the server keeps for the slot, from its `restart_lsn` (gauge).
pub(crate) const SLOT_RETAINED_BYTES: &str = "pgkeel_stream_slot_retained_wal_bytes";
/// `safe_wal_size` of the slot: WAL that can still be written before it is in danger (gauge).
pub(crate) const SLOT_SAFE_WAL_BYTES: &str = "pgkeel_stream_slot_safe_wal_bytes";
/// 1 when the slot's `wal_status` is `unreserved` or `lost`, else 0 (gauge).
pub(crate) const SLOT_WAL_UNRESERVED: &str = "pgkeel_stream_slot_wal_unreserved";
