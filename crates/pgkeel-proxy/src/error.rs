//! Errors of the proxy's setup and control paths (the forwarding path logs and closes instead).

/// Why the proxy could not start or a control request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A bad option.
    #[error("invalid proxy configuration: {0}")]
    Config(String),
    /// An I/O operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An address could not be bound (in use, not a socket, not allowed).
    #[error("{0}")]
    Net(#[from] pgkeel_net::Error),
    /// A rule string was rejected; the rules in force are unchanged.
    #[error("rules rejected, previous rules still in force: {0}")]
    Rules(#[from] crate::rules::RuleError),
}

impl ProxyError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        ProxyError::Io {
            action: action.into(),
            source,
        }
    }
}
