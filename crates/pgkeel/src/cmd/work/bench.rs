//! `pgkeel work bench`: drains N no-op jobs with W workers (jobs/s from the first claim to the
//! last recorded completion), or enqueues at a steady rate while they run (pickup latency);
//! counts jobs that ran more than once.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use pgkeel_conn::{Pool, PoolConfig};
use pgkeel_wire::sql::quote_literal;
use pgkeel_work::queue::{Latencies, NewJob, Queue, Worker, WorkerConfig};
use pgkeel_work::{Session, SessionConfig};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cmd::work::BenchArgs;

/// Jobs per enqueue statement in drain mode.
const ENQUEUE_BATCH: usize = 5000;
/// Enqueues in flight at once in rate mode.
const RATE_IN_FLIGHT: usize = 64;
/// Longest rate-mode run (a week).
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Give up when no job completes for this long.
const STALL: Duration = Duration::from_secs(30);

/// What one run measured.
struct Measured {
    jobs: u64,
    seconds: f64,
    pickup: Latencies,
    duplicates: u64,
    left: i64,
    mode: String,
}

pub(crate) async fn run(args: BenchArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    if args.workers == 0 || args.batch == 0 || args.concurrency == Some(0) {
        bail!("--workers, --batch and --concurrency must be at least 1");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite()
            && rate > 0.0
            && args.seconds.is_finite()
            && args.seconds > 0.0
            && args.seconds <= MAX_SECONDS)
    {
        bail!("--rate must be a positive number and --seconds between 0 and {MAX_SECONDS}");
    }
    if args.rate.is_none() && args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let mut admin = args.db.connect("pgkeel work bench").await?;
    pgkeel_work::migrate(&mut admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot migrate the pgkeel_work schema")?;
    let mut config = PoolConfig::new(args.db.database.clone());
    config.name = "work-bench".to_owned();
    config.max_size = args.workers * 3 + 4;
    let pool = Pool::start(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    pool.ready(Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot connect the pool")?;
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let queue = format!("bench-{}-{millis}", std::process::id());
    // One real session per worker (heartbeats, local expiry), as a deployment would run.
    let mut sessions = Vec::with_capacity(args.workers);
    for _ in 0..args.workers {
        let mut config = SessionConfig::new("pgkeel work bench", Duration::from_secs(10));
        config.runtime_info = serde_json::json!({ "queue": queue });
        sessions.push(
            Session::start(&pool, config)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot start the workers' sessions")?,
        );
    }
    let outcome = measure(&args, &pool, &queue, &sessions, &admin, &shutdown).await;
    for session in &sessions {
        if let Err(e) = session.close().await {
            tracing::warn!(error = %e, "cannot close a benchmark session");
        }
    }
    let cleanup = admin
        .batch_execute(&format!(
            "DELETE FROM pgkeel_work.jobs WHERE queue = {q}",
            q = quote_literal(&queue)
        ))
        .await;
    if let Err(e) = cleanup {
        tracing::warn!(error = %pgkeel_conn::describe_postgres(&e), %queue, "cannot remove the benchmark's jobs and sessions");
    }
    pool.close();
    let measured = outcome?;
    report(&args, &measured)?;
    Ok(ExitCode::SUCCESS)
}

async fn measure(
    args: &BenchArgs,
    pool: &Pool,
    queue: &str,
    sessions: &[Session],
    admin: &tokio_postgres::Client,
    shutdown: &CancellationToken,
) -> anyhow::Result<Measured> {
    let executed = Arc::new(Mutex::new(Vec::<i64>::new()));
    // Pickup as the peers' harnesses measure it: from due to the handler starting.
    let handler_pickup = Arc::new(Mutex::new(Latencies::default()));
    let stop = shutdown.child_token();
    let start_workers = || -> anyhow::Result<Vec<Worker>> {
        sessions
            .iter()
            .map(|session| {
                let mut config = WorkerConfig::new(queue);
                config.batch = args.batch;
                config.concurrency = args.concurrency.unwrap_or(args.batch.saturating_mul(2));
                config.poll = args.poll;
                config.rescue = None;
                config.shutdown = stop.clone();
                config.session_expired = session.expiry();
                let executed = Arc::clone(&executed);
                let handler_pickup = Arc::clone(&handler_pickup);
                Worker::start(pool.clone(), session.id(), config, move |job| {
                    let due = job.run_at.max(job.created_at);
                    if let Ok(waited) = std::time::SystemTime::now().duration_since(due) {
                        handler_pickup
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .record(waited);
                    }
                    executed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(job.id);
                    std::future::ready(Ok(()))
                })
                .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .collect()
    };
    let (workers, jobs, started, mode) = match args.rate {
        None => {
            enqueue_backlog(pool, queue, args.jobs).await?;
            let workers = start_workers()?;
            wait_done(&workers, args.jobs, shutdown).await?;
            (
                workers,
                args.jobs,
                None,
                format!("drained a backlog of {} jobs", args.jobs),
            )
        }
        Some(rate) => {
            let workers = start_workers()?;
            wait_idle(&workers, shutdown).await?;
            let (jobs, started) =
                enqueue_at_rate(pool, queue, rate, args.seconds, shutdown).await?;
            wait_done(&workers, jobs, shutdown).await?;
            (
                workers,
                jobs,
                Some(started),
                format!(
                    "{rate} jobs/s enqueued one at a time for {} s",
                    args.seconds
                ),
            )
        }
    };
    let pickup = handler_pickup
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut first_claim: Option<Instant> = None;
    let mut last_completion: Option<Instant> = None;
    for worker in workers {
        let stats = worker.stats();
        first_claim = first_claim.into_iter().chain(stats.first_claim).min();
        last_completion = last_completion
            .into_iter()
            .chain(stats.last_completion)
            .max();
        if let Err(e) = worker.shutdown().await {
            tracing::warn!(error = %e, "a worker ended with an error");
        }
    }
    let from = started.or(first_claim);
    let seconds = match (from, last_completion) {
        (Some(from), Some(to)) => to.saturating_duration_since(from).as_secs_f64(),
        _ => 0.0,
    };
    let mut ids = std::mem::take(&mut *executed.lock().unwrap_or_else(|e| e.into_inner()));
    ids.sort_unstable();
    let duplicates = ids
        .chunk_by(|a, b| a == b)
        .filter(|run| run.len() > 1)
        .count() as u64;
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pgkeel_work.jobs WHERE queue = $1",
            &[&queue],
        )
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))?
        .get(0);
    Ok(Measured {
        jobs,
        seconds,
        pickup,
        duplicates,
        left,
        mode,
    })
}

/// Enqueues `n` no-op jobs, `ENQUEUE_BATCH` per statement.
async fn enqueue_backlog(pool: &Pool, queue: &str, n: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let q = Queue::new();
    let mut left = n;
    while left > 0 {
        let size = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(ENQUEUE_BATCH);
        let jobs = vec![NewJob::new("noop", json!({})).queue(queue); size];
        q.enqueue_batch(pool, &jobs)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("cannot enqueue the jobs")?;
        left -= size as u64;
    }
    tracing::info!(jobs = n, took = ?started.elapsed(), "backlog enqueued");
    Ok(())
}

/// Enqueues `rate` jobs per second, one per statement, for `seconds`; returns how many and
/// when it started.
async fn enqueue_at_rate(
    pool: &Pool,
    queue: &str,
    rate: f64,
    seconds: f64,
    shutdown: &CancellationToken,
) -> anyhow::Result<(u64, Instant)> {
    let total = (rate * seconds).round().max(1.0) as u64;
    let Ok(every) = Duration::try_from_secs_f64(1.0 / rate) else {
        bail!("--rate {rate} is too small");
    };
    let started = Instant::now();
    let mut in_flight = JoinSet::new();
    for i in 0..total {
        let offset = Duration::try_from_secs_f64(every.as_secs_f64() * i as f64).ok();
        let Some(at) = offset.and_then(|d| started.checked_add(d)) else {
            bail!("--rate and --seconds ask for a run longer than the clock can tell");
        };
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {}
            () = shutdown.cancelled() => bail!("interrupted"),
        }
        while in_flight.len() >= RATE_IN_FLIGHT {
            joined(in_flight.join_next().await)?;
        }
        let pool = pool.clone();
        let job = NewJob::new("noop", json!({})).queue(queue);
        in_flight.spawn(async move { Queue::new().enqueue(&pool, &job).await });
    }
    while let Some(result) = in_flight.join_next().await {
        joined(Some(result))?;
    }
    Ok((total, started))
}

fn joined(
    result: Option<Result<Result<Option<i64>, pgkeel_work::Error>, tokio::task::JoinError>>,
) -> anyhow::Result<()> {
    match result {
        Some(Ok(Err(e))) => Err(anyhow::anyhow!("cannot enqueue a job: {e}")),
        Some(Err(e)) => Err(anyhow::anyhow!("an enqueue task failed: {e}")),
        _ => Ok(()),
    }
}

/// Waits until every worker listens and has nothing to do.
async fn wait_idle(workers: &[Worker], shutdown: &CancellationToken) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !workers.iter().all(|w| {
        let stats = w.stats();
        stats.listening && stats.idle
    }) {
        if Instant::now() > deadline {
            bail!("the workers did not start listening within 10 s");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
            () = shutdown.cancelled() => bail!("interrupted"),
        }
    }
    Ok(())
}

/// Waits until the workers completed `jobs` jobs in all.
async fn wait_done(
    workers: &[Worker],
    jobs: u64,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut last = 0;
    let mut progress_at = Instant::now();
    loop {
        let done: u64 = workers.iter().map(|w| w.stats().completed).sum();
        if done >= jobs {
            return Ok(());
        }
        if done != last {
            last = done;
            progress_at = Instant::now();
        } else if progress_at.elapsed() > STALL {
            bail!(
                "no job completed for {STALL:?} ({done} of {jobs} done); see the log for the \
                 workers' errors"
            );
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(2)) => {}
            () = shutdown.cancelled() => bail!("interrupted after {done} of {jobs} jobs"),
        }
    }
}

fn report(args: &BenchArgs, m: &Measured) -> anyhow::Result<()> {
    let ms = |q: f64| {
        m.pickup
            .quantile(q)
            .map_or(0.0, |d| (d.as_secs_f64() * 1e6).round() / 1e3)
    };
    let jobs_per_s = if m.seconds > 0.0 {
        (m.jobs as f64 / m.seconds).round()
    } else {
        0.0
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "jobs": m.jobs,
            "workers": args.workers,
            "seconds": (m.seconds * 1e3).round() / 1e3,
            "jobs_per_s": jobs_per_s,
            "pickup_p50_ms": ms(0.5),
            "pickup_p99_ms": ms(0.99),
            "executed_more_than_once": m.duplicates,
        });
        writeln!(out, "{value}")?;
    } else {
        let concurrency = args.concurrency.unwrap_or(args.batch.saturating_mul(2));
        writeln!(
            out,
            "{}: {} jobs, {} workers (batch {}, concurrency {concurrency})",
            m.mode, m.jobs, args.workers, args.batch
        )?;
        writeln!(
            out,
            "  {:.3} s, {jobs_per_s} jobs/s (first {} to last completion)",
            m.seconds,
            if args.rate.is_some() {
                "enqueue"
            } else {
                "claim"
            }
        )?;
        writeln!(
            out,
            "  pickup latency (due to handler start): p50 {:.3} ms, p99 {:.3} ms",
            ms(0.5),
            ms(0.99)
        )?;
        writeln!(
            out,
            "  executed more than once: {}; left in the queue: {}",
            m.duplicates, m.left
        )?;
    }
    Ok(())
}
