//! The server side of TLS (the proxy's `--tls terminate`): a rustls `ServerConfig` from PEM
//! files or an in-memory pair, and the handshake on an accepted [`Socket`].

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::authority::PemPair;
use super::client::crypto_provider;
use crate::error::Error;
use crate::socket::Socket;

/// What a TLS server presents: its certificate chain and key.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl ServerTls {
    /// From PEM files: `cert` (chain, leaf first) and `key`.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .map_err(|e| Error::io(format!("read the {what} {}", path.display()), e))
        };
        let pair = PemPair {
            cert: String::from_utf8_lossy(&read(cert, "certificate")?).into_owned(),
            key: String::from_utf8_lossy(&read(key, "private key")?).into_owned(),
        };
        Self::from_pem(&pair)
            .map_err(|e| Error::config(format!("{} / {}: {e}", cert.display(), key.display())))
    }

    /// From an in-memory certificate and key (e.g. [`super::CertificateAuthority::server`]).
    pub fn from_pem(pair: &PemPair) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(pair.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::config(format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(Error::config("no certificate in the PEM text"));
        }
        let key = PrivateKeyDer::from_pem_slice(pair.key.as_bytes())
            .map_err(|e| Error::config(format!("not a PEM private key: {e}")))?;
        let config = ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("cannot set up TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| Error::config(format!("the key does not fit the certificate: {e}")))?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// Completes the server side of a TLS handshake on `socket` (after answering `S` to an
    /// SSLRequest).
    pub async fn accept(&self, socket: Socket) -> std::io::Result<Socket> {
        let stream = tokio_rustls::TlsAcceptor::from(self.config.clone())
            .accept(socket)
            .await?;
        Ok(Socket::from_tls(tokio_rustls::TlsStream::Server(stream)))
    }
}
