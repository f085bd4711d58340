//! TLS for the throwaway cluster: a CA generated per cluster (`pgkeel_net::tls`), a server certificate it
//! signs for `localhost`, `127.0.0.1` and `::1`, and a client certificate for the superuser
//! (for `cert` authentication), all written to `<run dir>/tls/`. The server key belongs to the
//! server's user with mode 0600, as PostgreSQL demands.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pgkeel_net::tls::{CertificateAuthority, LOCAL_NAMES};

use crate::error::{Error, Result};
use crate::run_as::RunAs;

/// How TCP clients must use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpTls {
    /// `ssl = on`; TCP clients may connect with or without TLS (`host` lines).
    Optional,
    /// TCP connections must use TLS (`hostssl` lines only); unix sockets stay plaintext.
    Required,
    /// TLS required, and TCP clients log in with a client certificate whose CN is the role
    /// name (`hostssl … cert`), signed by the cluster's CA.
    ClientCertificate,
}

/// The files of a cluster's TLS setup.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the server and client certificates (give it as `sslrootcert`).
    pub root_cert: PathBuf,
    /// The server certificate and key (`ssl_cert_file`, `ssl_key_file`).
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    /// A client certificate and key for the role `postgres` (`sslcert`, `sslkey`).
    pub client_cert: PathBuf,
    /// The client key (mode 0600, owned by this process's user).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// The server settings that turn TLS on with these files.
    pub(crate) fn settings(&self) -> [(&'static str, String); 4] {
        [
            ("ssl", "on".to_owned()),
            ("ssl_cert_file", self.server_cert.display().to_string()),
            ("ssl_key_file", self.server_key.display().to_string()),
            ("ssl_ca_file", self.root_cert.display().to_string()),
        ]
    }
}

/// Generates the CA and certificates into `dir` (created), the server key owned by `run_as`.
pub(crate) fn generate(dir: &Path, run_as: &RunAs, client_role: &str) -> Result<TlsFiles> {
    let fail = |e: pgkeel_net::Error| Error::InvalidConfig(format!("TLS setup: {e}"));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    run_as.own(dir)?;
    let ca = CertificateAuthority::generate("pgkeel-embedded CA").map_err(fail)?;
    let server = ca.server(&LOCAL_NAMES).map_err(fail)?;
    let client = ca.client(client_role).map_err(fail)?;
    let files = TlsFiles {
        root_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    write(&files.root_cert, ca.cert_pem(), 0o644)?;
    write(&files.server_cert, &server.cert, 0o644)?;
    write(&files.server_key, &server.key, 0o600)?;
    run_as.own(&files.server_key)?;
    write(&files.client_cert, &client.cert, 0o644)?;
    write(&files.client_key, &client.key, 0o600)?;
    Ok(files)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}
