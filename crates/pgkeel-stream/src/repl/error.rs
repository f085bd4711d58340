//! `ReplError`: why a replication connection, command or stream failed. Callers decide by kind
//! (`is_fatal()`, `is_transient()`, `code()`), never by text; the text names what failed, why,
//! and what to do.

use std::time::Duration;

use crate::repl::db_error::DbError;

/// Why a replication connection, command or stream failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReplError(Box<Kind>);

const RECONNECT: &str = "reconnect and resume from the last flushed LSN";

#[derive(Debug, thiserror::Error)]
enum Kind {
    #[error("invalid replication connection settings: {0}")]
    Config(String),
    #[error("{0}")]
    Invalid(String),
    #[error("connecting to {target}: {source}; check that the server runs and listens there")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {target} over TLS: {failure}")]
    Tls {
        target: String,
        failure: pgkeel_net::TlsFailure,
    },
    #[error("{context}: {source}; {RECONNECT}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: the server closed the connection; {RECONNECT}")]
    Closed { context: String },
    #[error(
        "{context}: the connection was closed before the session started (a load balancer or \
         proxy with no server up behind it does this); {RECONNECT}"
    )]
    ClosedAtStartup { context: String },
    #[error("{context}: no answer within {after:?}; the server or the network does not respond")]
    Timeout { context: String, after: Duration },
    #[error("{context}: {db}{}", advice(db.code()))]
    Server { context: String, db: DbError },
    #[error(
        "{context}: the server sent bytes that break the protocol ({reason}); the connection is dropped, {RECONNECT}"
    )]
    Protocol { context: String, reason: String },
    #[error("{context}: {reason}")]
    Auth { context: String, reason: String },
    #[error(
        "{context}: the server ended the replication stream (CopyDone or CommandComplete), usually \
         because it is shutting down; {RECONNECT}"
    )]
    StreamEnded { context: String },
    #[error(
        "{context}: the connection is unusable because an earlier call on it was cancelled \
         midway; open a new connection"
    )]
    Poisoned { context: String },
}

/// What a user can do about a server error, by SQLSTATE.
fn advice(code: &str) -> &'static str {
    match code {
        "28P01" => "; check the password in the connection string",
        "28000" => {
            "; the server refuses this role or host: check pg_hba.conf (a `replication` line \
             for this host) and that the role may log in and has REPLICATION"
        }
        "3D000" => "; check the database name in the connection string",
        "42704" => {
            "; create it (e.g. with --create) or check the name (SELECT slot_name FROM \
             pg_replication_slots)"
        }
        "42710" => "; the slot already exists: use it, or drop it first",
        "55000" => {
            "; the slot or server cannot serve this request (e.g. the slot was invalidated \
             because its WAL was removed, or wal_level is not logical): fix the setting, or \
             drop and recreate the slot and resynchronise"
        }
        "55006" => {
            "; another connection is using the slot (often a walsender that is still exiting \
             after a lost connection): retry shortly, or stop the other consumer"
        }
        "42501" => "; grant the role REPLICATION (ALTER ROLE ... REPLICATION) or use another role",
        "0A000" => "; the server does not support this (check its version and settings)",
        "53300" => "; too many connections or wal senders (max_wal_senders); retry later",
        "57P01" => {
            "; the session was ended by a shutdown or an administrator (pg_terminate_backend); \
             reconnect"
        }
        "57P02" | "57P03" => "; the server is crashing, restarting or starting; retry shortly",
        _ => "",
    }
}

const FATAL_CODES: &[&str] = &[
    "28P01", "28000", "3D000", "42704", "55000", "42501", "0A000",
];
const TRANSIENT_CODES: &[&str] = &["57P01", "57P02", "57P03", "53300", "55006"];

impl ReplError {
    fn new(kind: Kind) -> Self {
        ReplError(Box::new(kind))
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid(message.into()))
    }

    /// Opening the socket (or starting TLS on it) failed; a TLS failure retrying cannot fix
    /// (certificate refused, no TLS under `require`) is fatal.
    pub(crate) fn connect(target: impl Into<String>, source: std::io::Error) -> Self {
        if let Some(failure) = pgkeel_net::tls_failure(&source) {
            return Self::new(Kind::Tls {
                target: target.into(),
                failure,
            });
        }
        if matches!(
            source.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) {
            // Accepted, then closed while TLS was negotiated: an intermediary with no server.
            return Self::new(Kind::ClosedAtStartup {
                context: format!("connecting to {}", target.into()),
            });
        }
        Self::new(Kind::Connect {
            target: target.into(),
            source,
        })
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::new(Kind::Io {
            context: context.into(),
            source,
        })
    }

    /// The same error, seen before the session started: a connection closed or reset then is
    /// what HAProxy (TCP mode) and cloud load balancers do while no server is up.
    pub(crate) fn at_startup(self) -> Self {
        match *self.0 {
            Kind::Closed { context } => Self::new(Kind::ClosedAtStartup { context }),
            Kind::Io { context, source }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Self::new(Kind::ClosedAtStartup { context })
            }
            other => Self(Box::new(other)),
        }
    }

    pub(crate) fn closed(context: impl Into<String>) -> Self {
        Self::new(Kind::Closed {
            context: context.into(),
        })
    }

    pub(crate) fn timeout(context: impl Into<String>, after: Duration) -> Self {
        Self::new(Kind::Timeout {
            context: context.into(),
            after,
        })
    }

    pub(crate) fn server(context: impl Into<String>, db: DbError) -> Self {
        Self::new(Kind::Server {
            context: context.into(),
            db,
        })
    }

    pub(crate) fn protocol(context: impl Into<String>, reason: impl Into<String>) -> Self {
        let (context, reason) = (context.into(), reason.into());
        tracing::warn!(%context, %reason, "protocol violation by the server");
        Self::new(Kind::Protocol { context, reason })
    }

    pub(crate) fn auth(context: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Kind::Auth {
            context: context.into(),
            reason: reason.into(),
        })
    }

    pub(crate) fn stream_ended(context: impl Into<String>) -> Self {
        Self::new(Kind::StreamEnded {
            context: context.into(),
        })
    }

    pub(crate) fn poisoned(context: impl Into<String>) -> Self {
        Self::new(Kind::Poisoned {
            context: context.into(),
        })
    }

    /// The SQLSTATE when the server reported the error.
    pub fn code(&self) -> Option<&str> {
        self.db_error().map(DbError::code)
    }

    /// The server's error (severity, message, detail, hint) when the server reported it.
    pub fn db_error(&self) -> Option<&DbError> {
        match &*self.0 {
            Kind::Server { db, .. } => Some(db),
            _ => None,
        }
    }

    /// At connection start, the answer of something in front of the server (pgkeel proxy,
    /// pgbouncer, HAProxy) that says the server is down — 08006/08001, pgbouncer's 08P01
    /// "server login has been failing", the connection closed before the session started —
    /// or the server still starting (57P03): worth asking again
    /// within milliseconds rather than after the backoff.
    pub fn is_upstream_unavailable(&self) -> bool {
        if matches!(&*self.0, Kind::ClosedAtStartup { .. }) {
            return true;
        }
        self.db_error().is_some_and(|db| match db.code() {
            "08006" | "08001" | "57P03" => true,
            "08P01" => db.message().contains("server login has been failing"),
            _ => false,
        })
    }

    /// Retrying cannot help until someone changes something: bad settings or password, no
    /// such database or slot, an invalidated slot, missing privileges, unsupported features.
    pub fn is_fatal(&self) -> bool {
        match &*self.0 {
            Kind::Config(_) | Kind::Invalid(_) | Kind::Auth { .. } | Kind::Tls { .. } => true,
            Kind::Server { db, .. } => FATAL_CODES.contains(&db.code()),
            _ => false,
        }
    }

    /// The connection was lost or the server is briefly unable to serve (I/O error, closed
    /// connection, timeout, garbled bytes, 08xxx, shutdown 57P01–57P03, too many connections,
    /// slot still held by an exiting walsender 55006): reconnect and resume.
    pub fn is_transient(&self) -> bool {
        match &*self.0 {
            Kind::Connect { .. }
            | Kind::Io { .. }
            | Kind::Closed { .. }
            | Kind::ClosedAtStartup { .. }
            | Kind::Timeout { .. }
            | Kind::Protocol { .. }
            | Kind::StreamEnded { .. }
            | Kind::Poisoned { .. } => true,
            Kind::Server { db, .. } => {
                db.code().starts_with("08") || TRANSIENT_CODES.contains(&db.code())
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> ReplError {
        let body = pgkeel_wire::encode::error_response(&pgkeel_wire::encode::error_fields(
            "ERROR", code, "boom",
        ))
        .unwrap();
        let frame = pgkeel_wire::FrameRef::new(
            pgkeel_wire::Direction::Backend,
            pgkeel_wire::FrameKind::Tagged(b'E'),
            &body,
        );
        ReplError::server("test", DbError::parse(frame).unwrap())
    }

    #[test]
    fn kinds_follow_sqlstate_and_connection_state() {
        for code in FATAL_CODES {
            let e = server(code);
            assert!(e.is_fatal() && !e.is_transient(), "{code}");
            assert_eq!(e.code(), Some(*code));
        }
        for code in TRANSIENT_CODES.iter().chain(&["08006", "08P01"]) {
            let e = server(code);
            assert!(e.is_transient() && !e.is_fatal(), "{code}");
        }
        let e = server("42P01");
        assert!(!e.is_transient() && !e.is_fatal());
        let closed = ReplError::closed("reading");
        assert!(closed.is_transient() && closed.code().is_none());
        assert!(ReplError::config("x").is_fatal());
        assert!(server("42704").to_string().contains("--create"));
    }

    #[test]
    fn a_connection_closed_before_the_session_means_an_intermediary_without_server() {
        assert!(!ReplError::closed("reading").is_upstream_unavailable());
        let at_start = ReplError::closed("authenticating").at_startup();
        assert!(at_start.is_upstream_unavailable() && at_start.is_transient());
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert!(ReplError::connect("127.0.0.1:5432", eof).is_upstream_unavailable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let refused = ReplError::connect("127.0.0.1:5432", refused);
        assert!(refused.is_transient() && !refused.is_upstream_unavailable());
        assert!(!server("42P01").at_startup().is_upstream_unavailable());
    }
}
