//! The proxy as a value: start it (in-process, port 0 welcome), set rules, read the recording,
//! wait for a rule to fire, list and kill connections, shut it down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{ConnectionInfo, Ending};
use pgkeel_net::{Address, Listener};

use crate::control_access::ControlToken;
use crate::error::ProxyError;
use crate::recorder::Record;
use crate::rules::{RuleError, RuleSet};
use crate::shared::{ProxyShared, Terminate, TlsMode};
use crate::{control, control_access, fifo, session};

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where clients connect (`127.0.0.1:0` picks a free port).
    pub listen: Address,
    /// The PostgreSQL server.
    pub upstream: Address,
    /// HTTP control API address, if any. A non-loopback address needs
    /// `control_allow_remote` and a `control_token`.
    pub control: Option<SocketAddr>,
    /// When set, every control request must carry `Authorization: Bearer <token>`.
    pub control_token: Option<ControlToken>,
    /// Allow the control API on a non-loopback address (a token is required then).
    pub control_allow_remote: bool,
    /// Citus's fifo protocol on this path, if any.
    pub fifo: Option<PathBuf>,
    /// Seed for `sometimes(p)` and delay jitter.
    pub seed: u64,
    /// What to do with SSLRequest.
    pub tls: TlsMode,
    /// The certificates and upstream settings of [`TlsMode::Terminate`] (required by it).
    pub terminate: Option<Terminate>,
    /// Messages kept in the recording (0 disables it).
    pub record: usize,
    /// Largest message accepted, in bytes.
    pub max_message_len: u32,
    /// Rules in force from the start.
    pub rules: Option<String>,
}

impl ProxyConfig {
    /// Listens on a free port of 127.0.0.1, forwards to `upstream`, defaults elsewhere.
    pub fn new(upstream: Address) -> Self {
        ProxyConfig {
            listen: Address::tcp("127.0.0.1", 0),
            upstream,
            control: None,
            control_token: None,
            control_allow_remote: false,
            fifo: None,
            seed: 0,
            tls: TlsMode::Refuse,
            terminate: None,
            record: 10_000,
            max_message_len: pgkeel_wire::DEFAULT_MAX_MESSAGE_LEN,
            rules: None,
        }
    }
}

/// A running proxy. Dropping it stops accepting and closes its connections.
pub struct Proxy {
    shared: Arc<ProxyShared>,
    listen: Address,
    control: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("listen", &self.listen)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Binds the listener (and control API, fifo) and starts serving.
    pub async fn start(config: ProxyConfig) -> Result<Self, ProxyError> {
        if config.tls == TlsMode::Terminate && config.terminate.is_none() {
            return Err(ProxyError::Config(
                "TlsMode::Terminate needs ProxyConfig::terminate (a certificate to present)"
                    .to_owned(),
            ));
        }
        if let Some(addr) = config.control {
            control_access::check_config(
                addr,
                config.control_allow_remote,
                config.control_token.as_ref(),
            )?;
        }
        let shared = Arc::new(ProxyShared::new(
            config.upstream.clone(),
            config.tls,
            config.terminate.clone(),
            config.seed,
            config.max_message_len,
            config.record,
        ));
        if let Some(rules) = &config.rules {
            shared.set_rules(rules)?;
        }
        let (listener, listen) = Listener::bind(&config.listen).await?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            shutdown.clone(),
            tasks.clone(),
        ));
        let control = match config.control {
            Some(addr) => {
                let policy = control::Policy {
                    token: config.control_token.clone(),
                    allow_remote: config.control_allow_remote,
                };
                Some(
                    control::serve(addr, policy, Arc::clone(&shared), shutdown.clone(), &tasks)
                        .await?,
                )
            }
            None => None,
        };
        if let Some(path) = &config.fifo {
            fifo::serve(path.clone(), Arc::clone(&shared), shutdown.clone())?;
        }
        tracing::info!(listen = %listen, upstream = %config.upstream, control = ?control, "proxy started");
        Ok(Proxy {
            shared,
            listen,
            control,
            shutdown,
            tasks,
        })
    }

    /// Where clients connect.
    pub fn listen_addr(&self) -> &Address {
        &self.listen
    }

    /// The TCP port clients connect to (None for a unix socket).
    pub fn port(&self) -> Option<u16> {
        self.listen.tcp_port()
    }

    /// The control API's address.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control
    }

    /// Puts new rules in force; returns their version. On error the old rules stay.
    pub fn set_rules(&self, rules: &str) -> Result<u64, RuleError> {
        self.shared.set_rules(rules)
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.shared.rules.load_full()
    }

    /// Waits until rule `rule` (any rule for `None`) of the rules in force fired `min` times.
    /// Returns the count reached, or `Err(count)` after `timeout`.
    pub async fn wait_fired(
        &self,
        rule: Option<usize>,
        min: u64,
        timeout: Duration,
    ) -> Result<u64, u64> {
        self.shared.wait_fired(rule, min, timeout).await
    }

    /// The recording (oldest first).
    pub fn recording(&self) -> Vec<Record> {
        self.shared.recorder.snapshot(0)
    }

    /// Forgets the recording.
    pub fn clear_recording(&self) {
        self.shared.recorder.clear();
    }

    /// Open connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.connections()
    }

    /// Closes one connection (both sides); false if there is no such connection.
    pub fn kill_connection(&self, id: u64) -> bool {
        self.shared.end_connection(id, Ending::Close)
    }

    /// Prometheus text of this proxy's counters.
    pub fn metrics(&self) -> String {
        self.shared.stats.render()
    }

    /// Stops accepting, closes every connection and waits (up to 5 s) for them to finish.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.shared.end_all();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
        if let Some(path) = self.listen.unix_path() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.shared.end_all();
    }
}

async fn accept_loop(
    listener: Listener,
    shared: Arc<ProxyShared>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                tasks.spawn(session::serve(stream, peer, Arc::clone(&shared)));
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
