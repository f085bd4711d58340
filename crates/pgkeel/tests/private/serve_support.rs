//! Running `pgkeel serve` in tests: start it, talk to its admin API, wait for states.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};

use crate::common::{pgkeel, wait_until};

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
        get(&self.admin, path)
    }

    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.get(path).2).unwrap()
    }

    /// Polls `path` until it answers `status`; returns the body.
    pub(crate) fn wait_status(&self, path: &str, status: u16) -> String {
        let mut answered = String::new();
        wait_until(
            &format!("{path} answers {status}"),
            || {
                let (got, _, body) = self.get(path);
                answered = body;
                got == status
            },
            || self.detail(path),
        );
        answered
    }

    /// Polls until the schema generation is at least `n`; returns the schema.
    pub(crate) fn wait_generation(&self, n: u64) -> serde_json::Value {
        let mut schema = serde_json::Value::Null;
        wait_until(
            &format!("the schema generation reaches {n}"),
            || {
                schema = self.json("/schema");
                schema["generation"].as_u64().unwrap_or(0) >= n
            },
            || self.detail("/schema"),
        );
        schema
    }

    /// Waits until the reload that the first LISTEN requests (so a NOTIFY sent before LISTEN
    /// took effect is not lost) is over: the schema generation passed 1 (the load at connect),
    /// or the log says the reload failed. After that, a reload request makes exactly one
    /// more generation. Returns the generation.
    pub(crate) fn wait_first_listen_reload(&self) -> u64 {
        wait_until(
            "the reload requested by the first LISTEN is over",
            || self.generation() >= 2 || self.log_text().contains("reload failed"),
            || self.detail("/schema"),
        );
        self.generation()
    }

    /// What `path` answers now, and the log: printed when a wait fails.
    pub(crate) fn detail(&self, path: &str) -> String {
        let (status, _, body) = self.get(path);
        format!("{path} answers {status} {body}; log:\n{}", self.log_text())
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

/// GET `path` from the HTTP server at `addr` (usable from another thread): (status, headers,
/// body).
pub(crate) fn get(addr: &str, path: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

impl Drop for RunningServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
