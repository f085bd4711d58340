//! Why opening a `tokio_postgres` connection failed (timed out, or what the server or the
//! network said), how to describe a tokio-postgres error in full, and the connection type.

use std::fmt;
use std::time::Duration;

use crate::tls::{PgTlsStream, TlsFailure, tls_failure};
use tokio_postgres::error::SqlState;

/// The connection half of a client: it must be polled (spawned) for the client to work, and
/// it yields notifications to a listener.
pub type PgConnection =
    tokio_postgres::Connection<tokio_postgres::Socket, PgTlsStream<tokio_postgres::Socket>>;

/// Connecting failed.
#[derive(Debug)]
pub struct ConnectError {
    target: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Timeout(Duration),
    Postgres(tokio_postgres::Error),
}

impl ConnectError {
    pub(crate) fn timeout(target: String, after: Duration) -> Self {
        ConnectError {
            target,
            kind: Kind::Timeout(after),
        }
    }

    pub(crate) fn postgres(target: String, error: tokio_postgres::Error) -> Self {
        ConnectError {
            target,
            kind: Kind::Postgres(error),
        }
    }

    /// `user@address/dbname` that was tried (never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// How long the attempt was allowed, when it ran out of time.
    pub fn timed_out(&self) -> Option<Duration> {
        match self.kind {
            Kind::Timeout(after) => Some(after),
            Kind::Postgres(_) => None,
        }
    }

    /// The error tokio-postgres reported (server error, refused, closed), if it was not a
    /// timeout.
    pub fn postgres_error(&self) -> Option<&tokio_postgres::Error> {
        match &self.kind {
            Kind::Postgres(e) => Some(e),
            Kind::Timeout(_) => None,
        }
    }

    /// The tokio-postgres error, or the timeout back.
    pub fn into_postgres_error(self) -> Result<tokio_postgres::Error, Self> {
        match self.kind {
            Kind::Postgres(e) => Ok(e),
            Kind::Timeout(_) => Err(self),
        }
    }

    /// The server's SQLSTATE, when it answered with an error (e.g. 28P01, 57P03).
    pub fn code(&self) -> Option<&SqlState> {
        self.postgres_error().and_then(tokio_postgres::Error::code)
    }

    /// True when something accepted the connection but could not give a session because what
    /// is behind it is down: a pooler or proxy in front of a stopped server. Such an
    /// intermediary answers at once, so retrying soon costs little and notices the server's
    /// return as fast as a direct connection would. Recognised: SQLSTATE 08006 or 08001 at
    /// startup (pgkeel proxy and others), pgbouncer's `server login has been failing`
    /// (08P01), and the connection closed before the startup finished (HAProxy in TCP mode
    /// with no server up).
    pub fn is_upstream_unavailable(&self) -> bool {
        let Some(error) = self.postgres_error() else {
            return false;
        };
        if let Some(db) = error.as_db_error() {
            return match db.code().code() {
                "08006" | "08001" => true,
                "08P01" => db.message().contains("server login has been failing"),
                _ => false,
            };
        }
        error.is_closed()
            || matches!(
                self.io_error_kind(),
                Some(std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset)
            )
    }

    /// True when nothing listens at the address (connection refused, no socket file): the
    /// fast probe can tell when something does again.
    pub fn is_refused(&self) -> bool {
        matches!(
            self.io_error_kind(),
            Some(std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound)
        )
    }

    /// The TLS failure retrying cannot fix (server certificate refused, no TLS under
    /// `require`, client certificate refused), if that is why.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        tls_failure(self.postgres_error()?)
    }

    /// The kind of the first I/O error among the causes, if any.
    fn io_error_kind(&self) -> Option<std::io::ErrorKind> {
        let mut source = std::error::Error::source(self.postgres_error()?);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Some(io.kind());
            }
            source = e.source();
        }
        None
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Timeout(after) => write!(
                f,
                "connecting to {} took longer than {after:?} (raise connect_timeout, or check \
                 that the server is reachable)",
                self.target
            ),
            Kind::Postgres(e) => match tls_failure(e) {
                Some(tls) => write!(f, "cannot connect to {} over TLS: {tls}", self.target),
                None => write!(
                    f,
                    "cannot connect to {}: {}",
                    self.target,
                    describe_postgres(e)
                ),
            },
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            // The message already gives the TLS cause and fix; the chain would repeat it.
            Kind::Postgres(e) if tls_failure(e).is_some() => None,
            Kind::Postgres(e) => Some(e),
            Kind::Timeout(_) => None,
        }
    }
}

/// A tokio-postgres error in full: severity, message, SQLSTATE, detail and hint of a server
/// error, the cause and fix of a TLS failure, or the chain of causes of a client-side one (tokio-postgres's own `Display` stops
/// at "db error" / "error connecting to server").
pub fn describe_postgres(error: &tokio_postgres::Error) -> String {
    if let Some(tls) = tls_failure(error) {
        return format!("TLS: {tls}");
    }
    if let Some(db) = error.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}
