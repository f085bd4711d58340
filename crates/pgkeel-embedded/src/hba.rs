//! The cluster's `pg_hba.conf` (kept in the run directory, never in the data directory): unix
//! socket always `trust` (the admin connection relies on it), TCP `trust` or the password
//! role's method (`scram-sha-256`, `md5`, `password`).

use std::path::Path;

use crate::error::{Error, Result};

/// Writes the file; `tcp` is the method of every TCP connection.
pub(crate) fn write(path: &Path, tcp: &str) -> Result<()> {
    let text = format!(
        "# Written by pgkeel-embedded; replaced on every start.\n\
         local all         all                trust\n\
         local replication all                trust\n\
         host  all         all  127.0.0.1/32  {tcp}\n\
         host  replication all  127.0.0.1/32  {tcp}\n\
         host  all         all  ::1/128       {tcp}\n\
         host  replication all  ::1/128       {tcp}\n"
    );
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}
