//! `pgkeel demo worker` (hidden): one job worker process of the demo. It runs the jobs of the
//! demo queue under a session with heartbeats; when the session expires (the database was away
//! too long) it starts a new one. Each job credits its account once: the effect and a
//! "done" row commit together, so a job run again (at-least-once delivery) changes nothing.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use pgkeel_conn::{Backoff, Pool, PoolConfig, Wait};
use pgkeel_work::queue::{Job, Worker, WorkerConfig};
use pgkeel_work::{Session, SessionConfig};
use tokio_util::sync::CancellationToken;

use super::children::READY_LINE;
use super::setup::QUEUE;
use crate::args::DatabaseArgs;

/// A worker of the demo's queue.
#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    db: DatabaseArgs,

    /// This worker's name, recorded with the jobs it runs.
    #[arg(long)]
    name: String,
}

/// A session lives this long after each heartbeat: long enough to ride out the demo's
/// stalls, short enough that a killed worker's jobs come back within seconds.
const SESSION: Duration = Duration::from_secs(6);

pub(crate) async fn run(args: WorkerArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let mut config = PoolConfig::new(args.db.database);
    config.name = args.name.clone();
    config.max_size = 12;
    config.keepalive = Duration::from_secs(2);
    let pool = Pool::start(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    pool.ready(Duration::from_secs(30))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the demo worker cannot reach the database")?;
    while !shutdown.is_cancelled() {
        let session =
            match Session::start(&pool, SessionConfig::new("pgkeel demo worker", SESSION)).await {
                Ok(session) => session,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a session; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            };
        let mut worker_config = WorkerConfig::new(QUEUE);
        worker_config.concurrency = 8;
        worker_config.batch = 8;
        worker_config.poll = Duration::from_millis(500);
        worker_config.retry = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            jitter: 0.25,
        };
        worker_config.rescue = Some(Duration::from_secs(1));
        worker_config.shutdown = shutdown.child_token();
        worker_config.session_expired = session.expiry();
        let handler_pool = pool.clone();
        let name = args.name.clone();
        let worker = Worker::start(pool.clone(), session.id(), worker_config, move |job| {
            let pool = handler_pool.clone();
            let name = name.clone();
            async move { credit(&pool, &name, &job).await }
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        say_ready();
        match worker.join().await {
            Ok(()) => {
                let _ = session.close().await;
                break;
            }
            Err(e) if e.is_session_expired() => {
                tracing::warn!(
                    session = session.id(),
                    "the session expired; starting a new one"
                );
            }
            Err(e) => tracing::warn!(error = %e, "the worker stopped; starting again"),
        }
    }
    pool.close();
    Ok(ExitCode::SUCCESS)
}

fn say_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY_LINE}");
    let _ = out.flush();
}

/// The job: credit its account, once. A second run only counts the redelivery.
async fn credit(pool: &Pool, worker: &str, job: &Job) -> Result<(), String> {
    let key = job.payload["key"].as_str().unwrap_or_default().to_owned();
    let account = job.payload["account"].as_i64().unwrap_or_default() as i32;
    if key.is_empty() {
        return Err(format!("job {} has no key in its payload", job.id));
    }
    // Some work, so that jobs are in flight when a worker is killed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    pool.run(Wait::UpTo(Duration::from_secs(5)), |conn| {
        let key = key.clone();
        async move {
            conn.batch_execute("BEGIN").await?;
            let applied = async {
                let row = conn
                    .query_one(
                        "INSERT INTO demo_job_done AS d (job_key, worker) VALUES ($1, $2) \
                         ON CONFLICT (job_key) DO UPDATE SET redelivered = d.redelivered + 1 \
                         RETURNING redelivered",
                        &[&key, &worker],
                    )
                    .await?;
                if row.get::<_, i32>(0) == 0 {
                    conn.execute(
                        "UPDATE demo_accounts SET balance = balance + 1 WHERE id = $1",
                        &[&account],
                    )
                    .await?;
                }
                conn.batch_execute("COMMIT").await
            }
            .await;
            if applied.is_err() {
                let _ = conn.batch_execute("ROLLBACK").await;
            }
            applied
        }
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}
