//! Finding the local PostgreSQL server binaries: `PGKEEL_PG_BIN`, then `PATH`, then the newest
//! `/usr/lib/postgresql/*/bin`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result, SearchedPaths};

/// The environment variable naming the directory that holds `initdb` and `postgres`.
pub const PG_BIN_ENV: &str = "PGKEEL_PG_BIN";

/// Where Debian and Ubuntu install one directory per major version.
pub const DEFAULT_LIB_ROOT: &str = "/usr/lib/postgresql";

const REQUIRED: [&str; 2] = ["initdb", "postgres"];

/// Where to look for binaries; [`SearchPaths::from_env`] reads the real environment.
#[derive(Debug, Clone)]
pub struct SearchPaths {
    /// Value of `PGKEEL_PG_BIN`, if set: the only place looked at when present.
    pub pg_bin: Option<OsString>,
    /// Value of `PATH`.
    pub path: Option<OsString>,
    /// Directory holding one sub-directory per version, each with a `bin/` (Debian layout).
    pub lib_root: PathBuf,
}

impl SearchPaths {
    /// The search paths of this process: `PGKEEL_PG_BIN`, `PATH`, `/usr/lib/postgresql`.
    pub fn from_env() -> Self {
        SearchPaths {
            pg_bin: std::env::var_os(PG_BIN_ENV).filter(|v| !v.is_empty()),
            path: std::env::var_os("PATH"),
            lib_root: PathBuf::from(DEFAULT_LIB_ROOT),
        }
    }
}

/// A directory with a usable `initdb` and `postgres`, and the server version they report.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    dir: PathBuf,
    version: String,
}

impl PgBinaries {
    /// Finds the binaries using this process's environment.
    pub fn find() -> Result<Self> {
        Self::find_in(&SearchPaths::from_env())
    }

    /// Finds the binaries in the given places (see [`SearchPaths`]).
    pub fn find_in(search: &SearchPaths) -> Result<Self> {
        if let Some(dir) = &search.pg_bin {
            return Self::from_dir(PathBuf::from(dir));
        }
        let mut searched = Vec::new();
        if let Some(path) = &search.path {
            for dir in std::env::split_paths(path) {
                if dir.as_os_str().is_empty() {
                    continue;
                }
                if has_all(&dir) {
                    return Self::from_dir(dir);
                }
                searched.push(format!("{} (PATH)", dir.display()));
            }
        } else {
            searched.push("PATH (unset)".to_owned());
        }
        match newest_versioned_bin(&search.lib_root) {
            Some(dir) => Self::from_dir(dir),
            None => {
                searched.push(format!("{}/*/bin", search.lib_root.display()));
                searched.insert(0, format!("{PG_BIN_ENV} (unset)"));
                Err(Error::BinariesNotFound {
                    searched: SearchedPaths(searched),
                })
            }
        }
    }

    /// Uses `dir`, which must hold executable `initdb` and `postgres`. When `postgres` there is a
    /// symlink (e.g. `/usr/local/bin/postgres`), the directory it points into is used instead,
    /// so sibling tools such as `psql` and `pg_recvlogical` are found too.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        for program in REQUIRED {
            if !is_executable(&dir.join(program)) {
                return Err(Error::IncompleteBinDir {
                    dir,
                    missing: program,
                });
            }
        }
        let dir = std::fs::canonicalize(dir.join("postgres"))
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
            .filter(|real| has_all(real))
            .unwrap_or(dir);
        let version = server_version(&dir.join("postgres"))?;
        Ok(PgBinaries { dir, version })
    }

    /// The directory holding the binaries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    /// Path of `postgres`.
    pub fn postgres(&self) -> PathBuf {
        self.dir.join("postgres")
    }

    /// Path of another program in the same directory (e.g. `psql`, `pg_recvlogical`), if present.
    pub fn program(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.join(name);
        is_executable(&path).then_some(path)
    }

    /// The server version, e.g. `15.18`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The major version, e.g. `15`.
    pub fn major_version(&self) -> u32 {
        major_of(&self.version).unwrap_or(0)
    }
}

fn has_all(dir: &Path) -> bool {
    REQUIRED.iter().all(|p| is_executable(&dir.join(p)))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The `bin/` of the highest numeric version directory under `root`, if any has the programs.
fn newest_versioned_bin(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut candidates: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key: Vec<u32> = name
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<_>>()?;
            Some((key, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_all(bin))
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin)
}

/// Runs `postgres --version` (allowed as root) and returns e.g. `15.18`.
fn server_version(postgres: &Path) -> Result<String> {
    let output = Command::new(postgres)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("run `{} --version`", postgres.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text).ok_or_else(|| {
        Error::io(
            format!("read the version of {}", postgres.display()),
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unexpected `--version` output: {:?}", text.trim()),
            ),
        )
    })
}

/// Extracts `15.18` from `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
pub(crate) fn parse_version(text: &str) -> Option<String> {
    let rest = text.split("(PostgreSQL)").nth(1)?;
    let version = rest.split_whitespace().next()?;
    major_of(version)?;
    Some(version.to_owned())
}

fn major_of(version: &str) -> Option<u32> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_version_line() {
        let v = parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n");
        assert_eq!(v.as_deref(), Some("15.18"));
        assert_eq!(major_of("15.18"), Some(15));
        assert_eq!(major_of("17beta1"), Some(17));
    }

    #[test]
    fn rejects_unrelated_output() {
        assert_eq!(parse_version("bash: postgres: not found"), None);
        assert_eq!(parse_version("postgres (PostgreSQL) x.y"), None);
    }
}
