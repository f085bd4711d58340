//! What the proxy knows about one client connection, shared by its two forwarding loops, the
//! registry (`GET /connections`) and the control API (`DELETE /connections/{id}`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pgkeel_wire::MessageType;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How a connection is being ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Close both sockets (FIN).
    Close,
    /// Close both sockets with a TCP RST.
    Reset,
}

/// Facts learned from the stream.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) startup: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) backend_pid: Option<i32>,
    pub(crate) backend_key: Option<Vec<u8>>,
    pub(crate) last_auth_request: Option<MessageType>,
    pub(crate) tls: bool,
}

/// An error the server is about to send in reply to a poisoned request, and what to send the
/// client instead (see `inject.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Poison {
    pub(crate) marker: String,
    pub(crate) replacement: Vec<u8>,
}

/// Shared state of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) client: String,
    pub(crate) started_ms: u64,
    pub(crate) facts: Mutex<Facts>,
    pub(crate) bytes_from_client: AtomicU64,
    pub(crate) bytes_from_server: AtomicU64,
    pub(crate) stalled_version: AtomicU64,
    ending: AtomicU8,
    pub(crate) end: CancellationToken,
    /// Bytes to send the client before closing (an injected FATAL error).
    pub(crate) farewell: Mutex<Option<Vec<u8>>>,
    pub(crate) poisons: Mutex<Vec<Poison>>,
    pub(crate) poison_count: AtomicU64,
}

/// A row of `GET /connections`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    /// Connection id (as in the recording).
    pub id: u64,
    /// Client address (`unix` for unix sockets).
    pub client: String,
    /// Milliseconds since the Unix epoch when it was accepted.
    pub started_ms: u64,
    /// Startup parameter `user`.
    pub user: Option<String>,
    /// Startup parameter `database`.
    pub database: Option<String>,
    /// Startup parameter `application_name`.
    pub application_name: Option<String>,
    /// The backend's pid (from BackendKeyData).
    pub backend_pid: Option<i32>,
    /// Bytes received from the client.
    pub bytes_from_client: u64,
    /// Bytes received from the server.
    pub bytes_from_server: u64,
    /// True while `stall()` holds it.
    pub stalled: bool,
    /// True when TLS is passed through (messages are opaque).
    pub tls: bool,
}

impl Connection {
    pub(crate) fn new(id: u64, client: String) -> Self {
        Connection {
            id,
            client,
            started_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            facts: Mutex::new(Facts::default()),
            bytes_from_client: AtomicU64::new(0),
            bytes_from_server: AtomicU64::new(0),
            stalled_version: AtomicU64::new(u64::MAX),
            ending: AtomicU8::new(0),
            end: CancellationToken::new(),
            farewell: Mutex::new(None),
            poisons: Mutex::new(Vec::new()),
            poison_count: AtomicU64::new(0),
        }
    }

    pub(crate) fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the connection (both sides), optionally with a TCP RST.
    pub(crate) fn end(&self, how: Ending) {
        let code = match how {
            Ending::Close => 1,
            Ending::Reset => 2,
        };
        let _ = self
            .ending
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.end.cancel();
    }

    pub(crate) fn ending(&self) -> Option<Ending> {
        match self.ending.load(Ordering::Acquire) {
            1 => Some(Ending::Close),
            2 => Some(Ending::Reset),
            _ => None,
        }
    }

    /// Sends `bytes` to the client, then closes.
    pub(crate) fn end_with_farewell(&self, bytes: Vec<u8>) {
        *self.farewell.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
        self.end(Ending::Close);
    }

    pub(crate) fn is_stalled(&self, rules_version: u64) -> bool {
        self.stalled_version.load(Ordering::Acquire) == rules_version
    }

    pub(crate) fn info(&self, rules_version: u64) -> ConnectionInfo {
        let facts = self.facts();
        let param = |name: &str| {
            facts
                .startup
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        ConnectionInfo {
            id: self.id,
            client: self.client.clone(),
            started_ms: self.started_ms,
            user: param("user"),
            database: param("database"),
            application_name: param("application_name"),
            backend_pid: facts.backend_pid,
            bytes_from_client: self.bytes_from_client.load(Ordering::Relaxed),
            bytes_from_server: self.bytes_from_server.load(Ordering::Relaxed),
            stalled: self.is_stalled(rules_version),
            tls: facts.tls,
        }
    }
}
