//! The one connected socket of pgkeel: TCP (with `TCP_NODELAY`), a unix socket, or TLS over
//! TCP (client or server side) behind one type with private variants, so callers never match
//! on the kind. It splits into owned halves for forwarding loops, joins again, and can close
//! with a TCP RST.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream, tcp, unix};
use tokio_rustls::TlsStream;

use crate::address::Address;

/// A connected TCP or unix-domain socket.
#[derive(Debug)]
pub struct Socket(Inner);

#[derive(Debug)]
enum Inner {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream<Socket>>),
}

impl Socket {
    /// Connects to `address` (for a host name, every address it resolves to, in order).
    pub async fn connect(address: &Address) -> io::Result<Socket> {
        match address {
            Address::Tcp { host, port } => {
                Socket::from_tcp(TcpStream::connect((host.as_str(), *port)).await?)
            }
            Address::Unix(path) => Ok(Socket(Inner::Unix(UnixStream::connect(path).await?))),
        }
    }

    /// Whether something accepts connections at `address` within `timeout`: a bare connect,
    /// no PostgreSQL handshake, nothing in the server log. The socket is closed at once.
    pub async fn accepts(address: &Address, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, Socket::connect(address))
            .await
            .is_ok_and(|connected| connected.is_ok())
    }

    pub(crate) fn from_tcp(stream: TcpStream) -> io::Result<Socket> {
        stream.set_nodelay(true)?;
        Ok(Socket(Inner::Tcp(stream)))
    }

    pub(crate) fn from_unix(stream: UnixStream) -> Socket {
        Socket(Inner::Unix(stream))
    }

    pub(crate) fn from_tls(stream: TlsStream<Socket>) -> Socket {
        Socket(Inner::Tls(Box::new(stream)))
    }

    /// The TCP stream under any TLS layer, if this is TCP.
    fn tcp(&self) -> Option<&TcpStream> {
        match &self.0 {
            Inner::Tcp(tcp) => Some(tcp),
            Inner::Unix(_) => None,
            Inner::Tls(tls) => tls.get_ref().0.tcp(),
        }
    }

    /// True when TLS runs over this socket.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    /// Turns TCP keepalive probes on: the first after `idle` without traffic, then every
    /// `interval`, the connection dropped after `retries` unanswered (no-op on unix sockets).
    pub fn set_tcp_keepalive(
        &self,
        idle: Duration,
        interval: Duration,
        retries: u32,
    ) -> io::Result<()> {
        if let Some(tcp) = self.tcp() {
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(idle)
                .with_interval(interval)
                .with_retries(retries);
            socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive)?;
        }
        Ok(())
    }

    /// True for a TCP socket (with or without TLS).
    pub fn is_tcp(&self) -> bool {
        self.tcp().is_some()
    }

    /// Splits into owned read and write halves (each can move to its own task).
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self.0 {
            Inner::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf(ReadInner::Tcp(r)), WriteHalf(WriteInner::Tcp(w)))
            }
            Inner::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadHalf(ReadInner::Unix(r)), WriteHalf(WriteInner::Unix(w)))
            }
            Inner::Tls(s) => {
                let (r, w) = tokio::io::split(s);
                (ReadHalf(ReadInner::Tls(r)), WriteHalf(WriteInner::Tls(w)))
            }
        }
    }

    /// Closes the socket with a TCP RST instead of a FIN (a plain close for unix sockets).
    pub fn reset(self) {
        if let Some(tcp) = self.tcp() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
        drop(self);
    }
}

/// The read half of a [`Socket`].
#[derive(Debug)]
pub struct ReadHalf(ReadInner);

#[derive(Debug)]
enum ReadInner {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
    Tls(tokio::io::ReadHalf<Box<TlsStream<Socket>>>),
}

/// The write half of a [`Socket`]. Dropping it sends a FIN on TCP.
#[derive(Debug)]
pub struct WriteHalf(WriteInner);

#[derive(Debug)]
enum WriteInner {
    Tcp(tcp::OwnedWriteHalf),
    Unix(unix::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<Box<TlsStream<Socket>>>),
}

impl ReadHalf {
    /// Joins the halves of one socket again, so it can be closed without the FIN that
    /// dropping a write half sends; `None` when they belong to different sockets.
    pub fn reunite(self, write: WriteHalf) -> Option<Socket> {
        match (self.0, write.0) {
            (ReadInner::Tcp(r), WriteInner::Tcp(w)) => {
                r.reunite(w).ok().map(|s| Socket(Inner::Tcp(s)))
            }
            (ReadInner::Unix(r), WriteInner::Unix(w)) => {
                r.reunite(w).ok().map(|s| Socket(Inner::Unix(s)))
            }
            (ReadInner::Tls(r), WriteInner::Tls(w)) if r.is_pair_of(&w) => {
                Some(Socket(Inner::Tls(r.unsplit(w))))
            }
            _ => None,
        }
    }
}

macro_rules! delegate_read {
    ($ty:ident, $inner:ident) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
                    $inner::Unix(s) => Pin::new(s).poll_read(cx, buf),
                    $inner::Tls(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
}

macro_rules! delegate_write {
    ($ty:ident, $inner:ident) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match &mut self.get_mut().0 {
                    $inner::Tcp(w) => Pin::new(w).poll_write(cx, buf),
                    $inner::Unix(w) => Pin::new(w).poll_write(cx, buf),
                    $inner::Tls(w) => Pin::new(w).poll_write(cx, buf),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $inner::Tcp(w) => Pin::new(w).poll_flush(cx),
                    $inner::Unix(w) => Pin::new(w).poll_flush(cx),
                    $inner::Tls(w) => Pin::new(w).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match &mut self.get_mut().0 {
                    $inner::Tcp(w) => Pin::new(w).poll_shutdown(cx),
                    $inner::Unix(w) => Pin::new(w).poll_shutdown(cx),
                    $inner::Tls(w) => Pin::new(w).poll_shutdown(cx),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match &mut self.get_mut().0 {
                    $inner::Tcp(w) => Pin::new(w).poll_write_vectored(cx, bufs),
                    $inner::Unix(w) => Pin::new(w).poll_write_vectored(cx, bufs),
                    $inner::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                true
            }
        }
    };
}

delegate_read!(Socket, Inner);
delegate_read!(ReadHalf, ReadInner);
delegate_write!(Socket, Inner);
delegate_write!(WriteHalf, WriteInner);
