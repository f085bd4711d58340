//! The workload writer: inserts and updates orders, enqueues jobs and changes config values,
//! through the proxy, on a recovering pool. Every change writes its ledger row in the same
//! transaction, so whatever the writer was told (an error after a commit that happened, say),
//! the database knows what was committed. Failed operations are counted and the writer goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgkeel_conn::{OpError, Pool, PoolConfig, Wait};
use pgkeel_work::queue::{NewJob, Queue};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::caches::CacheInstance;
use super::setup::{ACCOUNTS, QUEUE};

/// One operation every this long.
const TICK: Duration = Duration::from_millis(15);
/// How long one operation waits for the database before it counts as failed.
const PATIENCE: Duration = Duration::from_secs(2);

/// What the writer did.
#[derive(Debug, Default)]
pub(super) struct WriterStats {
    pub(super) attempted: AtomicU64,
    pub(super) succeeded: AtomicU64,
    pub(super) failed: AtomicU64,
    /// When the last acknowledged config change was begun.
    pub(super) last_config_change: Mutex<Option<Instant>>,
}

/// Runs until `stop`: the workload on `pool`, config changes through `cache`.
pub(super) async fn run(
    pool: Pool,
    cache: Arc<CacheInstance>,
    stats: Arc<WriterStats>,
    stop: CancellationToken,
) {
    let queue = Queue::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut highest_order: i64 = 0;
    let mut step: u64 = 0;
    let mut jobs: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        step += 1;
        let ok = match step % 10 {
            0..=3 => match insert_order(&pool).await {
                Ok(id) => {
                    highest_order = highest_order.max(id);
                    true
                }
                Err(()) => false,
            },
            4..=6 if highest_order > 0 => {
                let id = 1 + (step.wrapping_mul(2_654_435_761) % highest_order as u64) as i64;
                update_order(&pool, id, step).await.is_ok()
            }
            4..=8 => {
                jobs += 1;
                enqueue_job(&pool, &queue, jobs).await.is_ok()
            }
            _ if step % 50 == 9 => {
                let value = format!("v{step}");
                let key = if step % 100 == 9 {
                    "feature_flag"
                } else {
                    "rate_limit"
                };
                let began = Instant::now();
                let published = cache.publish(key, &value).await.is_ok();
                if published {
                    *stats.last_config_change.lock().await = Some(began);
                }
                published
            }
            _ => continue,
        };
        stats.attempted.fetch_add(1, Ordering::Relaxed);
        let counter = if ok { &stats.succeeded } else { &stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The writer's pool settings: a lost connection is noticed within two seconds.
pub(super) fn pool(url: &str) -> anyhow::Result<Pool> {
    let mut config = PoolConfig::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.name = "writer".to_owned();
    config.max_size = 4;
    config.keepalive = Duration::from_secs(2);
    Pool::start(config).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A new order (version 1) and its ledger row, in one statement.
async fn insert_order(pool: &Pool) -> Result<i64, ()> {
    pool.run(Wait::UpTo(PATIENCE), |conn| async move {
        let row = conn
            .query_one(
                "WITH o AS (INSERT INTO demo_orders (status, version) VALUES ('new', 1) \
                 RETURNING id, version) \
                 INSERT INTO demo_ledger SELECT id, version FROM o RETURNING order_id",
                &[],
            )
            .await?;
        Ok::<i64, tokio_postgres::Error>(row.get(0))
    })
    .await
    .map(|outcome| outcome.value)
    .map_err(|_| ())
}

/// The next version of an order and its ledger row, in one transaction.
async fn update_order(pool: &Pool, id: i64, step: u64) -> Result<(), ()> {
    let status = ["paid", "packed", "shipped", "delivered"][(step % 4) as usize];
    pool.run(Wait::UpTo(PATIENCE), |conn| async move {
        conn.batch_execute("BEGIN").await?;
        let done = async {
            let row = conn
                .query_opt(
                    "UPDATE demo_orders SET version = version + 1, status = $2 WHERE id = $1 \
                     RETURNING version",
                    &[&id, &status],
                )
                .await?;
            if let Some(row) = row {
                let version: i32 = row.get(0);
                conn.execute("INSERT INTO demo_ledger VALUES ($1, $2)", &[&id, &version])
                    .await?;
            }
            conn.batch_execute("COMMIT").await
        }
        .await;
        if done.is_err() {
            let _ = conn.batch_execute("ROLLBACK").await;
        }
        done
    })
    .await
    .map(|_| ())
    .map_err(|_| ())
}

/// A job and its ledger row, in one transaction (the job exists only if it commits).
async fn enqueue_job(pool: &Pool, queue: &Queue, n: u64) -> Result<(), ()> {
    // One attempt per key (`run` does not repeat): after an unknown outcome the next job has
    // another key, so the ledger never holds a key twice.
    let key = format!("job-{n}");
    let key = &key;
    pool.run(Wait::UpTo(PATIENCE), |conn| async move {
        let account = (n % ACCOUNTS as u64) as i32;
        conn.batch_execute("BEGIN").await?;
        let done = async {
            queue
                .enqueue(
                    &conn,
                    &NewJob::new(
                        "credit",
                        serde_json::json!({"key": key, "account": account}),
                    )
                    .queue(QUEUE),
                )
                .await
                .map_err(|e| {
                    OpError::from(Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                })?;
            conn.execute(
                "INSERT INTO demo_jobs_enqueued VALUES ($1, $2)",
                &[&key, &account],
            )
            .await?;
            conn.batch_execute("COMMIT").await.map_err(OpError::from)
        }
        .await;
        if done.is_err() {
            let _ = conn.batch_execute("ROLLBACK").await;
        }
        done
    })
    .await
    .map(|_| ())
    .map_err(|_| ())
}
