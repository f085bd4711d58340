//! The client side of TLS for one connection string: a rustls `ClientConfig` built once from
//! the [`Settings`] (roots, verifier, client certificate, SNI, versions), with every file read
//! at parse time so a missing CA or an unreadable key is a configuration error, not a
//! connection that keeps being retried.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use super::settings::{RootCerts, Settings, SslMode};
use super::verify::{Check, Verifier};
use crate::error::Error;

/// The TLS side of a [`crate::Database`]: its mode and, unless `disable`, the client config.
#[derive(Clone)]
pub struct ClientTls {
    settings: Settings,
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("sslmode", &self.settings.mode)
            .field("roots", &self.settings.roots)
            .field("client_cert", &self.settings.client.as_ref().map(|c| &c.0))
            .finish()
    }
}

/// The crypto provider of every TLS connection pgkeel makes or accepts (see
/// docs/ARCHITECTURE.md, "TLS", for why ring).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl ClientTls {
    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        if settings.mode == SslMode::Disable {
            return Ok(ClientTls {
                settings,
                config: None,
            });
        }
        let provider = crypto_provider();
        let check = match settings.mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
                Check::Nothing
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = load_roots(&settings.roots, settings.mode)?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| {
                            Error::config(format!("cannot use the root certificates: {e}"))
                        })?;
                if settings.mode == SslMode::VerifyFull {
                    Check::ChainAndName(webpki)
                } else {
                    Check::Chain(webpki)
                }
            }
        };
        let roots_source = match &settings.roots {
            RootCerts::File(path) | RootCerts::Missing(path) => path.display().to_string(),
            RootCerts::System => "the system trust store".to_owned(),
        };
        let versions: &[&rustls::SupportedProtocolVersion] = if settings.min_tls13 {
            &[&rustls::version::TLS13]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| Error::config(format!("cannot set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(
                check,
                provider,
                roots_source,
            )));
        let mut config = match &settings.client {
            None => builder.with_no_client_auth(),
            Some((cert, key_path)) => {
                let chain = load_certs(cert, "sslcert")?;
                let key = load_key(key_path)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    Error::config(format!(
                        "the client key {} does not fit the certificate {}: {e}",
                        key_path.display(),
                        cert.display()
                    ))
                })?
            }
        };
        config.enable_sni = settings.sni;
        Ok(ClientTls {
            settings,
            config: Some(Arc::new(config)),
        })
    }

    /// From libpq-style settings given one by one (e.g. `[("sslmode", "verify-full"),
    /// ("sslrootcert", "/ca.crt")]`), without the environment: for a client that is
    /// configured by options of its own (the proxy's upstream side).
    pub fn from_settings(pairs: &[(&str, &str)]) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::new(Settings::resolve(&pairs, &|name| {
            (name == "HOME")
                .then(|| std::env::var("HOME").ok())
                .flatten()
        })?)
    }

    /// The effective `sslmode` (`require` with a root CA file is `verify-ca`, as in libpq).
    pub fn mode(&self) -> SslMode {
        self.settings.mode
    }

    /// Starts TLS on a socket just connected to `host` as the mode says (SSLRequest, then the
    /// handshake; nothing for `disable`, `allow` or a unix socket), for clients that speak the
    /// protocol themselves.
    pub async fn start(&self, socket: crate::Socket, host: &str) -> std::io::Result<crate::Socket> {
        super::negotiate(socket, self, host).await
    }

    /// The rustls config, unless the mode is `disable`.
    pub(crate) fn config(&self) -> Option<&Arc<ClientConfig>> {
        self.config.as_ref()
    }

    /// The name sent as SNI and checked under `verify-full`: a DNS name or an IP literal.
    pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
        ServerName::try_from(host.to_owned()).ok()
    }
}

fn load_roots(roots: &RootCerts, mode: SslMode) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    match roots {
        RootCerts::Missing(path) => {
            return Err(Error::config(format!(
                "sslmode={mode} needs trusted CA certificates, and the root certificate file {} \
                 does not exist; give the CA with sslrootcert=FILE (or PGSSLROOTCERT), use \
                 sslrootcert=system for a public CA, or use sslmode=require to encrypt without \
                 checking the server",
                path.display()
            )));
        }
        RootCerts::File(path) => {
            for cert in load_certs(path, "sslrootcert")? {
                store.add(cert).map_err(|e| {
                    Error::config(format!(
                        "the root certificate file {} (sslrootcert) holds a certificate that \
                         cannot be a trust anchor: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::config(format!(
                    "sslrootcert=system found no CA certificates in the system trust store \
                     ({}); install ca-certificates, or give the CA with sslrootcert=FILE",
                    found
                        .errors
                        .first()
                        .map_or("empty".to_owned(), ToString::to_string)
                )));
            }
        }
    }
    Ok(store)
}

fn load_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format!("read {} ({setting})", path.display()), e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::config(format!(
                "{} ({setting}) is not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{} ({setting}) holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::io(
            format!(
                "read the private key {} (sslkey; it must be readable by this user)",
                path.display()
            ),
            e,
        )
    })?;
    if bytes.windows(b"ENCRYPTED".len()).any(|w| w == b"ENCRYPTED") {
        return Err(Error::config(format!(
            "the private key {} is encrypted; pgkeel reads only unencrypted keys (decrypt it: \
             openssl pkey -in KEY -out KEY.plain)",
            path.display()
        )));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        Error::config(format!(
            "{} is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        ))
    })
}
