//! One running postmaster: spawn it, wait until it accepts connections, shut it down (smart,
//! fast, immediate) or SIGKILL it like a crash.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::log_tail::log_tail;
use crate::procfs;
use crate::run_as::RunAs;
use crate::spawn::spawn_tied;

/// How to stop the server, as in `pg_ctl stop -m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Wait for clients to disconnect (SIGTERM).
    Smart,
    /// Disconnect clients, checkpoint, exit (SIGINT). The default.
    Fast,
    /// Exit at once without a checkpoint; the next start runs crash recovery (SIGQUIT).
    Immediate,
}

impl Shutdown {
    fn signal(self) -> Signal {
        match self {
            Shutdown::Smart => Signal::SIGTERM,
            Shutdown::Fast => Signal::SIGINT,
            Shutdown::Immediate => Signal::SIGQUIT,
        }
    }
}

const LOG_TAIL_LINES: usize = 20;
const POLL: Duration = Duration::from_millis(10);

pub(crate) struct Postmaster {
    child: Child,
}

impl std::fmt::Debug for Postmaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postmaster(pid {})", self.pid())
    }
}

impl Postmaster {
    /// Starts `postgres -D data_dir <args>` as `run_as`, logging to `log`.
    pub(crate) fn spawn(
        postgres: &Path,
        run_as: &RunAs,
        data_dir: &Path,
        args: &[OsString],
        log: &Path,
    ) -> Result<Self> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("open server log {}", log.display()), e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| Error::io("duplicate the log file handle", e))?;
        let mut cmd = Command::new(postgres);
        cmd.arg("-D")
            .arg(data_dir)
            .args(args)
            .current_dir(data_dir.parent().unwrap_or(Path::new("/")))
            .env_remove("PGDATA")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            // Own process group: a Ctrl-C in the terminal reaches us, and we stop the server.
            .process_group(0);
        run_as.apply(&mut cmd);
        // On our death the postmaster gets SIGQUIT: an immediate shutdown that also stops its
        // backends and releases shared memory.
        let child = spawn_tied(cmd, Signal::SIGQUIT)
            .map_err(|e| Error::io(format!("start {}", postgres.display()), e))?;
        tracing::debug!(pid = child.id(), data_dir = %data_dir.display(), "postmaster spawned");
        Ok(Postmaster { child })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the postmaster has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `postmaster.pid` says `ready` for this postmaster.
    pub(crate) fn wait_ready(
        &mut self,
        data_dir: &Path,
        log: &Path,
        timeout: Duration,
    ) -> Result<()> {
        let pid_file = data_dir.join("postmaster.pid");
        let deadline = Instant::now() + timeout;
        let mut last_status = String::from("no postmaster.pid yet");
        loop {
            if let Some(status) = self.exited() {
                return Err(Error::StartupExited {
                    status,
                    log: log.to_owned(),
                    tail: log_tail(log, LOG_TAIL_LINES),
                });
            }
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                let lines: Vec<&str> = text.lines().collect();
                let pid_matches = lines.first().map(|l| l.trim()) == Some(&*self.pid().to_string());
                if pid_matches {
                    last_status = lines
                        .get(7)
                        .map(|s| s.trim())
                        .unwrap_or("starting")
                        .to_owned();
                    if last_status == "ready" {
                        return Ok(());
                    }
                } else {
                    last_status = "postmaster.pid belongs to an earlier server".to_owned();
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::StartupTimeout {
                    timeout,
                    pid: self.pid(),
                    pid_file,
                    last_status,
                    log: log.to_owned(),
                    tail: log_tail(log, LOG_TAIL_LINES),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the server with `mode`; escalates to immediate, then SIGKILL, after `timeout` each.
    pub(crate) fn shutdown(mut self, mode: Shutdown, timeout: Duration) -> Result<ExitStatus> {
        let mut steps = vec![mode.signal()];
        if mode != Shutdown::Immediate {
            steps.push(Signal::SIGQUIT);
        }
        steps.push(Signal::SIGKILL);
        for signal in steps {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            let _ = kill(Pid::from_raw(self.pid() as i32), signal);
            if let Some(status) = self.wait_for_exit(timeout)? {
                return Ok(status);
            }
            tracing::warn!(
                pid = self.pid(),
                ?signal,
                ?timeout,
                "postmaster did not stop in time; escalating"
            );
        }
        self.child
            .wait()
            .map_err(|e| Error::io("wait for the postmaster", e))
    }

    /// SIGKILLs the postmaster, like a crash, and waits until its backends have noticed and exited
    /// (a new postmaster cannot start while they still hold the shared memory).
    pub(crate) fn kill(mut self, orphans_timeout: Duration) -> Result<()> {
        let children = procfs::children_of(self.pid());
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGKILL);
        self.child
            .wait()
            .map_err(|e| Error::io("wait for the killed postmaster", e))?;
        let mut deadline = Instant::now() + orphans_timeout;
        let mut escalated = false;
        loop {
            let alive: Vec<u32> = children
                .iter()
                .copied()
                .filter(|p| procfs::is_alive(*p))
                .collect();
            if alive.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if escalated {
                    tracing::warn!(?alive, "processes of the killed server are still alive");
                    return Ok(());
                }
                tracing::warn!(?alive, "backends outlived their postmaster; killing them");
                for pid in &alive {
                    let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
                }
                escalated = true;
                deadline = Instant::now() + Duration::from_secs(5);
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Some(status)),
                Ok(None) if Instant::now() >= deadline => return Ok(None),
                Ok(None) => std::thread::sleep(POLL),
                Err(e) => return Err(Error::io("wait for the postmaster", e)),
            }
        }
    }
}
