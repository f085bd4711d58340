//! The crate's error: an opaque value with predicates (`is_session_expired()`,
//! `is_work_conflict()`, `is_transient()`, ...). Messages name what failed and what to do.

use std::sync::Arc;

/// Why a work-coordination call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct Error(Arc<Kind>);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("{context}: {}", pgkeel_conn::describe_postgres(source))]
    Postgres {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "the session expired (its heartbeat could not be renewed before the deadline); \
         start a new session"
    )]
    SessionExpired,
    #[error("work on target {target:?} by process {process:?} is already held by another session")]
    WorkConflict { target: String, process: String },
    #[error(
        "the work on target {target:?} by process {process:?} is no longer owned by this \
         session (it expired and another session may have taken it); nothing was changed"
    )]
    NotOwner { target: String, process: String },
    #[error(
        "the work on target {target:?} by process {process:?} is no longer owned by this \
         session: the session expired (its heartbeat could not be renewed before the deadline) \
         and another session may have taken the work; nothing was changed"
    )]
    NotOwnerExpired { target: String, process: String },
    #[error("the transaction's closure failed (the transaction was rolled back): {0}")]
    Closure(Box<dyn std::error::Error + Send + Sync>),
    #[error("{what}: no answer within {after:?}; the database or the network does not respond")]
    Unreachable {
        what: String,
        after: std::time::Duration,
    },
    #[error("the database holds data this build does not understand: {0}")]
    Unexpected(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(
        "the pgkeel_work schema does not exist in this database; create it with \
         `pgkeel work migrate`"
    )]
    SchemaMissing,
    #[error("{0}")]
    Pool(#[from] pgkeel_conn::Error),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Error(Arc::new(kind))
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.0
    }

    pub(crate) fn postgres(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Self::new(Kind::Postgres {
            context: context.into(),
            source,
        })
    }

    /// Opening a connection failed: what the server or the network said, or no answer within
    /// the connect timeout.
    pub(crate) fn connect(context: impl Into<String>, error: pgkeel_net::ConnectError) -> Self {
        match error.into_postgres_error() {
            Ok(source) => Self::postgres(context, source),
            Err(timed_out) => Self::unreachable(context, timed_out.timed_out().unwrap_or_default()),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    pub(crate) fn schema_missing() -> Self {
        Self::new(Kind::SchemaMissing)
    }

    pub(crate) fn session_expired() -> Self {
        Self::new(Kind::SessionExpired)
    }

    pub(crate) fn work_conflict(target: &str, process: &str) -> Self {
        Self::new(Kind::WorkConflict {
            target: target.to_owned(),
            process: process.to_owned(),
        })
    }

    /// The work row is gone or held by another session; `expired` says the reason was this
    /// session's expiry.
    pub(crate) fn not_owner(target: &str, process: &str, expired: bool) -> Self {
        let (target, process) = (target.to_owned(), process.to_owned());
        Self::new(if expired {
            Kind::NotOwnerExpired { target, process }
        } else {
            Kind::NotOwner { target, process }
        })
    }

    pub(crate) fn unreachable(what: impl Into<String>, after: std::time::Duration) -> Self {
        Self::new(Kind::Unreachable {
            what: what.into(),
            after,
        })
    }

    pub(crate) fn unexpected(message: impl Into<String>) -> Self {
        Self::new(Kind::Unexpected(message.into()))
    }

    /// The session is gone: every later call on it fails; start a new one. Also true for a
    /// [`Error::is_not_owner`] error whose cause was the session's expiry.
    pub fn is_session_expired(&self) -> bool {
        matches!(
            self.kind(),
            Kind::SessionExpired | Kind::NotOwnerExpired { .. }
        )
    }

    /// The error a transaction's closure returned (other than a database error), to downcast
    /// to the caller's own type.
    pub fn closure_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self.kind() {
            Kind::Closure(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// The `pgkeel_work` schema is not there: run the migration first.
    pub fn is_schema_missing(&self) -> bool {
        matches!(self.kind(), Kind::SchemaMissing)
    }

    /// Another session holds the work on this (target, process).
    pub fn is_work_conflict(&self) -> bool {
        matches!(self.kind(), Kind::WorkConflict { .. })
    }

    /// finish/cancel/fail of work this session no longer owns.
    pub fn is_not_owner(&self) -> bool {
        matches!(
            self.kind(),
            Kind::NotOwner { .. } | Kind::NotOwnerExpired { .. }
        )
    }

    /// The SQLSTATE, if the server reported one.
    pub fn code(&self) -> Option<&str> {
        match self.kind() {
            Kind::Postgres { source, .. } => source.code().map(|c| c.code()),
            Kind::Pool(e) => e.code(),
            _ => None,
        }
    }

    /// A serialization failure or deadlock (40001, 40P01): the transaction may be retried.
    pub fn is_retryable_conflict(&self) -> bool {
        matches!(self.code(), Some("40001" | "40P01"))
    }

    /// Retrying after recovery may help (connection trouble).
    pub fn is_transient(&self) -> bool {
        match self.kind() {
            Kind::Postgres { source, .. } => {
                pgkeel_conn::Classifier::new().classify(source)
                    == pgkeel_conn::ErrorClass::Transient
            }
            Kind::Pool(e) => e.is_transient(),
            Kind::Unreachable { .. } => true,
            _ => false,
        }
    }
}

impl From<pgkeel_conn::Error> for Error {
    fn from(e: pgkeel_conn::Error) -> Self {
        Self::new(Kind::Pool(e))
    }
}

/// Lets a closure given to `transact` (or `work`, `finish`) return this crate's errors with `?`;
/// the kind survives the round trip (a nested `SessionExpired` stays one).
impl From<Error> for pgkeel_conn::OpError {
    fn from(e: Error) -> Self {
        pgkeel_conn::OpError::Other(Box::new(e))
    }
}
