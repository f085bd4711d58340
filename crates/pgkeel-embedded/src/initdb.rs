//! Creating a data directory: run `initdb`, or copy a cached template made by an earlier
//! `initdb` with the same binaries and options (a copy takes ~0.1 s, initdb ~0.7 s).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::binaries::PgBinaries;
use crate::error::{Error, Result};
use crate::run_as::RunAs;

/// The bootstrap superuser every embedded cluster has.
pub const SUPERUSER: &str = "postgres";

/// Set to any non-empty value to always run `initdb` instead of copying a cached template.
pub const NO_CACHE_ENV: &str = "PGKEEL_EMBEDDED_NO_CACHE";

/// Bump when the initdb arguments or the cache layout change.
const CACHE_FORMAT: u32 = 1;

fn initdb_args(data_dir: &Path, sync: bool) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "-D".into(),
        data_dir.into(),
        "--auth=trust".into(),
        format!("--username={SUPERUSER}").into(),
        "--encoding=UTF8".into(),
        "--locale=C".into(),
    ];
    if !sync {
        args.push("--no-sync".into());
    }
    args
}

/// Makes `data_dir` (which must not exist yet) a fresh cluster owned by `run_as`.
pub(crate) fn create_data_dir(
    binaries: &PgBinaries,
    run_as: &RunAs,
    data_dir: &Path,
    use_cache: bool,
) -> Result<()> {
    let use_cache = use_cache && std::env::var_os(NO_CACHE_ENV).is_none_or(|v| v.is_empty());
    if !use_cache {
        return run_initdb(binaries, run_as, data_dir, true);
    }
    let template = cached_template(binaries, run_as)?;
    copy_tree(&template, data_dir, run_as)
}

fn run_initdb(binaries: &PgBinaries, run_as: &RunAs, data_dir: &Path, sync: bool) -> Result<()> {
    let parent = data_dir.parent().unwrap_or(Path::new("/"));
    run_as.check_reachable(data_dir)?;
    let mut cmd = Command::new(binaries.initdb());
    cmd.args(initdb_args(data_dir, sync))
        .current_dir(parent)
        .env("LC_ALL", "C")
        .env_remove("PGDATA")
        .stdin(Stdio::null())
        .process_group(0);
    run_as.apply(&mut cmd);
    tracing::debug!(data_dir = %data_dir.display(), user = run_as.name(), "running initdb");
    let output = cmd
        .output()
        .map_err(|e| Error::io(format!("run {}", binaries.initdb().display()), e))?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Initdb {
            data_dir: data_dir.to_owned(),
            status: output.status,
            output: text,
        });
    }
    Ok(())
}

use std::os::unix::process::CommandExt;

/// Returns the template data directory for these binaries and this user, creating it once.
fn cached_template(binaries: &PgBinaries, run_as: &RunAs) -> Result<PathBuf> {
    let root = std::env::temp_dir().join("pgkeel-initdb-cache");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&root)
        .map_err(|e| Error::io(format!("create cache directory {}", root.display()), e))?;
    let key = cache_key(binaries, run_as);
    let entry = root.join(format!("{key:016x}"));
    let template = entry.join("data");
    if template.join("PG_VERSION").is_file() {
        return Ok(template);
    }
    // Build beside the final name, then rename: readers never see a half-made template, and
    // when two processes race the loser discards its copy.
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let staging = root.join(format!(
        "{key:016x}.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&staging)
        .map_err(|e| Error::io(format!("create {}", staging.display()), e))?;
    run_as.own(&staging)?;
    let result = run_initdb(binaries, run_as, &staging.join("data"), false);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if std::fs::rename(&staging, &entry).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    if template.join("PG_VERSION").is_file() {
        Ok(template)
    } else {
        Err(Error::io(
            format!("use cached template {}", template.display()),
            std::io::Error::new(std::io::ErrorKind::NotFound, "template vanished"),
        ))
    }
}

/// Identifies binaries + options + owner, stable across Rust versions (FNV-1a).
fn cache_key(binaries: &PgBinaries, run_as: &RunAs) -> u64 {
    let postgres = binaries.postgres();
    let mtime = std::fs::metadata(&postgres).map(|m| m.mtime()).unwrap_or(0);
    let text = format!(
        "{CACHE_FORMAT}|{}|{}|{mtime}|{}|{:?}",
        postgres.display(),
        binaries.version(),
        run_as.name(),
        initdb_args(Path::new("-"), false)
    );
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Copies a directory tree, keeping modes, giving every entry to `run_as`.
fn copy_tree(from: &Path, to: &Path, run_as: &RunAs) -> Result<()> {
    let meta =
        std::fs::metadata(from).map_err(|e| Error::io(format!("read {}", from.display()), e))?;
    std::fs::DirBuilder::new()
        .mode(meta.permissions().mode() & 0o7777)
        .create(to)
        .map_err(|e| Error::io(format!("create {}", to.display()), e))?;
    run_as.own(to)?;
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("read {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("read {}", from.display()), e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("stat {}", source.display()), e))?;
        if kind.is_dir() {
            copy_tree(&source, &target, run_as)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source)
                .map_err(|e| Error::io(format!("read link {}", source.display()), e))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| Error::io(format!("create link {}", target.display()), e))?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| {
                Error::io(
                    format!("copy {} to {}", source.display(), target.display()),
                    e,
                )
            })?;
            run_as.own(&target)?;
        }
    }
    Ok(())
}
