//! A throwaway certificate authority (rcgen): one CA per run that signs server certificates
//! (for `localhost` and loopback literals, or given names) and client certificates (CN = role),
//! for `pgkeel postgres --tls` and `pgkeel proxy --tls terminate` without certificate files.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::error::Error;

/// The names a generated server certificate is valid for by default.
pub const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct PemPair {
    /// `-----BEGIN CERTIFICATE-----…`
    pub cert: String,
    /// `-----BEGIN PRIVATE KEY-----…` (PKCS#8, unencrypted).
    pub key: String,
}

impl std::fmt::Debug for PemPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PemPair { key: <hidden> }")
    }
}

/// A CA generated in memory.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateAuthority")
    }
}

fn failed(what: &str, e: rcgen::Error) -> Error {
    Error::config(format!("cannot {what}: {e}"))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

impl CertificateAuthority {
    /// A new CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(|e| failed("generate the CA key", e))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| failed("set up the CA certificate", e))?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params
            .self_signed(&key)
            .map_err(|e| failed("sign the CA certificate", e))?;
        Ok(CertificateAuthority {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (what clients give as `sslrootcert`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (DNS names or IP literals).
    pub fn server(&self, names: &[&str]) -> Result<PemPair, Error> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let first = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names)
            .map_err(|e| failed("set up the server certificate", e))?;
        params.distinguished_name = name(&first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, "server")
    }

    /// A client certificate whose CN is `role` (PostgreSQL's `cert` authentication).
    pub fn client(&self, role: &str) -> Result<PemPair, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| failed("set up the client certificate", e))?;
        params.distinguished_name = name(role);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, "client")
    }

    fn sign(&self, params: CertificateParams, what: &str) -> Result<PemPair, Error> {
        let key =
            KeyPair::generate().map_err(|e| failed(&format!("generate the {what} key"), e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| failed(&format!("sign the {what} certificate"), e))?;
        Ok(PemPair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}
