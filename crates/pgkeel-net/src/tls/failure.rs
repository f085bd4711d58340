//! TLS failures that retrying cannot fix — the server's certificate refused, the server
//! without TLS under `sslmode=require` or stronger, our client certificate refused — found in
//! an error's chain of causes, with the cause and the fix in one sentence.

use std::error::Error as StdError;
use std::fmt;

use rustls::{AlertDescription, CertificateError};

/// A TLS failure that needs someone to change a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate was not accepted (untrusted CA, wrong name, expired).
    ServerCertificate(String),
    /// The server answered the SSLRequest with `N` and the mode forbids plaintext.
    NotOffered,
    /// The server refused the handshake: no client certificate, or one it does not trust.
    ClientCertificate(String),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::ServerCertificate(why) => f.write_str(why),
            TlsFailure::NotOffered => f.write_str(
                "the server does not support TLS and sslmode requires it; turn ssl = on in the \
                 server's postgresql.conf (with ssl_cert_file/ssl_key_file), or use \
                 sslmode=prefer to allow plaintext",
            ),
            TlsFailure::ClientCertificate(why) => f.write_str(why),
        }
    }
}

impl StdError for TlsFailure {}

/// The error the replication client (and the proxy) raise when the server answers `N`.
pub(crate) fn not_offered() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        TlsFailure::NotOffered,
    )
}

/// The TLS failure among the causes of `error`, if any.
pub fn tls_failure(error: &(dyn StdError + 'static)) -> Option<TlsFailure> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = judge(e) {
            return Some(found);
        }
        // io::Error's `source` skips the error it wraps: look inside it first.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(found) = judge(inner)
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

fn judge(e: &(dyn StdError + 'static)) -> Option<TlsFailure> {
    if let Some(failure) = e.downcast_ref::<TlsFailure>() {
        return Some(failure.clone());
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return match tls {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                Some(TlsFailure::ServerCertificate(other.0.to_string()))
            }
            rustls::Error::InvalidCertificate(other) => Some(TlsFailure::ServerCertificate(
                format!("the server's certificate was refused: {other}"),
            )),
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::CertificateRequired
                | AlertDescription::HandshakeFailure
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::AccessDenied),
            ) => Some(TlsFailure::ClientCertificate(format!(
                "the server refused the TLS handshake ({alert:?}): it wants a client \
                 certificate it trusts; give one with sslcert=FILE and sslkey=FILE (or \
                 PGSSLCERT/PGSSLKEY) signed by the CA in the server's ssl_ca_file"
            ))),
            _ => None,
        };
    }
    // tokio-postgres's own refusal under sslmode=require (a client-side message).
    if e.source().is_none() && e.to_string() == "server does not support TLS" {
        return Some(TlsFailure::NotOffered);
    }
    None
}
