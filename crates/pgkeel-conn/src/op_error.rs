//! What an operation given to `Pool::run` may fail with: a tokio-postgres error (classified by
//! SQLSTATE and connection state) or any other error (the caller's own; the connection is
//! considered fine unless it wraps a tokio-postgres error).

/// The error of an operation.
#[derive(Debug)]
pub enum OpError {
    /// From the database or the connection.
    Postgres(tokio_postgres::Error),
    /// Anything else (parsing, the caller's own checks, ...).
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl OpError {
    /// The tokio-postgres error inside, if any.
    pub fn postgres(&self) -> Option<&tokio_postgres::Error> {
        match self {
            OpError::Postgres(e) => Some(e),
            OpError::Other(e) => e.downcast_ref(),
        }
    }
}

impl From<tokio_postgres::Error> for OpError {
    fn from(e: tokio_postgres::Error) -> Self {
        OpError::Postgres(e)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for OpError {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        match e.downcast::<tokio_postgres::Error>() {
            Ok(pg) => OpError::Postgres(*pg),
            Err(other) => OpError::Other(other),
        }
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Postgres(e) => f.write_str(&pgkeel_net::describe_postgres(e)),
            OpError::Other(e) => write!(f, "{e}"),
        }
    }
}
