//! The crate's error: an opaque value with predicates (`is_transient()`, `is_fatal()`, ...)
//! decided from SQLSTATE and connection state. Its message names what failed, why, and what
//! to do.

use std::sync::Arc;
use std::time::Duration;

use pgkeel_net::{ConnectError, describe_postgres};

use crate::class::{Classifier, ErrorClass};

/// Why an operation, a connection or a recovery failed. Cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("{context}: {}", describe_postgres(source))]
    Postgres {
        class: ErrorClass,
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// Opening a connection failed with what the server or the network said (a timeout is
    /// `ConnectTimeout`).
    #[error("connecting failed: {}", connect_cause(source))]
    Connect {
        class: ErrorClass,
        #[source]
        source: ConnectError,
    },
    #[error(
        "the database is unavailable ({state}{last}); {advice}",
        last = last_error.as_ref().map(|e| format!(", last error: {e}")).unwrap_or_default()
    )]
    Unavailable {
        state: &'static str,
        last_error: Option<String>,
        advice: String,
    },
    #[error(
        "no pooled connection became free within {waited:?} (all {size} are busy); raise the pool \
         size or the acquire timeout, or look for connections held too long"
    )]
    PoolTimeout { waited: Duration, size: usize },
    #[error("{context}: {message}")]
    Operation { context: String, message: String },
    #[error("giving up: {message}")]
    Fatal { message: String },
    #[error("connecting timed out after {0:?}; the server or the network does not answer")]
    ConnectTimeout(Duration),
    #[error("no answer within {0:?}; the connection is considered lost")]
    Stalled(Duration),
    #[error("reload hook `{name}` failed: {message}")]
    Hook {
        name: String,
        class: ErrorClass,
        message: String,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("the pool was closed")]
    Closed,
    #[error(
        "the listener was stopped (its cancellation token fired or its handle was dropped); \
         start a new one to listen again"
    )]
    ListenerStopped,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Error(Arc::new(kind))
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }

    pub(crate) fn postgres(
        class: ErrorClass,
        context: impl Into<String>,
        source: tokio_postgres::Error,
    ) -> Self {
        Self::new(Kind::Postgres {
            class,
            context: context.into(),
            source,
        })
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    /// Opening a connection failed: a timeout, or what the server or the network said,
    /// classified by `classifier`.
    pub(crate) fn connect(error: ConnectError, classifier: &Classifier) -> Self {
        if let Some(after) = error.timed_out() {
            return Self::new(Kind::ConnectTimeout(after));
        }
        let class = error
            .postgres_error()
            .map_or(ErrorClass::Transient, |e| classifier.classify(e));
        Self::new(Kind::Connect {
            class,
            source: error,
        })
    }

    /// Nothing listened at the server's address (refused, no socket file): the fast probe can
    /// tell when something does again.
    pub(crate) fn is_refused(&self) -> bool {
        matches!(self.kind(), Kind::Connect { source, .. } if source.is_refused())
    }

    /// Something in front of the server (a pooler, a proxy, a load balancer) accepted the
    /// connection but the server behind it is down: retry at the fast-probe cadence.
    pub(crate) fn is_upstream_unavailable(&self) -> bool {
        matches!(self.kind(), Kind::Connect { source, .. } if source.is_upstream_unavailable())
    }

    /// The class of this error (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self.kind() {
            Kind::Postgres { class, .. }
            | Kind::Connect { class, .. }
            | Kind::Hook { class, .. } => *class,
            Kind::Operation { .. } => ErrorClass::Statement,
            Kind::Unavailable { .. }
            | Kind::PoolTimeout { .. }
            | Kind::ConnectTimeout(_)
            | Kind::Stalled(_)
            | Kind::Closed
            | Kind::ListenerStopped => ErrorClass::Transient,
            Kind::Fatal { .. } | Kind::Config(_) => ErrorClass::Fatal,
        }
    }

    /// Recovering and retrying may help.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// Retrying cannot help (wrong password, missing database, bad configuration, ...).
    pub fn is_fatal(&self) -> bool {
        self.class() == ErrorClass::Fatal
    }

    /// No pooled connection became free in time (the pool is exhausted, not the database).
    pub fn is_pool_timeout(&self) -> bool {
        matches!(self.kind(), Kind::PoolTimeout { .. })
    }

    /// The database was not available and the caller did not (or could no longer) wait.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind(), Kind::Unavailable { .. })
    }

    /// The listener was stopped (cancelled or dropped); it delivers nothing more.
    pub fn is_stopped(&self) -> bool {
        matches!(self.kind(), Kind::ListenerStopped)
    }

    /// The SQLSTATE, if the server reported one.
    pub fn code(&self) -> Option<&str> {
        self.as_postgres().and_then(|e| e.code()).map(|c| c.code())
    }

    /// The server refused the session because it is starting up, shutting down or not yet
    /// accepting connections in recovery (SQLSTATE 57P03): it listens, so retry soon.
    pub fn is_server_starting(&self) -> bool {
        self.code() == Some("57P03")
    }

    /// The underlying tokio-postgres error, if any.
    pub fn as_postgres(&self) -> Option<&tokio_postgres::Error> {
        match self.kind() {
            Kind::Postgres { source, .. } => Some(source),
            Kind::Connect { source, .. } => source.postgres_error(),
            _ => None,
        }
    }
}

/// What the server or the network said when connecting, in full.
fn connect_cause(error: &ConnectError) -> String {
    match error.postgres_error() {
        Some(e) => describe_postgres(e),
        None => error.to_string(),
    }
}
