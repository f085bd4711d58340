//! `pgkeel listen` as a user runs it: JSON lines on stdout, a gap after its backend was
//! terminated, a clean exit on SIGTERM, exit code 1 and the cause on a wrong password.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pgkeel_embedded::harness::{TestDatabase, private_cluster};
use pgkeel_testkit::LIVENESS;
use serde_json::Value;

use crate::common::{pgkeel, psql, wait_until};

struct RunningListen {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_done: Receiver<()>,
}

impl RunningListen {
    fn start(url: &str, channels: &[&str]) -> Self {
        let mut child = pgkeel()
            .args(["listen", "--database-url", url])
            .args(channels)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (done, stderr_done) = mpsc::channel();
        let mut pipe = child.stderr.take().unwrap();
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            let _ = done.send(());
        });
        RunningListen {
            child,
            lines,
            stderr,
            stderr_done,
        }
    }

    /// The next JSON line on stdout.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(LIVENESS).unwrap_or_else(|e| {
            panic!(
                "no line on stdout ({e}); stderr: {}",
                self.stderr.lock().unwrap()
            )
        });
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// Waits (bounded) for the exit; returns the status and everything written to stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        let mut exited = None;
        wait_until(
            "pgkeel listen exits",
            || {
                exited = self.child.try_wait().unwrap();
                exited.is_some()
            },
            || self.stderr.lock().unwrap().clone(),
        );
        self.stderr_done.recv_timeout(LIVENESS).unwrap();
        (exited.unwrap(), self.stderr.lock().unwrap().clone())
    }
}

impl Drop for RunningListen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn listen_prints_json_lines_relistens_with_a_gap_and_stops_on_sigterm() {
    let db = TestDatabase::new();
    let url = format!("{}?application_name=listen_test", db.url());
    let mut listen = RunningListen::start(&url, &["jobs", "Other Chan"]);

    let first = listen.next();
    assert_eq!(first["event"], "listening", "{first}");
    assert_eq!(first["epoch"], 1, "{first}");
    assert!(first["at"].as_str().unwrap().ends_with('Z'), "{first}");

    psql(&db.url(), "NOTIFY jobs, 'hello'");
    let hello = listen.next();
    assert_eq!(
        (&hello["event"], &hello["channel"], &hello["payload"]),
        (
            &Value::from("notification"),
            &Value::from("jobs"),
            &Value::from("hello")
        ),
        "{hello}"
    );
    assert!(hello["pid"].as_i64().unwrap() > 0, "{hello}");
    psql(&db.url(), "SELECT pg_notify('Other Chan', 'spaced')");
    assert_eq!(listen.next()["payload"], "spaced");

    let terminated = psql(
        &db.url(),
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'listen_test'",
    );
    assert_eq!(terminated, "t");
    let again = listen.next();
    assert_eq!(
        (&again["event"], &again["epoch"]),
        (&Value::from("listening"), &Value::from(2))
    );
    let gap = listen.next();
    assert_eq!(gap["event"], "gap", "{gap}");
    assert_eq!(gap["reconnected"], true, "{gap}");
    assert_eq!(gap["dropped"], 0, "{gap}");
    // Same format and clock: RFC 3339 text in UTC orders like the times.
    assert!(gap["lost_at"].as_str().unwrap() <= gap["relistened_at"].as_str().unwrap());
    psql(&db.url(), "NOTIFY jobs, 'after'");
    assert_eq!(listen.next()["payload"], "after");

    kill(Pid::from_raw(listen.child.id() as i32), Signal::SIGTERM).unwrap();
    let (status, stderr) = listen.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    for logged in ["connection lost", "retry scheduled", "relistening"] {
        assert!(
            stderr.contains(logged),
            "no {logged:?} in the log: {stderr}"
        );
    }
}

#[test]
fn listen_exits_1_with_the_cause_on_a_wrong_password() {
    let cluster = private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    let url = format!("postgres://app:wrong@127.0.0.1:{}/postgres", cluster.port());
    let mut listen = RunningListen::start(&url, &["jobs"]);
    let (status, stderr) = listen.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pgkeel: error:"), "{stderr}");
    assert!(
        stderr.contains("password authentication failed for user \"app\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("check the user name and password"),
        "{stderr}"
    );
    assert!(!stderr.contains("retry scheduled"), "it retried: {stderr}");
    assert!(listen.lines.try_recv().is_err(), "nothing on stdout");
}

#[test]
fn listen_help_teaches_and_channels_are_required() {
    let help = pgkeel().args(["listen", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for part in [
        "Examples:",
        "\"event\":\"gap\"",
        "DATABASE_URL",
        "--keepalive",
    ] {
        assert!(text.contains(part), "no {part:?} in: {text}");
    }
    let missing = pgkeel()
        .args(["listen", "--database-url", "postgres://x@127.0.0.1/x"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("<CHANNEL>"));
}

/// Behind pgbouncer in transaction mode LISTEN "succeeds" and nothing is delivered: instead of
/// `listening` and silence forever, `pgkeel listen` prints a deaf line with what to do.
#[test]
fn listen_behind_transaction_pooling_prints_deaf() {
    let db = TestDatabase::new();
    let bouncer = pgkeel_testkit::Pgbouncer::start(
        db.cluster().port(),
        pgkeel_testkit::PoolMode::Transaction,
    );
    let mut listen =
        RunningListen::start(&bouncer.url(db.name()), &["--keepalive", "500ms", "jobs"]);
    let deaf = listen.next();
    assert_eq!(deaf["event"], "deaf", "{deaf}");
    assert!(
        deaf["hint"]
            .as_str()
            .unwrap()
            .contains("pool_mode = session"),
        "{deaf}"
    );
    assert!(
        deaf["reason"].as_str().unwrap().contains("did not arrive"),
        "{deaf}"
    );
    assert!(deaf["since"].as_str().unwrap().ends_with('Z'), "{deaf}");
    kill(Pid::from_raw(listen.child.id() as i32), Signal::SIGTERM).unwrap();
    let (status, stderr) = listen.wait();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("listener is deaf"), "{stderr}");
}
