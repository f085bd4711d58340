//! A real pgbouncer (the Debian package) in front of a test cluster: its own config directory,
//! a free loopback port, trust authentication, session or transaction pooling; killed on drop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::wait::LIVENESS;

/// Where pgbouncer is looked for when `PGKEEL_PGBOUNCER` is not set.
const DEFAULT_BINARY: &str = "/usr/sbin/pgbouncer";

/// How pgbouncer hands server connections to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A client keeps one server connection for its whole session (LISTEN works).
    Session,
    /// A client gets a server connection per transaction only (LISTEN is silently lost).
    Transaction,
}

impl PoolMode {
    fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A running pgbouncer; stopped (SIGKILL) and its directory removed on drop.
#[derive(Debug)]
pub struct Pgbouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Pgbouncer {
    /// Starts pgbouncer on a free port of 127.0.0.1 in front of the server on TCP `upstream_port`
    /// of 127.0.0.1 (every database, user `postgres`, trust authentication), in `mode`.
    ///
    /// # Panics
    /// When pgbouncer is not installed or does not start (the message quotes its log).
    pub fn start(upstream_port: u16, mode: PoolMode) -> Pgbouncer {
        let binary = std::env::var_os("PGKEEL_PGBOUNCER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
        assert!(
            binary.exists(),
            "pgbouncer is not installed at {} (apt-get install pgbouncer, or set PGKEEL_PGBOUNCER)",
            binary.display()
        );
        let dir = private_dir();
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            write_config(&dir, upstream_port, port, mode);
            let child = spawn(&binary, &dir);
            match wait_ready(child, port, &dir) {
                Ok(child) => return Pgbouncer { child, dir, port },
                Err(log) if log.contains("Address already in use") => last_log = log,
                Err(log) => {
                    let _ = fs::remove_dir_all(&dir);
                    panic!("pgbouncer did not start; its log:\n{log}");
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("pgbouncer found no free port in 5 tries; its last log:\n{last_log}");
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `dbname` through pgbouncer.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// What pgbouncer logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn private_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pgkeel-pgbouncer-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create pgbouncer's directory");
    // pgbouncer runs as the server's user when we are root: it must read its files.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod pgbouncer's dir");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn write_config(dir: &Path, upstream_port: u16, port: u16, mode: PoolMode) {
    let users = dir.join("userlist.txt");
    let ini = format!(
        "[databases]\n\
         * = host=127.0.0.1 port={upstream_port}\n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {users}\n\
         pool_mode = {mode}\n\
         max_client_conn = 200\n\
         default_pool_size = 20\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         server_login_retry = 1\n",
        users = users.display(),
        mode = mode.name(),
    );
    for (path, text) in [
        (dir.join("pgbouncer.ini"), ini),
        (users, "\"postgres\" \"\"\n".to_owned()),
    ] {
        fs::write(&path, text).expect("write pgbouncer's config");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod config");
    }
}

fn spawn(binary: &Path, dir: &Path) -> Child {
    let log = fs::File::create(dir.join("pgbouncer.log")).expect("create pgbouncer.log");
    let mut command = Command::new(binary);
    // pgbouncer refuses to run as root; -u switches to the server's user.
    if nix::unistd::geteuid().is_root() {
        let user = std::env::var(pgkeel_embedded::PG_USER_ENV)
            .unwrap_or_else(|_| pgkeel_embedded::DEFAULT_PG_USER.to_owned());
        command.args(["-u", &user]);
    }
    command
        .arg(dir.join("pgbouncer.ini"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    pgkeel_embedded::spawn_tied(command, Signal::SIGKILL).expect("spawn pgbouncer")
}

/// Waits until pgbouncer accepts TCP connections; its log when it exited instead.
fn wait_ready(mut child: Child, port: u16, dir: &Path) -> Result<Child, String> {
    let deadline = Instant::now() + LIVENESS;
    let read_log = || fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("(exited with {status})\n{}", read_log()));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "(not listening on {port} within {LIVENESS:?})\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
