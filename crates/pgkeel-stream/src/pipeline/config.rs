//! Settings of a change stream: where to connect, what to stream, how to deliver.

use std::time::Duration;

use pgkeel_conn::Backoff;
use pgkeel_net::Database;

use crate::error::Error;
use crate::setup::{Spec, Tables};

/// The default lag above which a running stream warns: 1 GiB of WAL kept for the slot.
pub const DEFAULT_LAG_WARNING_BYTES: u64 = 1 << 30;

/// Everything `Stream::run` needs.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The database: where, as whom, connect timeout, keepalives, application_name (the
    /// setup and heartbeat connections and the replication client all connect with it).
    pub database: Database,
    /// Publication, slot, tables, create.
    pub spec: Spec,
    /// pgoutput protocol version; `None` picks the highest this server and these options
    /// need (2 on PostgreSQL 14+, 3 with two-phase, 1 before 14).
    pub proto_version: Option<u32>,
    /// Let the server stream large in-progress transactions (protocol ≥ 2); they are
    /// buffered here until they commit.
    pub streaming: bool,
    /// How often a standby status update is sent even when nothing happens (well inside the
    /// server's `wal_sender_timeout`, 60 s by default).
    pub status_interval: Duration,
    /// How often a heartbeat message is written so the slot advances on a quiet database
    /// (`None`: never).
    pub heartbeat: Option<Duration>,
    /// Warn (log, once per episode) when the slot lags the server's WAL by more than this
    /// many bytes (`None`: never); the lag and retained WAL are metrics either way.
    pub lag_warning_bytes: Option<u64>,
    /// Most events handed to the sink at once.
    pub max_batch_events: usize,
    /// Most events held between the server and the sink; reading pauses when reached (one
    /// transaction larger than this is still taken whole).
    pub max_buffered_events: usize,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Retry delays of a failing sink.
    pub sink_backoff: Backoff,
    /// Time given to the sink to take what is buffered when the stream stops.
    pub shutdown_grace: Duration,
    /// Stop (cleanly, like a cancel) once the confirmed position reaches this LSN, as
    /// `pg_recvlogical --endpos` does (`None`: run until cancelled).
    pub stop_at: Option<crate::lsn::Lsn>,
}

impl StreamConfig {
    /// Defaults for `url`, `slot` and `publication`: an existing publication, no creation,
    /// streaming on, status every 10 s, heartbeat every 30 s, a lag warning above 1 GiB, batches of up to 5000 events,
    /// 100 000 events buffered, reconnect backoff 100 ms doubling to 10 s. `url` is a libpq
    /// URL or `key=value` DSN; what it leaves out comes from the `PG*` environment
    /// ([`Database::parse`]).
    pub fn new(url: &str, slot: &str, publication: &str) -> Result<Self, Error> {
        let database = Database::parse(url).map_err(|e| Error::setup(e.to_string()))?;
        Self::for_database(database, slot, publication)
    }

    /// [`StreamConfig::new`] for a database already parsed (e.g. by a command line).
    pub fn for_database(database: Database, slot: &str, publication: &str) -> Result<Self, Error> {
        crate::slot_name::check(slot).map_err(Error::setup)?;
        if publication.is_empty() || publication.len() > 63 {
            return Err(Error::setup(format!(
                "the publication name {publication:?} must have 1 to 63 characters"
            )));
        }
        Ok(StreamConfig {
            database,
            spec: Spec {
                slot: slot.to_owned(),
                publication: publication.to_owned(),
                tables: Tables::Existing,
                create: false,
                two_phase: false,
            },
            proto_version: None,
            streaming: true,
            status_interval: Duration::from_secs(10),
            heartbeat: Some(Duration::from_secs(30)),
            lag_warning_bytes: Some(DEFAULT_LAG_WARNING_BYTES),
            max_batch_events: 5000,
            max_buffered_events: 100_000,
            backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(10),
                jitter: 0.3,
            },
            sink_backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(10),
                jitter: 0.3,
            },
            shutdown_grace: Duration::from_secs(10),
            stop_at: None,
        })
    }

    /// The protocol version for a server of `server_version_num`.
    pub(crate) fn protocol_for(&self, server_version_num: u32) -> u32 {
        self.proto_version.unwrap_or(match server_version_num {
            v if v < 140_000 => 1,
            _ if self.spec.two_phase => 3,
            _ => 2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_fatal_setup_errors() {
        let ok = StreamConfig::new("postgres://u@h/db", "my_slot", "Pub").unwrap();
        assert_eq!(ok.database.user(), "u");
        assert_eq!(
            (ok.spec.slot.as_str(), ok.spec.tables),
            ("my_slot", Tables::Existing)
        );
        for (url, slot, publication, says) in [
            ("not a dsn", "s", "p", "does not parse"),
            ("host=a,b port=1,2,3 user=u", "s", "p", "ports"),
            ("postgres://u@h/db", "Upper", "p", "lower-case"),
            ("postgres://u@h/db", "", "p", "lower-case"),
            ("postgres://u@h/db", "s", "", "1 to 63"),
            ("postgres://u@h/db", "s", &"p".repeat(64), "1 to 63"),
        ] {
            let err = StreamConfig::new(url, slot, publication).unwrap_err();
            assert!(err.is_fatal(), "{url} {slot} {publication}: {err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
