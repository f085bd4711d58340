//! The cluster's `pg_hba.conf` (kept in the run directory, never in the data directory): unix
//! socket always `trust` (the admin connection relies on it), TCP `trust` or the password
//! role's method (`scram-sha-256`, `md5`, `password`) — over `host` lines, or `hostssl` only
//! when TLS is required, with method `cert` for client-certificate login.

use std::path::Path;

use crate::error::{Error, Result};
use crate::tls::TcpTls;

/// Writes the file; `tcp` is the method of every TCP connection.
pub(crate) fn write(path: &Path, tcp: &str, tls: Option<TcpTls>) -> Result<()> {
    let (kind, method) = match tls {
        None | Some(TcpTls::Optional) => ("host   ", tcp),
        Some(TcpTls::Required) => ("hostssl", tcp),
        Some(TcpTls::ClientCertificate) => ("hostssl", "cert"),
    };
    let text = format!(
        "# Written by pgkeel-embedded; replaced on every start.\n\
         local   all         all                trust\n\
         local   replication all                trust\n\
         {kind} all         all  127.0.0.1/32  {method}\n\
         {kind} replication all  127.0.0.1/32  {method}\n\
         {kind} all         all  ::1/128       {method}\n\
         {kind} replication all  ::1/128       {method}\n"
    );
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}
