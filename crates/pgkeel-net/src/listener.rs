//! A bound listener of either kind: TCP (port 0 resolved to the real port) or a unix socket
//! file (a stale file of a dead process is replaced, a live one is an error).

use std::path::Path;

use tokio::net::{TcpListener, UnixListener};

use crate::address::Address;
use crate::error::Error;
use crate::socket::Socket;

/// Accepts [`Socket`]s.
#[derive(Debug)]
pub struct Listener(Inner);

#[derive(Debug)]
enum Inner {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds `address`; returns the listener and the address actually bound (port 0
    /// resolved). A unix socket file is made reachable by every user (clients such as the
    /// `postgres` user may connect).
    pub async fn bind(address: &Address) -> Result<(Listener, Address), Error> {
        match address {
            Address::Tcp { host, port } => {
                let listener = TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(|e| Error::io(format!("listen on {address}"), e))?;
                let local = listener
                    .local_addr()
                    .map_err(|e| Error::io("read the listening address", e))?;
                Ok((Listener(Inner::Tcp(listener)), Address::from(local)))
            }
            Address::Unix(path) => {
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path)
                    .map_err(|e| Error::io(format!("listen on {}", path.display()), e))?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777));
                Ok((Listener(Inner::Unix(listener)), address.clone()))
            }
        }
    }

    /// Accepts a connection; returns it and a description of the peer (`ip:port` or `unix`).
    pub async fn accept(&self) -> std::io::Result<(Socket, String)> {
        match &self.0 {
            Inner::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                Ok((Socket::from_tcp(stream)?, peer.to_string()))
            }
            Inner::Unix(l) => {
                let (stream, _) = l.accept().await?;
                Ok((Socket::from_unix(stream), "unix".to_owned()))
            }
        }
    }
}

/// A socket file left behind by a dead process is removed; a live one is an error.
fn remove_stale_socket(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(Error::config(format!(
            "{} exists and is not a socket; choose another path",
            path.display()
        )));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(Error::config(format!(
            "{} is in use by a running server; choose another path",
            path.display()
        )));
    }
    std::fs::remove_file(path)
        .map_err(|e| Error::io(format!("remove stale socket {}", path.display()), e))
}
