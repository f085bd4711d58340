//! The crate's error: an opaque value with predicates (`is_transient()`, `is_fatal()`, ...)
//! decided from SQLSTATE and connection state. Its message names what failed, why, and what
//! to do.

use std::sync::Arc;
use std::time::Duration;

use crate::class::ErrorClass;

/// Why an operation, a connection or a recovery failed. Cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("{context}: {}", describe(source))]
    Postgres {
        class: ErrorClass,
        context: String,
        #[source]
        source: tokio_postgres::Error,
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

/// A tokio-postgres error in full: the server's severity, message, SQLSTATE, detail and hint,
/// or the chain of causes (e.g. "error connecting to server: Connection refused (os error 111)").
pub fn describe(error: &tokio_postgres::Error) -> String {
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

    /// The class of this error (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self.kind() {
            Kind::Postgres { class, .. } | Kind::Hook { class, .. } => *class,
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
            _ => None,
        }
    }
}
