//! Which operating-system user runs `initdb` and `postgres`: ourselves, or — when we are root,
//! which PostgreSQL refuses — an unprivileged system user (default `postgres`).

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, User, geteuid};

use crate::error::{Error, Result};

/// Environment variable naming the user to run PostgreSQL as when pgkeel runs as root.
pub const PG_USER_ENV: &str = "PGKEEL_PG_USER";

/// Default user for PostgreSQL processes when pgkeel runs as root.
pub const DEFAULT_PG_USER: &str = "postgres";

/// The identity the server processes run under.
#[derive(Debug, Clone)]
pub(crate) struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
    /// True when we are root and must switch to `uid`/`gid` in the child.
    switch: bool,
}

impl RunAs {
    /// Resolves the user: `requested`, else `PGKEEL_PG_USER`, else `postgres` when root;
    /// the current user otherwise.
    pub(crate) fn resolve(requested: Option<&str>) -> Result<Self> {
        let euid = geteuid();
        if !euid.is_root() {
            let me = User::from_uid(euid).ok().flatten();
            let name = me
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_else(|| euid.to_string());
            if let Some(req) = requested
                && req != name
            {
                return Err(Error::RunAsUserUnusable {
                    user: req.to_owned(),
                    reason: format!(
                        "only root can run PostgreSQL as another user; this process runs as `{name}`"
                    ),
                });
            }
            return Ok(RunAs {
                name,
                uid: euid,
                gid: nix::unistd::getegid(),
                switch: false,
            });
        }
        let env_user = std::env::var(PG_USER_ENV).ok().filter(|s| !s.is_empty());
        let name = requested
            .map(str::to_owned)
            .or(env_user)
            .unwrap_or_else(|| DEFAULT_PG_USER.to_owned());
        let user = User::from_name(&name)
            .map_err(|e| Error::RunAsUserUnusable {
                user: name.clone(),
                reason: format!("looking it up failed: {e}"),
            })?
            .ok_or_else(|| Error::RunAsUserMissing { user: name.clone() })?;
        if user.uid.is_root() {
            return Err(Error::RunAsUserUnusable {
                user: name,
                reason: "it has uid 0, and PostgreSQL refuses to run as root".to_owned(),
            });
        }
        Ok(RunAs {
            name,
            uid: user.uid,
            gid: user.gid,
            switch: true,
        })
    }

    /// The user name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Makes `cmd` run as this user (a no-op unless we are root).
    pub(crate) fn apply(&self, cmd: &mut Command) {
        if self.switch {
            cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
            cmd.env("USER", &self.name).env("LOGNAME", &self.name);
        }
    }

    /// Gives `path` to this user (a no-op unless we are root).
    pub(crate) fn own(&self, path: &Path) -> Result<()> {
        if self.switch {
            chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw())).map_err(|e| {
                Error::io(
                    format!("give {} to user `{}`", path.display(), self.name),
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// Checks that this user can reach `dir` (every ancestor searchable), so a data directory
    /// under e.g. `/root` fails with a clear message instead of an obscure initdb error.
    pub(crate) fn check_reachable(&self, dir: &Path) -> Result<()> {
        if !self.switch {
            return Ok(());
        }
        use std::os::unix::fs::MetadataExt;
        let mut ancestor = dir.parent();
        while let Some(a) = ancestor {
            if a.as_os_str().is_empty() {
                break;
            }
            if let Ok(meta) = std::fs::metadata(a) {
                let mode = meta.mode();
                let searchable = if meta.uid() == self.uid.as_raw() {
                    mode & 0o100 != 0
                } else if meta.gid() == self.gid.as_raw() {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                };
                if !searchable {
                    return Err(Error::RunAsUserUnusable {
                        user: self.name.clone(),
                        reason: format!(
                            "it cannot enter {} (mode {:o}), which is on the way to {}; choose a \
                             directory under /tmp or /var/lib, or `chmod o+x {}`",
                            a.display(),
                            mode & 0o7777,
                            dir.display(),
                            a.display()
                        ),
                    });
                }
            }
            ancestor = a.parent();
        }
        Ok(())
    }
}
