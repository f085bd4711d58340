//! State shared by everything in one proxy: configuration, the rules in force (swapped
//! atomically, read once per socket read), the recording, the connection registry and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::connection::{Connection, ConnectionInfo, Ending};
use crate::recorder::Recorder;
use crate::rules::{RuleError, RuleSet, compile};
use crate::stats::Stats;
use pgkeel_net::Address;

/// What to do with SSLRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Answer `N` so clients fall back to plaintext (messages stay visible to rules).
    #[default]
    Refuse,
    /// Forward the request; if the server accepts, pass the encrypted stream through untouched
    /// (then only connection-level rules apply).
    Passthrough,
    /// Answer `S` and complete TLS with the client using [`Terminate::server`]; connect
    /// upstream with [`Terminate::upstream`]'s settings. Every rule sees every message.
    Terminate,
}

/// The two TLS sides of `--tls terminate`.
#[derive(Debug, Clone)]
pub struct Terminate {
    /// What the proxy presents to clients.
    pub server: pgkeel_net::tls::ServerTls,
    /// How the proxy connects upstream (`sslmode`, `sslrootcert`, …, as a client).
    pub upstream: pgkeel_net::ClientTls,
}

pub(crate) struct ProxyShared {
    pub(crate) upstream: Address,
    pub(crate) tls: TlsMode,
    pub(crate) terminate: Option<Terminate>,
    pub(crate) seed: u64,
    pub(crate) max_message_len: u32,
    pub(crate) rules: ArcSwap<RuleSet>,
    rules_version: watch::Sender<u64>,
    rules_write: Mutex<()>,
    pub(crate) fired: watch::Sender<u64>,
    pub(crate) recorder: Recorder,
    registry: Mutex<HashMap<u64, Arc<Connection>>>,
    next_conn: AtomicU64,
    pub(crate) stats: Stats,
}

impl ProxyShared {
    pub(crate) fn new(
        upstream: Address,
        tls: TlsMode,
        terminate: Option<Terminate>,
        seed: u64,
        max_message_len: u32,
        record: usize,
    ) -> Self {
        ProxyShared {
            upstream,
            tls,
            terminate,
            seed,
            max_message_len,
            rules: ArcSwap::from_pointee(RuleSet::empty()),
            rules_version: watch::Sender::new(0),
            rules_write: Mutex::new(()),
            fired: watch::Sender::new(0),
            recorder: Recorder::new(record),
            registry: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            stats: Stats::default(),
        }
    }

    /// Compiles `text` and puts it in force; on error the old rules stay.
    pub(crate) fn set_rules(&self, text: &str) -> Result<u64, RuleError> {
        let rules = compile(text)?;
        let _guard = self.rules_write.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.rules.load().version() + 1;
        self.rules
            .store(Arc::new(RuleSet::new(version, text, rules)));
        self.stats.rules_version.store(version, Ordering::Relaxed);
        self.rules_version.send_replace(version);
        tracing::info!(version, rules = text, "rules changed");
        Ok(version)
    }

    pub(crate) fn rules_changes(&self) -> watch::Receiver<u64> {
        self.rules_version.subscribe()
    }

    pub(crate) fn note_fired(&self) {
        Stats::add(&self.stats.rules_fired, 1);
        self.fired.send_modify(|n| *n += 1);
    }

    /// Waits until `rule` (or any rule, for `None`) of the rules in force has fired at least
    /// `min` times; returns the count, or `Err(count)` on timeout.
    pub(crate) async fn wait_fired(
        &self,
        rule: Option<usize>,
        min: u64,
        timeout: Duration,
    ) -> Result<u64, u64> {
        let mut changes = self.fired.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let rules = self.rules.load();
            let counts = rules.fired_counts();
            let count = match rule {
                Some(i) => counts.get(i).copied().unwrap_or(0),
                None => counts.iter().sum(),
            };
            if count >= min {
                return Ok(count);
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return Err(count),
            }
        }
    }

    pub(crate) fn register(&self, client: String) -> Arc<Connection> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Connection::new(id, client));
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&conn));
        Stats::add(&self.stats.connections_total, 1);
        Stats::add(&self.stats.connections_active, 1);
        conn
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.stats
            .connections_active
            .fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        let version = self.rules.load().version();
        let mut list: Vec<ConnectionInfo> = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|c| c.info(version))
            .collect();
        list.sort_by_key(|c| c.id);
        list
    }

    pub(crate) fn end_connection(&self, id: u64, how: Ending) -> bool {
        let conn = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        match conn {
            Some(conn) => {
                conn.end(how);
                true
            }
            None => false,
        }
    }

    pub(crate) fn end_all(&self) {
        for conn in self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            conn.end(Ending::Close);
        }
    }

    /// Resets the connection numbering (Citus's `recorder.reset()` restarts ids at 0).
    pub(crate) fn reset_connection_ids(&self) {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if registry.is_empty() {
            self.next_conn.store(0, Ordering::Relaxed);
        }
    }
}
