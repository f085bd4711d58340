//! `pgkeel serve` as a child process, and its `/ready` endpoint polled with a bare HTTP/1.1
//! GET on a new TCP connection per request.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The running `pgkeel serve`.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) admin: SocketAddr,
}

/// Starts `<bin> serve --database-url <url> --admin-listen 127.0.0.1:0 --schemas public`
/// (stderr to `log`) and reads its `PGKEEL_ADMIN=` line.
pub(crate) async fn start(bin: &Path, url: &str, log: &Path) -> Result<Serve, BoxError> {
    let stderr = std::fs::File::create(log)?;
    let mut child = Command::new(bin)
        .args(["serve", "--database-url", url])
        .args(["--admin-listen", "127.0.0.1:0", "--schemas", "public"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {} serve: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout of pgkeel serve")?;
    let mut lines = BufReader::new(stdout).lines();
    let admin = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix("PGKEEL_ADMIN=") {
                return Ok::<_, BoxError>(addr.trim().parse::<SocketAddr>()?);
            }
        }
        Err("pgkeel serve exited before printing PGKEEL_ADMIN=".into())
    })
    .await
    .map_err(|_| "pgkeel serve printed no PGKEEL_ADMIN= within 30 s")??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Serve { child, admin })
}

/// One answer of `/ready` (or the failure to get one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Poll {
    pub(crate) at: Instant,
    /// `None`: no HTTP answer (refused, timeout).
    pub(crate) status: Option<u16>,
    /// From the 503 body: `starting`, `recovering`, `ready` (then `loading`), ...
    pub(crate) state: Option<String>,
    pub(crate) attempt: Option<u64>,
    pub(crate) next_retry_in_ms: Option<u64>,
    pub(crate) last_error: Option<String>,
}

impl Poll {
    /// Whether two answers say the same (status, state, attempt, error).
    fn same(&self, other: &Poll) -> bool {
        self.status == other.status
            && self.state == other.state
            && self.attempt == other.attempt
            && self.last_error == other.last_error
    }
}

/// One `GET /ready` on a new connection, read to the end.
pub(crate) async fn ready(admin: SocketAddr) -> Poll {
    let exchange = async {
        let mut stream = TcpStream::connect(admin).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(
                format!("GET /ready HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut response = Vec::with_capacity(512);
        stream.read_to_end(&mut response).await?;
        Ok::<Vec<u8>, BoxError>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(2), exchange).await;
    let at = Instant::now();
    let mut poll = Poll {
        at,
        status: None,
        state: None,
        attempt: None,
        next_retry_in_ms: None,
        last_error: None,
    };
    let Ok(Ok(response)) = response else {
        return poll;
    };
    let text = String::from_utf8_lossy(&response);
    poll.status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body.trim()) {
        poll.state = json["state"].as_str().map(str::to_owned);
        poll.attempt = json["attempt"].as_u64();
        poll.next_retry_in_ms = json["next_retry_in_ms"].as_u64();
        poll.last_error = json["last_error"].as_str().map(str::to_owned);
    }
    poll
}

/// Polls `/ready` every `every` until `want(status)`; returns when the matching answer arrived
/// and every change of answer on the way (the first answer included).
pub(crate) async fn poll_until(
    admin: SocketAddr,
    every: Duration,
    want: impl Fn(Option<u16>) -> bool,
) -> (Instant, Vec<Poll>) {
    let mut changes: Vec<Poll> = Vec::new();
    loop {
        let poll = ready(admin).await;
        let done = want(poll.status);
        let at = poll.at;
        if changes.last().is_none_or(|last| !last.same(&poll)) {
            changes.push(poll);
        }
        if done {
            return (at, changes);
        }
        tokio::time::sleep(every).await;
    }
}
