//! The continuous workers: one on the pgkeel pool (`run_idempotent` per query) and the
//! baselines (a plain deadpool-postgres pool with a retry loop as an application would write
//! it). Each keeps a log of its failures and of its first success after a failure or recovery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pgkeel_conn::{Pool, Wait};
use tokio_util::sync::CancellationToken;

/// One logged call: every failure, and the first success after a failure or a recovery.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// When the call started.
    pub(crate) at: Instant,
    /// When it returned.
    pub(crate) done: Instant,
    pub(crate) ok: bool,
    pub(crate) error: Option<String>,
    /// Baselines: the sleep chosen after this failure.
    pub(crate) sleep_after: Option<Duration>,
    /// pgkeel: the epoch the run succeeded in, and whether it waited for recovery or retried.
    pub(crate) epoch: Option<u64>,
    pub(crate) recovered: bool,
}

/// A worker's log, shared with the orchestrator.
#[derive(Debug, Default)]
pub(crate) struct WorkLog {
    events: Mutex<Vec<Attempt>>,
    /// Every call, logged or not.
    pub(crate) calls: AtomicU64,
}

impl WorkLog {
    fn push(&self, attempt: Attempt) {
        self.lock().push(attempt);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Attempt>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first success that returned after `t`.
    pub(crate) fn first_success_after(&self, t: Instant) -> Option<Attempt> {
        self.lock().iter().find(|a| a.ok && a.done > t).cloned()
    }

    /// True when a call failed after `t` (it may have started before).
    pub(crate) fn failed_after(&self, t: Instant) -> bool {
        self.lock().iter().any(|a| !a.ok && a.done >= t)
    }

    /// Every logged call that returned after `from` and started before `to`.
    pub(crate) fn between(&self, from: Instant, to: Instant) -> Vec<Attempt> {
        self.lock()
            .iter()
            .filter(|a| a.done >= from && a.at < to)
            .cloned()
            .collect()
    }
}

/// Short error text for the log: the error and its sources, first lines only, at most 240
/// characters (deadpool's own message does not name the cause).
fn short(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(240)
        .collect()
}

/// `pool.run_idempotent(Wait::UpTo(60 s), SELECT 1)` again and again, `pause` after each
/// success.
pub(crate) fn spawn_pgkeel(
    pool: Pool,
    log: Arc<WorkLog>,
    pause: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_epoch = None;
        let mut failing = false;
        while !stop.is_cancelled() {
            let at = Instant::now();
            let result = pool
                .run_idempotent(Wait::UpTo(Duration::from_secs(60)), |c| async move {
                    c.query_one("SELECT 1", &[]).await
                })
                .await;
            let done = Instant::now();
            log.calls.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(outcome) => {
                    if failing || outcome.recovered || last_epoch != Some(outcome.epoch) {
                        log.push(Attempt {
                            at,
                            done,
                            ok: true,
                            error: None,
                            sleep_after: None,
                            epoch: Some(outcome.epoch),
                            recovered: outcome.recovered,
                        });
                    }
                    failing = false;
                    last_epoch = Some(outcome.epoch);
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    log.push(Attempt {
                        at,
                        done,
                        ok: false,
                        error: Some(short(&e)),
                        sleep_after: None,
                        epoch: None,
                        recovered: false,
                    });
                    failing = true;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    })
}

/// How a baseline waits between failed attempts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// First delay.
    pub(crate) base: Duration,
    /// Largest delay (equal to `base` for a fixed delay).
    pub(crate) cap: Duration,
}

/// A plain deadpool-postgres pool with the defaults (8 connections, `RecyclingMethod::Fast`).
/// It is the peer pgkeel is measured against, so it connects with plain tokio-postgres (its
/// own `Config` and `NoTls`), not with pgkeel's connector.
pub(crate) fn deadpool(
    url: &str,
) -> Result<deadpool_postgres::Pool, Box<dyn std::error::Error + Send + Sync>> {
    let pg: tokio_postgres::Config = url.parse()?;
    let manager = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig::default(),
    );
    Ok(deadpool_postgres::Pool::builder(manager).build()?)
}

/// The naive loop: `pool.get()` and `SELECT 1`; on an error sleep and double the delay (up to
/// the cap); a success resets it. No probe, no supervisor.
pub(crate) fn spawn_baseline(
    pool: deadpool_postgres::Pool,
    retry: Retry,
    log: Arc<WorkLog>,
    pause: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = retry.base;
        let mut failing = false;
        while !stop.is_cancelled() {
            let at = Instant::now();
            let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = async {
                let client = pool.get().await?;
                client.query_one("SELECT 1", &[]).await?;
                Ok(())
            }
            .await;
            let done = Instant::now();
            log.calls.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(()) => {
                    if failing {
                        log.push(Attempt {
                            at,
                            done,
                            ok: true,
                            error: None,
                            sleep_after: None,
                            epoch: None,
                            recovered: false,
                        });
                    }
                    failing = false;
                    delay = retry.base;
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    log.push(Attempt {
                        at,
                        done,
                        ok: false,
                        error: Some(short(&*e)),
                        sleep_after: Some(delay),
                        epoch: None,
                        recovered: false,
                    });
                    failing = true;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(retry.cap);
                }
            }
        }
    })
}
