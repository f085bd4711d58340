//! The stream's error: an opaque value with predicates (`is_fatal()`, `is_transient()`).
//! Fatal errors stop the stream with a message naming the cause and the fix; transient ones
//! make it reconnect and resume from the slot.

use std::sync::Arc;

/// Why the change stream failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
enum Kind {
    #[error("replication connection: {0}")]
    Replication(crate::repl::ReplError),
    #[error("malformed pgoutput data: {0}")]
    Decode(crate::pgoutput::DecodeError),
    #[error("unexpected replication data: {0}")]
    Protocol(String),
    #[error("{context}: {}", pgkeel_net::describe_postgres(source))]
    Postgres {
        context: String,
        fatal: bool,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{context}: {source}")]
    Connect {
        context: String,
        fatal: bool,
        #[source]
        source: pgkeel_net::ConnectError,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Sink(crate::sink::SinkError),
    #[error("stopped")]
    Stopped,
}

impl Error {
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Error(Arc::new(Kind::Protocol(message.into())))
    }

    /// A setup problem the user must fix (missing publication or slot, invalidated slot, bad
    /// options): fatal.
    pub(crate) fn setup(message: impl Into<String>) -> Self {
        Error(Arc::new(Kind::Setup(message.into())))
    }

    pub(crate) fn stopped() -> Self {
        Error(Arc::new(Kind::Stopped))
    }

    /// A failed query on an ordinary connection (setup, heartbeat, status). Fatal when its
    /// SQLSTATE says retrying cannot help.
    pub(crate) fn postgres(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error(Arc::new(Kind::Postgres {
            context: context.into(),
            fatal: is_fatal_postgres(&source),
            source,
        }))
    }

    /// Opening an ordinary connection failed. Fatal when the server's answer says retrying
    /// cannot help (bad password, no such database); a timeout is transient.
    pub(crate) fn connect(context: impl Into<String>, source: pgkeel_net::ConnectError) -> Self {
        Error(Arc::new(Kind::Connect {
            context: context.into(),
            fatal: source.postgres_error().is_some_and(is_fatal_postgres),
            source,
        }))
    }

    /// Retrying cannot help: the user must change something (credentials, slot, publication,
    /// options), or the stream was stopped.
    pub fn is_fatal(&self) -> bool {
        match &*self.0 {
            Kind::Replication(e) => e.is_fatal(),
            Kind::Postgres { fatal, .. } | Kind::Connect { fatal, .. } => *fatal,
            Kind::Setup(_) | Kind::Decode(_) | Kind::Protocol(_) => true,
            Kind::Sink(e) => e.is_cancelled(),
            Kind::Stopped => true,
        }
    }

    /// Reconnecting and resuming from the slot may help.
    pub fn is_transient(&self) -> bool {
        !self.is_fatal()
    }

    /// The server (or the pooler or proxy in front of it) says it is briefly unable to
    /// start a session: see [`crate::repl::ReplError::is_upstream_unavailable`].
    pub(crate) fn is_upstream_unavailable(&self) -> bool {
        matches!(&*self.0, Kind::Replication(e) if e.is_upstream_unavailable())
    }

    /// The stream was asked to stop (not a failure).
    pub fn is_stopped(&self) -> bool {
        matches!(&*self.0, Kind::Stopped)
    }
}

fn is_fatal_postgres(error: &tokio_postgres::Error) -> bool {
    pgkeel_conn::Classifier::new().classify(error) == pgkeel_conn::ErrorClass::Fatal
}

impl From<crate::repl::ReplError> for Error {
    fn from(e: crate::repl::ReplError) -> Self {
        Error(Arc::new(Kind::Replication(e)))
    }
}

impl From<crate::pgoutput::DecodeError> for Error {
    fn from(e: crate::pgoutput::DecodeError) -> Self {
        Error(Arc::new(Kind::Decode(e)))
    }
}

impl From<crate::sink::SinkError> for Error {
    fn from(e: crate::sink::SinkError) -> Self {
        Error(Arc::new(Kind::Sink(e)))
    }
}
