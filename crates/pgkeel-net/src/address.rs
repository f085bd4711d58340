//! Where to connect or listen: a TCP `host:port` (the host may be a name, resolved when
//! connecting) or the path of a unix socket file (`/run/postgresql/.s.PGSQL.5432`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::Error;

/// PostgreSQL's port when none is given.
pub const DEFAULT_PORT: u16 = 5432;

/// A TCP address or a unix socket file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A host name or IP address and a TCP port.
    Tcp {
        /// Host name or address (an IPv6 address without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// The path of a unix socket file.
    Unix(PathBuf),
}

impl Address {
    /// A TCP address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Address::Tcp {
            host: host.into(),
            port,
        }
    }

    /// The socket file PostgreSQL creates for `port` in directory `dir` (`dir/.s.PGSQL.port`),
    /// as libpq forms it from `host=/dir port=N`.
    pub fn unix_socket(dir: &Path, port: u16) -> Self {
        Address::Unix(dir.join(format!(".s.PGSQL.{port}")))
    }

    /// The TCP port, for a TCP address.
    pub fn tcp_port(&self) -> Option<u16> {
        match self {
            Address::Tcp { port, .. } => Some(*port),
            Address::Unix(_) => None,
        }
    }

    /// The socket path, for a unix address.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Address::Unix(path) => Some(path),
            Address::Tcp { .. } => None,
        }
    }
}

impl From<std::net::SocketAddr> for Address {
    fn from(addr: std::net::SocketAddr) -> Self {
        Address::tcp(addr.ip().to_string(), addr.port())
    }
}

impl FromStr for Address {
    type Err = Error;

    /// `host:port`, `[ipv6]:port`, or a unix socket path (starting with `/` or `./`, or
    /// naming a `.s.PGSQL.` file).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.starts_with('/') || text.starts_with("./") || text.contains(".s.PGSQL.") {
            return Ok(Address::Unix(PathBuf::from(text)));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(Error::config(format!(
                "`{text}` is neither host:port (e.g. 127.0.0.1:5432) nor a unix socket path \
                 (e.g. /var/run/postgresql/.s.PGSQL.5432)"
            )));
        };
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().ok();
        match port {
            Some(port) if !host.is_empty() => Ok(Address::tcp(host, port)),
            _ => Err(Error::config(format!(
                "`{text}`: expected host:port with a port from 0 to 65535"
            ))),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_kinds() {
        for (text, address) in [
            ("127.0.0.1:5432", Address::tcp("127.0.0.1", 5432)),
            ("db.example:6432", Address::tcp("db.example", 6432)),
            ("[::1]:5", Address::tcp("::1", 5)),
            (
                "/tmp/x/.s.PGSQL.5432",
                Address::Unix("/tmp/x/.s.PGSQL.5432".into()),
            ),
        ] {
            let parsed: Address = text.parse().unwrap();
            assert_eq!(parsed, address);
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["localhost", "host:99999", ":5432", "[]:1"] {
            let err = bad.parse::<Address>().unwrap_err();
            assert!(err.is_config(), "{bad}: {err}");
        }
        assert_eq!(
            Address::unix_socket(Path::new("/run/pg"), 5433).to_string(),
            "/run/pg/.s.PGSQL.5433"
        );
        assert_eq!(Address::tcp("h", 1).tcp_port(), Some(1));
    }
}
