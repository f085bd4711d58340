//! How much of the server's certificate is checked, per libpq's `sslmode`: nothing
//! (`prefer`, `require`: encrypted but unauthenticated), the chain to a trusted CA
//! (`verify-ca`), or the chain and the host name (`verify-full`). Failures carry a message that
//! names the CA source and what the certificate names, and says how to fix it.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// What is checked.
#[derive(Debug)]
pub(crate) enum Check {
    /// Encryption only: any certificate is accepted (handshake signatures still verified).
    Nothing,
    /// The chain must end at one of the roots; the name is not checked.
    Chain(Arc<WebPkiServerVerifier>),
    /// The chain and the host name.
    ChainAndName(Arc<WebPkiServerVerifier>),
}

/// A server certificate verifier for one connection string.
#[derive(Debug)]
pub(crate) struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
    /// Where the roots came from, for messages: `/path/ca.crt` or `the system trust store`.
    roots_source: String,
}

impl Verifier {
    pub(crate) fn new(check: Check, provider: Arc<CryptoProvider>, roots_source: String) -> Self {
        Verifier {
            check,
            provider,
            roots_source,
        }
    }

    fn explain(&self, error: rustls::Error, server_name: &ServerName<'_>) -> rustls::Error {
        let rustls::Error::InvalidCertificate(cert_error) = &error else {
            return error;
        };
        let host = server_name.to_str();
        let message = match cert_error {
            CertificateError::UnknownIssuer => format!(
                "the server's certificate is not signed by a CA in {} \
                 (sslmode=verify-ca/verify-full trusts only those); give the CA that signed it \
                 with sslrootcert=FILE or PGSSLROOTCERT",
                self.roots_source
            ),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "the server's certificate is for {}, not `{host}` (sslmode=verify-full checks \
                 the host name); connect with a name the certificate lists, or use \
                 sslmode=verify-ca to check only the CA",
                if presented.is_empty() {
                    "no host name".to_owned()
                } else {
                    presented
                        .iter()
                        .map(|name| plain_name(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            CertificateError::NotValidForName => format!(
                "the server's certificate does not name `{host}` (sslmode=verify-full checks \
                 the host name); connect with a name the certificate lists, or use \
                 sslmode=verify-ca"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired; renew it on the server".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (check the clocks of both machines)"
                    .to_owned()
            }
            other => format!("the server's certificate was refused: {other:?}"),
        };
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Explained(
            message,
        )))))
    }
}

/// `DnsName("db.example")` / `IpAddress(10.0.0.1)` as webpki presents them → the bare name.
fn plain_name(presented: &str) -> &str {
    for prefix in ["DnsName(\"", "IpAddress("] {
        if let Some(rest) = presented.strip_prefix(prefix) {
            return rest.trim_end_matches(')').trim_end_matches('"');
        }
    }
    presented
}

#[derive(Debug)]
struct Explained(String);

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Explained {}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (webpki, name_matters) = match &self.check {
            Check::Nothing => return Ok(ServerCertVerified::assertion()),
            Check::Chain(webpki) => (webpki, false),
            Check::ChainAndName(webpki) => (webpki, true),
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Ok(verified) => Ok(verified),
            // The chain was checked before the name: for verify-ca this is success.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !name_matters => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(self.explain(e, server_name)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
