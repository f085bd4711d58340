//! Errors of addresses, sockets and connection strings: what failed, why, and what to do.

use std::fmt;
use std::io;

/// Why an address or connection string is unusable, or a socket could not be opened.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Config(String),
    Io { context: String, source: io::Error },
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Config(message.into()),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error {
            kind: Kind::Io {
                context: context.into(),
                source,
            },
        }
    }

    /// True when the settings are wrong (retrying cannot help).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }

    /// The I/O error, when the operating system refused.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            Kind::Io { source, .. } => Some(source),
            Kind::Config(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Config(message) => f.write_str(message),
            Kind::Io { context, source } => write!(f, "cannot {context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io { source, .. } => Some(source),
            Kind::Config(_) => None,
        }
    }
}
