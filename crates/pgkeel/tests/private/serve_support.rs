//! Running `pgkeel serve` in tests: start it, talk to its admin API, wait for states.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::pgkeel;

/// Bounded waits are liveness guards, never speed checks.
pub(crate) const LIVENESS: Duration = Duration::from_secs(30);

pub(crate) struct RunningServe {
    pub(crate) child: Child,
    pub(crate) admin: String,
    pub(crate) log: PathBuf,
}

impl RunningServe {
    /// Starts `pgkeel serve` with test-friendly timings and `extra` arguments.
    pub(crate) fn start(url: &str, extra: &[&str]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "pgkeel-serve-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = pgkeel()
            .args([
                "serve",
                "--database-url",
                url,
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--keepalive",
                "1s",
                "--backoff-cap",
                "200ms",
                "--connect-timeout",
                "2s",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let admin = line
            .trim_end()
            .strip_prefix("PGKEEL_ADMIN=")
            .unwrap_or_else(|| {
                panic!(
                    "expected PGKEEL_ADMIN=..., got {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        RunningServe { child, admin, log }
    }

    /// GET `path`: (status, headers, body).
    pub(crate) fn get(&self, path: &str) -> (u16, String, String) {
        let mut stream = std::net::TcpStream::connect(&self.admin).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.get(path).2).unwrap()
    }

    /// Polls `path` until it answers `status`; returns the body.
    pub(crate) fn wait_status(&self, path: &str, status: u16) -> String {
        let deadline = Instant::now() + LIVENESS;
        loop {
            let (got, _, body) = self.get(path);
            if got == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never answered {status} (last: {got} {body}); log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until the schema generation is at least `n`.
    pub(crate) fn wait_generation(&self, n: u64) -> serde_json::Value {
        let deadline = Instant::now() + LIVENESS;
        loop {
            let schema = self.json("/schema");
            if schema["generation"].as_u64().unwrap_or(0) >= n {
                return schema;
            }
            assert!(
                Instant::now() < deadline,
                "generation never reached {n}: {schema}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.json("/schema")["generation"].as_u64().unwrap()
    }

    pub(crate) fn metric(&self, name_and_labels: &str) -> f64 {
        let (_, _, text) = self.get("/metrics");
        text.lines()
            .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit code.
    pub(crate) fn stop(mut self) -> Option<i32> {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.child.wait().unwrap().code()
    }
}

impl Drop for RunningServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
