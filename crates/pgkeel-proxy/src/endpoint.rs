//! Where the proxy listens and where it connects: `host:port` or a unix socket path
//! (`/tmp/x/.s.PGSQL.5432`), on either side.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::error::ProxyError;
use crate::stream::Stream;

/// A TCP address or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port`; the host may be a name (resolved when connecting).
    Tcp(String),
    /// A unix socket file.
    Unix(PathBuf),
}

impl Endpoint {
    /// A TCP endpoint from a socket address.
    pub fn tcp(addr: SocketAddr) -> Self {
        Endpoint::Tcp(addr.to_string())
    }

    /// The socket path of a unix endpoint.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        match self {
            Endpoint::Unix(p) => Some(p),
            Endpoint::Tcp(_) => None,
        }
    }

    /// Connects to it.
    pub async fn connect(&self) -> std::io::Result<Stream> {
        match self {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
        }
    }

    /// Binds a listener; returns it with the address actually bound (port 0 resolved).
    pub(crate) async fn bind(&self) -> Result<(Listener, Endpoint), ProxyError> {
        match self {
            Endpoint::Tcp(addr) => {
                let listener = TcpListener::bind(addr.as_str())
                    .await
                    .map_err(|e| ProxyError::io(format!("listen on {addr}"), e))?;
                let local = listener
                    .local_addr()
                    .map_err(|e| ProxyError::io("read the listening address", e))?;
                Ok((Listener::Tcp(listener), Endpoint::tcp(local)))
            }
            Endpoint::Unix(path) => {
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path)
                    .map_err(|e| ProxyError::io(format!("listen on {}", path.display()), e))?;
                // Clients of other users (e.g. the postgres user) may connect.
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777));
                Ok((Listener::Unix(listener), self.clone()))
            }
        }
    }
}

/// A socket file left behind by a dead process is removed; a live one is an error.
fn remove_stale_socket(path: &std::path::Path) -> Result<(), ProxyError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(ProxyError::Config(format!(
            "{} exists and is not a socket; choose another path",
            path.display()
        )));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ProxyError::Config(format!(
            "{} is in use by a running server; choose another path",
            path.display()
        )));
    }
    std::fs::remove_file(path)
        .map_err(|e| ProxyError::io(format!("remove stale socket {}", path.display()), e))
}

impl FromStr for Endpoint {
    type Err = ProxyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.starts_with('/') || text.starts_with("./") || text.contains(".s.PGSQL.") {
            return Ok(Endpoint::Unix(PathBuf::from(text)));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(ProxyError::Config(format!(
                "`{text}` is neither host:port (e.g. 127.0.0.1:5432) nor a unix socket path \
                 (e.g. /var/run/postgresql/.s.PGSQL.5432)"
            )));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(ProxyError::Config(format!(
                "`{text}`: expected host:port with a port from 0 to 65535"
            )));
        }
        Ok(Endpoint::Tcp(text.to_owned()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => f.write_str(addr),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A bound listener of either kind.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Accepts a connection; returns it and a description of the peer.
    pub(crate) async fn accept(&self) -> std::io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                stream.set_nodelay(true)?;
                Ok((Stream::Tcp(stream), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(stream), "unix".to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_rejects_garbage() {
        assert_eq!(
            "127.0.0.1:5432".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("127.0.0.1:5432".into())
        );
        assert_eq!(
            "[::1]:5".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("[::1]:5".into())
        );
        assert_eq!(
            "/tmp/x/.s.PGSQL.5432".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("/tmp/x/.s.PGSQL.5432".into())
        );
        assert!("localhost".parse::<Endpoint>().is_err());
        assert!("host:99999".parse::<Endpoint>().is_err());
    }
}
