//! TLS on a bare socket the way a PostgreSQL client starts it: SSLRequest, one byte of answer
//! (`S` or `N`), then the handshake — for clients that speak the protocol themselves (the
//! replication client, the proxy's upstream side).

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::ClientTls;
use super::failure::not_offered;
use crate::socket::Socket;

/// The SSLRequest message: length 8, code 80877103.
pub const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Starts TLS on `socket` to `host` as `tls` says: nothing for `disable`/`allow` or a unix
/// socket; otherwise SSLRequest, and on `S` the handshake. `N` is plaintext under `prefer`
/// and an error ([`super::TlsFailure::NotOffered`]) under `require` or stronger.
pub(crate) async fn negotiate(
    mut socket: Socket,
    tls: &ClientTls,
    host: &str,
) -> io::Result<Socket> {
    let Some(config) = tls.config() else {
        return Ok(socket);
    };
    if !socket.is_tcp() || tls.mode() == super::SslMode::Allow {
        return Ok(socket);
    }
    socket.write_all(&SSL_REQUEST).await?;
    let answer = socket.read_u8().await?;
    match answer {
        b'S' => {}
        b'N' if !tls.mode().requires_tls() => return Ok(socket),
        b'N' => return Err(not_offered()),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server answered the SSLRequest with {:?} instead of S or N: is this a \
                     PostgreSQL server?",
                    other as char
                ),
            ));
        }
    }
    let name = ClientTls::server_name(host).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{host}` is not a host name or IP address a TLS certificate can name"),
        )
    })?;
    let stream = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, socket)
        .await?;
    Ok(Socket::from_tls(tokio_rustls::TlsStream::Client(stream)))
}
