//! The demo's child processes (the stream and the job workers): `pgkeel` itself, started so
//! that they die with the demo (parent-death signal), logging to files in the run directory.
//! They can be killed with SIGKILL and restarted, and are stopped with SIGTERM at the end.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::watch;

/// A line a child prints on stdout when it is ready (again).
pub(super) const READY_LINE: &str = "PGKEEL_DEMO_READY";

/// How to start one child.
#[derive(Debug, Clone)]
pub(super) struct ChildSpec {
    pub(super) name: String,
    pub(super) args: Vec<String>,
    pub(super) log: PathBuf,
}

/// A running child and how often it said it was ready.
pub(super) struct ChildProcess {
    spec: ChildSpec,
    child: Child,
    ready: watch::Receiver<u64>,
    /// Exits the demo did not cause.
    pub(super) unexpected_exits: u32,
}

impl ChildProcess {
    pub(super) fn start(spec: ChildSpec) -> anyhow::Result<ChildProcess> {
        let (child, ready) = spawn(&spec)?;
        Ok(ChildProcess {
            spec,
            child,
            ready,
            unexpected_exits: 0,
        })
    }

    pub(super) fn name(&self) -> &str {
        &self.spec.name
    }

    /// How many times it printed the ready line since it was (re)started.
    pub(super) fn ready_count(&self) -> u64 {
        *self.ready.borrow()
    }

    /// Waits until it printed the ready line at least `count` times since its start.
    pub(super) async fn wait_ready(&mut self, count: u64, timeout: Duration) -> anyhow::Result<()> {
        let name = self.spec.name.clone();
        let log = self.spec.log.display().to_string();
        tokio::time::timeout(timeout, self.ready.wait_for(|n| *n >= count))
            .await
            .map_err(|_| {
                anyhow::anyhow!("{name} did not get ready within {timeout:?} (see {log})")
            })?
            .map_err(|_| anyhow::anyhow!("{name} exited before it was ready (see {log})"))?;
        Ok(())
    }

    /// SIGKILL, reap, start again.
    pub(super) fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, ready) = spawn(&self.spec)?;
        self.child = child;
        self.ready = ready;
        Ok(())
    }

    /// Restarts it if it exited on its own; returns true when it had.
    pub(super) fn restart_if_exited(&mut self) -> anyhow::Result<bool> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                tracing::warn!(child = %self.spec.name, %status, "a demo process exited on its own; restarting it");
                self.unexpected_exits += 1;
                let (child, ready) = spawn(&self.spec)?;
                self.child = child;
                self.ready = ready;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub(super) async fn stop(mut self, grace: Duration) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(child = %self.spec.name, "did not stop within {grace:?}; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(spec: &ChildSpec) -> anyhow::Result<(Child, watch::Receiver<u64>)> {
    let exe = std::env::current_exe().context("cannot find the pgkeel executable")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .with_context(|| format!("cannot open {}", spec.log.display()))?;
    let mut command = Command::new(exe);
    command
        .args(&spec.args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = pgkeel_embedded::spawn_tied(command, Signal::SIGKILL)
        .with_context(|| format!("cannot start {}", spec.name))?;
    let (ready, watcher) = watch::channel(0u64);
    if let Some(stdout) = child.stdout.take() {
        std::thread::Builder::new()
            .name(format!("demo-{}", spec.name))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(line) if line.trim() == READY_LINE => ready.send_modify(|n| *n += 1),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            })
            .context("cannot start a thread reading a child's output")?;
    }
    Ok((child, watcher))
}
