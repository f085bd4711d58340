//! The recovering pool: `run(wait, op)` checks a connection out, runs `op`, and handles what
//! can go wrong — waits for recovery when asked to, discards broken connections, retries
//! idempotent operations after a recovery, and fails fast with its own error when the pool is
//! exhausted.

use std::cell::Cell;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{Object, PoolError, TimeoutType};
use pgkeel_net::ConnectError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::class::ErrorClass;
use crate::config::PoolConfig;
use crate::error::{Error, Kind};
use crate::health::Health;
use crate::hooks::{Hook, HookError};
use crate::manager::{CHECKOUT_REPLACED_DEAD, ObservedManager};
use crate::op_error::OpError;
use crate::outcome::{Outcome, Wait};
use crate::stats::{Counters, PoolStats};
use crate::supervisor::{Shared, Signal, supervise};
use crate::telemetry::discard;

/// The client an operation gets: a tokio-postgres client with a statement cache.
pub type Client = deadpool_postgres::ClientWrapper;

/// A connection checked out of the pool, lent to an operation or a hook; derefs to [`Client`].
/// Cheap to clone; it goes back to the pool (or is discarded, if it broke) when the operation
/// is over.
#[derive(Clone)]
pub struct Conn(Arc<Object<ObservedManager>>);

impl Conn {
    pub(crate) fn new(object: Object<ObservedManager>) -> Self {
        Conn(Arc::new(object))
    }

    /// Takes the connection out of the pool for good (it is broken). If the operation kept a
    /// clone, the pool gets it back when that is dropped and checks it then.
    fn discard(self) {
        if let Ok(object) = Arc::try_unwrap(self.0) {
            drop(Object::take(object));
        }
    }
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

/// Sizes of the pool right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    /// The configured maximum.
    pub max_size: usize,
    /// Connections open.
    pub size: usize,
    /// Idle connections.
    pub available: usize,
    /// Callers waiting for one.
    pub waiting: usize,
}

/// Configures hooks, then starts a [`Pool`].
#[derive(Debug)]
pub struct PoolBuilder {
    config: PoolConfig,
    hooks: Vec<Hook>,
}

impl PoolBuilder {
    /// Adds a hook that must succeed, after every (re)connection and before Ready, e.g. to
    /// reload a cache. Hooks run in the order added.
    pub fn on_reconnect<F, Fut>(mut self, name: &str, hook: F) -> Self
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks.push(Hook::new(name, hook));
        self
    }

    /// Starts the supervisor (in the current tokio runtime) and returns at once; the pool is
    /// `Starting` until the first connection and all hooks succeed. Fails only on bad settings.
    pub fn start(self) -> Result<Pool, Error> {
        self.config.validate()?;
        let (signals, receiver) = mpsc::unbounded_channel();
        let database = self.config.connector();
        let manager = ObservedManager::new(database.clone(), &self.config.name, signals.clone());
        let pool = deadpool::managed::Pool::builder(manager)
            .max_size(self.config.max_size)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::config(format!("cannot build the pool: {e}")))?;
        let shared = Arc::new(Shared {
            config: self.config,
            database,
            pool,
            health: watch::Sender::new(Health::Starting {
                attempt: 0,
                next_retry_at: None,
                last_error: None,
            }),
            signals,
            hooks: self.hooks,
            shutdown: CancellationToken::new(),
            counters: Counters::default(),
        });
        tokio::spawn(supervise(Arc::clone(&shared), receiver));
        Ok(Pool { shared })
    }
}

/// A pool of connections that recovers by itself. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.config.name)
            .field("health", &self.health().state())
            .finish()
    }
}

impl Pool {
    /// A builder for `config`.
    pub fn builder(config: PoolConfig) -> PoolBuilder {
        PoolBuilder {
            config,
            hooks: Vec::new(),
        }
    }

    /// Starts a pool without hooks.
    pub fn start(config: PoolConfig) -> Result<Pool, Error> {
        Self::builder(config).start()
    }

    /// The settings.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The health now.
    pub fn health(&self) -> Health {
        self.shared.health.borrow().clone()
    }

    /// Health changes as they happen.
    pub fn subscribe(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    /// Waits until ready; returns the epoch, or the fatal error, or `Unavailable` after
    /// `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<u64, Error> {
        let mut rx = self.subscribe();
        wait_ready(&mut rx, Some(Instant::now() + timeout))
            .await
            .map(|(epoch, _)| epoch)
    }

    /// Asks for an immediate retry (while recovering) or probe (while ready).
    pub fn kick(&self) {
        let _ = self.shared.signals.send(Signal::Kick);
    }

    /// Pool sizes now.
    pub fn status(&self) -> PoolStatus {
        let s = self.shared.pool.status();
        PoolStatus {
            max_size: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        }
    }

    /// What happened so far (losses, recoveries, failed attempts, ...).
    pub fn stats(&self) -> PoolStats {
        self.shared.counters.snapshot()
    }

    /// Stops the supervisor and closes the connections.
    pub fn close(&self) {
        self.shared.shutdown.cancel();
        self.shared.pool.close();
        self.shared
            .health
            .send_replace(Health::Fatal(Error::new(Kind::Closed)));
    }

    /// Runs `op` once on a pooled connection. A lost connection is discarded and reported, and
    /// the error returned (the operation may or may not have taken effect). With
    /// `Wait::UpTo(d)` the call first waits up to `d` for the pool to be ready.
    pub async fn run<T, E, F, Fut>(&self, wait: Wait, op: F) -> Result<Outcome<T>, Error>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        self.execute(wait, false, op).await
    }

    /// Like [`Pool::run`], for an operation that is safe to repeat: after a lost connection it
    /// waits for recovery and runs `op` again, within the wait budget.
    pub async fn run_idempotent<T, E, F, Fut>(&self, wait: Wait, op: F) -> Result<Outcome<T>, Error>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        self.execute(wait, true, op).await
    }

    async fn execute<T, E, F, Fut>(
        &self,
        wait: Wait,
        idempotent: bool,
        mut op: F,
    ) -> Result<Outcome<T>, Error>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        let shared = &self.shared;
        let started = Instant::now();
        let deadline = match wait {
            Wait::No => None,
            Wait::UpTo(d) => Some(started + d),
        };
        let within_budget = || deadline.is_some_and(|d| Instant::now() < d);
        let mut rx = self.subscribe();
        let mut attempts = 0u32;
        let mut recovered = false;
        loop {
            let (epoch, waited) = wait_ready(&mut rx, deadline).await?;
            recovered |= waited;
            let (checkout, replaced) = CHECKOUT_REPLACED_DEAD
                .scope(Cell::new(false), async {
                    let object = shared.pool.timeout_get(&shared.timeouts()).await;
                    (object, CHECKOUT_REPLACED_DEAD.with(Cell::get))
                })
                .await;
            recovered |= replaced;
            let conn = match checkout {
                Ok(object) => Conn::new(object),
                Err(PoolError::Timeout(TimeoutType::Wait)) => {
                    return Err(Error::new(Kind::PoolTimeout {
                        waited: shared.config.acquire_timeout,
                        size: shared.config.max_size,
                    }));
                }
                Err(e) => {
                    // Nothing ran yet, so trying again after recovery is always safe.
                    let error = checkout_error(shared, e);
                    let _ = shared.signals.send(Signal::Suspect {
                        cause: error.to_string(),
                    });
                    if error.is_transient() && within_budget() {
                        recovered = true;
                        wait_not_ready_or_changed(&mut rx, epoch).await;
                        continue;
                    }
                    return Err(error);
                }
            };
            attempts += 1;
            let result = tokio::select! {
                result = op(conn.clone()) => Some(result),
                _ = left_ready(&mut rx, epoch) => None,
            };
            let error = match result {
                Some(Ok(value)) => {
                    return Ok(Outcome {
                        value,
                        recovered: recovered || attempts > 1,
                        epoch,
                        waited: started.elapsed(),
                        attempts,
                    });
                }
                Some(Err(e)) => {
                    let e: OpError = e.into();
                    let (class, e) = match e {
                        OpError::Postgres(pg) => (shared.config.classifier.classify(&pg), pg),
                        OpError::Other(other) => match other.downcast::<tokio_postgres::Error>() {
                            Ok(pg) => (shared.config.classifier.classify(&pg), *pg),
                            Err(other) => {
                                return Err(Error::new(Kind::Operation {
                                    context: "the operation failed".to_owned(),
                                    message: other.to_string(),
                                }));
                            }
                        },
                    };
                    if class == ErrorClass::Statement {
                        return Err(Error::postgres(class, "the operation failed", e));
                    }
                    conn.discard();
                    let reason = match class {
                        ErrorClass::Discard => "discard_class",
                        ErrorClass::FlushPool => "flush_class",
                        _ => "broken_during_use",
                    };
                    discard(&shared.config.name, reason);
                    let error =
                        Error::postgres(class, "the connection failed during the operation", e);
                    let signal = match class {
                        ErrorClass::FlushPool => Signal::Flush {
                            cause: error.to_string(),
                        },
                        _ => Signal::Suspect {
                            cause: error.to_string(),
                        },
                    };
                    let _ = shared.signals.send(signal);
                    error
                }
                None => {
                    conn.discard();
                    discard(&shared.config.name, "lost_in_flight");
                    Error::new(Kind::Unavailable {
                        state: "lost",
                        last_error: rx.borrow().last_error(),
                        advice:
                            "the connection was lost while the operation ran; it may or may not \
                                 have taken effect"
                                .to_owned(),
                    })
                }
            };
            if idempotent && !error.is_fatal() && within_budget() {
                recovered = true;
                continue;
            }
            return Err(error);
        }
    }
}

fn checkout_error(shared: &Shared, error: PoolError<ConnectError>) -> Error {
    match error {
        PoolError::Backend(e) => Error::connect(e, &shared.config.classifier),
        PoolError::Timeout(_) => Error::new(Kind::ConnectTimeout(shared.config.connect_timeout)),
        PoolError::Closed => Error::new(Kind::Closed),
        other => Error::config(format!("the pool failed: {other}")),
    }
}

/// Waits until ready (returning the epoch and whether it had to wait), fatal, or the deadline.
async fn wait_ready(
    rx: &mut watch::Receiver<Health>,
    deadline: Option<Instant>,
) -> Result<(u64, bool), Error> {
    let mut waited = false;
    loop {
        let health = rx.borrow_and_update().clone();
        match health {
            Health::Ready { epoch, .. } => return Ok((epoch, waited)),
            Health::Fatal(error) => return Err(error),
            other => {
                let Some(deadline) = deadline else {
                    return Err(unavailable(
                        &other,
                        "the caller asked not to wait (Wait::No)".to_owned(),
                    ));
                };
                waited = true;
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() {
                        return Err(Error::new(Kind::Closed));
                    },
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        return Err(unavailable(&other, "it did not recover within the caller's wait".to_owned()));
                    }
                }
            }
        }
    }
}

fn unavailable(health: &Health, advice: String) -> Error {
    Error::new(Kind::Unavailable {
        state: health.state(),
        last_error: health.last_error(),
        advice,
    })
}

/// Resolves once the pool is no longer ready in `epoch` (loss noticed, or a later epoch).
async fn left_ready(rx: &mut watch::Receiver<Health>, epoch: u64) {
    loop {
        if rx.borrow_and_update().epoch() != Some(epoch) {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// After a failed checkout: give the supervisor a moment to react (it is told), then go on.
async fn wait_not_ready_or_changed(rx: &mut watch::Receiver<Health>, epoch: u64) {
    let _ = tokio::time::timeout(Duration::from_millis(100), left_ready(rx, epoch)).await;
}
