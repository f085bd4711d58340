//! The per-cluster run directory under the temp dir: unix socket, server log, pg_hba.conf and
//! (for throwaway clusters) the data directory. Directories left by killed processes are swept.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::procfs;
use crate::run_as::RunAs;

const PREFIX: &str = "pgkeel-";
/// A run directory holding this file is never swept.
pub(crate) const KEEP_MARKER: &str = "KEEP";
/// Only directories holding this file are ours to sweep.
const RUN_DIR_MARKER: &str = ".pgkeel-run-dir";

/// Creates `<tmp>/pgkeel-<pid>-<n>`, owned by `run_as` (the server writes its socket there).
pub(crate) fn create(run_as: &RunAs) -> Result<PathBuf> {
    let tmp = std::env::temp_dir();
    sweep_stale(&tmp);
    static SEQ: AtomicU32 = AtomicU32::new(0);
    loop {
        let dir = tmp.join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Ok(()) => {
                // The mode given above is filtered by the umask; the socket dir must be
                // enterable by clients of other users.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| Error::io(format!("chmod {}", dir.display()), e))?;
                run_as.own(&dir)?;
                std::fs::write(dir.join(RUN_DIR_MARKER), b"")
                    .map_err(|e| Error::io(format!("write marker in {}", dir.display()), e))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::io(
                    format!("create run directory {}", dir.display()),
                    e,
                ));
            }
        }
    }
}

/// Removes run directories whose owning process is dead, unless marked KEEP or still served by a
/// live postmaster. Best effort: failures are logged at debug level.
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        if procfs::is_alive(owner)
            || dir.join(KEEP_MARKER).exists()
            || !dir.join(RUN_DIR_MARKER).exists()
        {
            continue;
        }
        if let Some(pid) = postmaster_pid(&dir.join("data"))
            && procfs::is_alive(pid)
        {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::debug!(dir = %dir.display(), "removed stale run directory"),
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot remove stale run directory")
            }
        }
    }
}

/// The pid on the first line of `<data_dir>/postmaster.pid`, if any.
pub(crate) fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}
