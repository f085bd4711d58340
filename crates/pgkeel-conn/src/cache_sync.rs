//! Cache sync across instances. Publishing bumps a version row in the same transaction as the
//! change and sends a NOTIFY as a hint; every instance reloads on a hint from another instance,
//! on a listener gap, and when a fallback poll sees a newer version — so correctness never
//! depends on NOTIFY delivery. Reloads are single-flight: a change that arrives during a reload
//! causes exactly one more.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::Jitter;
use crate::error::Error;
use crate::hooks::HookError;
use crate::listener::{Event, Listener, ListenerConfig};
use crate::outcome::{Outcome, Wait};
use crate::pool::{Conn, Pool};

/// Creates the version table (idempotent).
pub const SETUP_SQL: [&str; 2] = [
    "CREATE SCHEMA IF NOT EXISTS pgkeel",
    "CREATE TABLE IF NOT EXISTS pgkeel.cache_versions (name text PRIMARY KEY, version bigint NOT NULL DEFAULT 0)",
];

/// Creates the version table if needed. Two instances creating it at the same moment can make
/// PostgreSQL report a duplicate (23505, 42P06, 42P07) — then it exists, which is the point.
async fn ensure_table(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    for sql in SETUP_SQL {
        if let Err(e) = client.batch_execute(sql).await {
            let duplicate = matches!(
                e.code().map(|c| c.code()),
                Some("23505" | "42P06" | "42P07")
            );
            if !duplicate {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Whether a cache's NOTIFY hints arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Hints {
    /// The listener has not verified delivery yet.
    Starting = 0,
    /// Hints arrive: changes are seen within a round trip.
    Available = 1,
    /// Hints do not arrive (deaf listener, or it stopped): changes are seen by the poll.
    Unavailable = 2,
}

/// Settings of one synchronized cache.
#[derive(Debug, Clone)]
pub struct CacheSyncConfig {
    /// The cache's name (its row in `pgkeel.cache_versions`, and the hint's prefix).
    pub name: String,
    /// How often to compare versions in case a hint was missed.
    pub poll: Duration,
    /// This instance's id (hints carrying it are its own and ignored).
    pub instance: String,
    /// The NOTIFY channel for hints.
    pub channel: String,
    /// How long a reload waits for the database before it is retried later.
    pub reload_wait: Duration,
}

impl CacheSyncConfig {
    /// Defaults for cache `name`: poll every 5 s, a random instance id, channel `pgkeel_cache`.
    pub fn new(name: &str) -> Self {
        let mut jitter = Jitter::new();
        CacheSyncConfig {
            name: name.to_owned(),
            poll: Duration::from_secs(5),
            instance: format!("{:016x}", (jitter.next() * u64::MAX as f64) as u64),
            channel: "pgkeel_cache".to_owned(),
            reload_wait: Duration::from_secs(30),
        }
    }
}

type ReloadFn =
    dyn Fn(Conn) -> Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>> + Send + Sync;

struct Inner {
    pool: Pool,
    config: CacheSyncConfig,
    reload: Box<ReloadFn>,
    dirty: AtomicBool,
    wake: Notify,
    loaded: watch::Sender<u64>,
    reloads: AtomicU64,
    /// A [`Hints`] as u8: whether NOTIFY hints arrive (the poll carries on either way).
    hints: AtomicU8,
    shutdown: CancellationToken,
}

/// A cache kept in step with the database across instances. Dropping it stops its tasks.
pub struct CacheSync {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CacheSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSync")
            .field("name", &self.inner.config.name)
            .field("loaded_version", &self.loaded_version())
            .finish()
    }
}

impl CacheSync {
    /// Starts syncing: `reload` loads the cache from the database (it runs at once, then
    /// whenever the cache may be stale). Returns at once; see [`CacheSync::subscribe`].
    pub fn start<F, Fut>(pool: Pool, config: CacheSyncConfig, reload: F) -> Result<Self, Error>
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        if config.name.is_empty() || config.name.contains(':') {
            return Err(Error::config(
                "a cache name must be non-empty and contain no ':'",
            ));
        }
        let mut listener_connection = pool.config().clone();
        let app = format!(
            "{} (cache {})",
            listener_connection.database.application_name(),
            config.name
        );
        listener_connection.database = listener_connection.database.with_application_name(&app);
        let shutdown = CancellationToken::new();
        let listener = Listener::start(
            ListenerConfig::new(listener_connection).channel(config.channel.clone()),
            &shutdown,
        )?;
        let inner = Arc::new(Inner {
            pool,
            config,
            reload: Box::new(move |conn| Box::pin(reload(conn))),
            dirty: AtomicBool::new(true),
            wake: Notify::new(),
            loaded: watch::Sender::new(0),
            reloads: AtomicU64::new(0),
            hints: AtomicU8::new(Hints::Starting as u8),
            shutdown,
        });
        tokio::spawn(worker(Arc::clone(&inner)));
        tokio::spawn(hints(Arc::clone(&inner), listener));
        tokio::spawn(poll(Arc::clone(&inner)));
        Ok(CacheSync { inner })
    }

    /// Applies `change` and bumps the cache version in one transaction, then hints the other
    /// instances and reloads this one. Returns the new version.
    pub async fn publish<F, Fut>(&self, wait: Wait, mut change: F) -> Result<Outcome<i64>, Error>
    where
        F: FnMut(Conn) -> Fut,
        Fut: Future<Output = Result<(), tokio_postgres::Error>>,
    {
        let config = &self.inner.config;
        let outcome = self
            .inner
            .pool
            .run(wait, |conn| {
                let user_change = change(conn.clone());
                let name = config.name.clone();
                let channel = config.channel.clone();
                let instance = config.instance.clone();
                async move {
                    ensure_table(&conn).await?;
                    conn.batch_execute("BEGIN").await?;
                    let result = async {
                        user_change.await?;
                        let row = conn
                            .query_one(
                                "INSERT INTO pgkeel.cache_versions AS v (name, version) VALUES ($1, 1) \
                                 ON CONFLICT (name) DO UPDATE SET version = v.version + 1 RETURNING version",
                                &[&name],
                            )
                            .await?;
                        let version: i64 = row.get(0);
                        let hint = format!("{name}:{version}:{instance}");
                        conn.execute("SELECT pg_notify($1, $2)", &[&channel, &hint]).await?;
                        conn.batch_execute("COMMIT").await?;
                        Ok::<i64, tokio_postgres::Error>(version)
                    }
                    .await;
                    if result.is_err() {
                        let _ = conn.batch_execute("ROLLBACK").await;
                    }
                    result
                }
            })
            .await?;
        self.request();
        Ok(outcome)
    }

    /// The version the cache was last loaded at (0 before the first load).
    pub fn loaded_version(&self) -> u64 {
        *self.inner.loaded.borrow()
    }

    /// The loaded version as it changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.loaded.subscribe()
    }

    /// How many reloads completed.
    pub fn reloads(&self) -> u64 {
        self.inner.reloads.load(Ordering::Relaxed)
    }

    /// Whether NOTIFY hints arrive. [`Hints::Unavailable`] while the listener is deaf (e.g.
    /// behind a pooler in transaction mode) or has stopped: then only the fallback poll (every
    /// [`CacheSyncConfig::poll`]) keeps the cache in step.
    pub fn hints(&self) -> Hints {
        match self.inner.hints.load(Ordering::Acquire) {
            x if x == Hints::Available as u8 => Hints::Available,
            x if x == Hints::Unavailable as u8 => Hints::Unavailable,
            _ => Hints::Starting,
        }
    }

    /// True while NOTIFY hints arrive ([`Hints::Available`]).
    pub fn hints_available(&self) -> bool {
        self.hints() == Hints::Available
    }

    /// Asks for a reload.
    pub fn request(&self) {
        self.inner.request();
    }

    /// Stops the tasks (also done on drop).
    pub fn stop(&self) {
        self.inner.shutdown.cancel();
    }
}

impl Drop for CacheSync {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

impl Inner {
    fn request(&self) {
        self.dirty.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// The one reloader: waits for the dirty bit, clears it, reads the version, reloads.
async fn worker(inner: Arc<Inner>) {
    let mut jitter = Jitter::new();
    let mut failures = 0u32;
    loop {
        while !inner.dirty.swap(false, Ordering::AcqRel) {
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = inner.shutdown.cancelled() => return,
            }
        }
        let result = inner
            .pool
            .run(Wait::UpTo(inner.config.reload_wait), |conn| {
                let inner = Arc::clone(&inner);
                async move {
                    ensure_table(&conn).await?;
                    let version = current_version(&conn, &inner.config.name).await?;
                    (inner.reload)(conn).await?;
                    Ok::<u64, HookError>(version)
                }
            })
            .await;
        match result {
            Ok(outcome) => {
                failures = 0;
                inner.reloads.fetch_add(1, Ordering::Relaxed);
                inner.loaded.send_modify(|v| *v = (*v).max(outcome.value));
                tracing::debug!(cache = %inner.config.name, version = outcome.value, "cache reloaded");
            }
            Err(error) => {
                failures += 1;
                let delay = inner.pool.config().backoff.delay(failures, jitter.next());
                tracing::warn!(cache = %inner.config.name, %error, retry_in_ms = delay.as_millis() as u64, "cache reload failed; retrying");
                inner.dirty.store(true, Ordering::Release);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = inner.shutdown.cancelled() => return,
                }
            }
        }
    }
}

async fn current_version(
    client: &tokio_postgres::Client,
    name: &str,
) -> Result<u64, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT version FROM pgkeel.cache_versions WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| r.get::<_, i64>(0).max(0) as u64).unwrap_or(0))
}

/// Hints from other instances, gaps and (re)listens request a reload.
async fn hints(inner: Arc<Inner>, mut listener: Listener) {
    let prefix = format!("{}:", inner.config.name);
    let own = format!(":{}", inner.config.instance);
    loop {
        match listener.recv().await {
            Ok(Event::Notification(n))
                if n.payload.starts_with(&prefix) && !n.payload.ends_with(&own) =>
            {
                inner.request()
            }
            Ok(Event::Notification(_)) => {}
            Ok(Event::Gap { .. }) => {
                tracing::info!(cache = %inner.config.name, "hints may have been missed; reloading");
                inner.request();
            }
            Ok(Event::Listening { .. }) => {
                inner.hints.store(Hints::Available as u8, Ordering::Release);
                inner.request();
            }
            Ok(Event::Deaf { reason, hint, .. }) => {
                inner
                    .hints
                    .store(Hints::Unavailable as u8, Ordering::Release);
                tracing::warn!(
                    cache = %inner.config.name,
                    poll_ms = inner.config.poll.as_millis() as u64,
                    cause = %reason,
                    hint = %hint,
                    "NOTIFY hints are unavailable; the fallback poll keeps the cache in step, \
                     changes show up within one poll interval"
                );
                inner.request();
            }
            Err(error) if error.is_stopped() => return,
            Err(error) => {
                inner
                    .hints
                    .store(Hints::Unavailable as u8, Ordering::Release);
                tracing::warn!(cache = %inner.config.name, %error, "no more hints; the fallback poll keeps the cache in step");
                return;
            }
        }
    }
}

/// The fallback: compare versions every `poll`.
async fn poll(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.config.poll) => {}
            _ = inner.shutdown.cancelled() => return,
        }
        let name = inner.config.name.clone();
        let seen = inner
            .pool
            .run(Wait::No, |conn| {
                let name = name.clone();
                async move { current_version(&conn, &name).await }
            })
            .await;
        if let Ok(outcome) = seen
            && outcome.value > *inner.loaded.borrow()
        {
            tracing::info!(cache = %name, version = outcome.value, "the poll found a newer version; reloading");
            inner.request();
        }
    }
}
