//! Running the `pgkeel` binary as a child process and inspecting what it leaves behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use pgkeel_embedded::PgBinaries;

/// A `pgkeel` command with the test's environment.
pub(crate) fn pgkeel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgkeel"));
    cmd.env_remove("RUST_LOG");
    cmd.env_remove("PGKEEL_CONTROL_TOKEN");
    cmd
}

/// A running `pgkeel postgres` and the URL it printed.
pub(crate) struct RunningPostgres {
    pub(crate) child: Child,
    pub(crate) url: String,
    _stdout: BufReader<ChildStdout>,
}

impl RunningPostgres {
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = pgkeel()
            .arg("postgres")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim_end()
            .strip_prefix("DATABASE_URL=")
            .unwrap_or_else(|| panic!("first stdout line is not DATABASE_URL=...: {line:?}"))
            .to_owned();
        RunningPostgres {
            child,
            url,
            _stdout: stdout,
        }
    }

    pub(crate) fn signal(&self, signal: i32) {
        assert_eq!(unsafe_kill(self.child.id(), signal), 0);
    }
}

impl Drop for RunningPostgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: u32, signal: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, signal) }
}

/// Runs psql (from the same binaries the server uses) and returns its trimmed output.
pub(crate) fn psql(url: &str, sql: &str) -> String {
    psql_result(url, sql).unwrap_or_else(|stderr| panic!("psql failed: {stderr}"))
}

/// Runs psql and returns its output, or its stderr on failure.
pub(crate) fn psql_result(url: &str, sql: &str) -> Result<String, String> {
    let binaries = PgBinaries::find().unwrap();
    let psql = binaries.program("psql").expect("psql next to postgres");
    let out = Command::new(psql)
        .args([url, "-X", "-A", "-t", "-c", sql])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The postmaster pid recorded in a data directory.
pub(crate) fn postmaster_pid(data_dir: &Path) -> u32 {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// The postmaster and its children.
pub(crate) fn server_processes(data_dir: &Path) -> Vec<u32> {
    let postmaster = postmaster_pid(data_dir);
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let ppid: u32 = s[s.rfind(')')? + 1..]
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()?;
                    Some(ppid == postmaster)
                })
                .unwrap_or(false)
        })
        .collect();
    pids.push(postmaster);
    pids
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s[s.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap();
            state != "Z" && state != "X"
        })
        .unwrap_or(false)
}

/// Waits until none of `pids` is alive; panics naming the survivors if some still are after
/// the test kit's liveness guard.
pub(crate) fn wait_gone(pids: &[u32]) {
    let survivors = || -> Vec<u32> { pids.iter().copied().filter(|p| alive(*p)).collect() };
    wait_until(
        "the server processes are gone",
        || survivors().is_empty(),
        || format!("still alive: {:?}", survivors()),
    );
}

/// Waits until `pred` holds, for a test that is not async: the test kit's `until` (polling
/// every 10 ms, bounded by its liveness guard). If it never holds, `detail` (what the test
/// saw last, a log) is printed beside the panic.
pub(crate) fn wait_until(what: &str, pred: impl FnMut() -> bool, detail: impl Fn() -> String) {
    /// Prints the detail while a panic unwinds through the wait.
    struct OnPanic<F: Fn() -> String>(F);
    impl<F: Fn() -> String> Drop for OnPanic<F> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("while waiting: {}", (self.0)());
            }
        }
    }
    let _detail = OnPanic(detail);
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(pgkeel_testkit::until(what, pred));
}

/// The data directory of the server behind `url`.
pub(crate) fn data_dir(url: &str) -> PathBuf {
    PathBuf::from(psql(url, "SHOW data_directory"))
}
