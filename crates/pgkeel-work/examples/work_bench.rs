//! `work()` throughput: sessions claim work on 100 000 targets, 10 % of them backing off, and
//! finish it at once; prints calls per second (claim + finish) and how many claims found a
//! target in backoff and skipped it.
//!
//! ```sh
//! cargo run --release -p pgkeel-work --example work_bench -- URL [TARGETS] [WORKERS] [SECONDS]
//! ```

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgkeel_conn::{Pool, PoolConfig};
use pgkeel_work::{Session, SessionConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .ok_or("usage: work_bench URL [TARGETS] [WORKERS] [SECONDS]")?;
    let targets: i64 = args.get(1).map_or(Ok(100_000), |a| a.parse())?;
    let workers: usize = args.get(2).map_or(Ok(4), |a| a.parse())?;
    let seconds: u64 = args.get(3).map_or(Ok(10), |a| a.parse())?;

    let (mut client, connection) = pgkeel_net::Database::parse(url)?.connect().await?;
    tokio::spawn(connection);
    pgkeel_work::migrate(&mut client).await?;
    // 10 % of the targets back off for an hour (BMDB's persisted backoff rows).
    client
        .batch_execute(&format!(
            "DELETE FROM pgkeel_work.work WHERE process = 'bench'; \
             DELETE FROM pgkeel_work.backoffs WHERE process = 'bench'; \
             DELETE FROM pgkeel_work.history WHERE process = 'bench'; \
             INSERT INTO pgkeel_work.backoffs (target, process, cause, until, last_interval_s) \
             SELECT 't' || i, 'bench', 'benchmark', now() + interval '1 hour', 3600 \
             FROM generate_series(1, {targets}) i WHERE i % 10 = 0"
        ))
        .await?;
    let mut config = PoolConfig::from_url(url)?;
    config.max_size = workers * 2 + 2;
    let pool = Pool::start(config)?;
    pool.ready(Duration::from_secs(10)).await?;

    let calls = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let session = Session::start(
            &pool,
            SessionConfig::new("work bench", Duration::from_secs(10)),
        )
        .await?;
        let (calls, skipped) = (Arc::clone(&calls), Arc::clone(&skipped));
        tasks.push(tokio::spawn(async move {
            // Each worker walks its own stride of targets; candidates are the next 3.
            let mut next = w as i64 + 1;
            while Instant::now() < deadline {
                let list: Vec<String> = (0..3)
                    .map(|k| format!("t{}", (next + k * workers as i64 - 1) % targets + 1))
                    .collect();
                let first = list[0].clone();
                let work = session
                    .work("bench", move |_tx| {
                        std::future::ready(Ok::<_, tokio_postgres::Error>(list.clone()))
                    })
                    .await?;
                if let Some(work) = work {
                    if work.target() != first {
                        skipped.fetch_add(1, Ordering::Relaxed);
                    }
                    work.finish(|_tx| std::future::ready(Ok::<_, tokio_postgres::Error>(())))
                        .await?;
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                next += workers as i64;
            }
            session.close().await?;
            Ok::<_, pgkeel_work::Error>(())
        }));
    }
    let began = Instant::now();
    for task in tasks {
        task.await??;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let done = calls.load(Ordering::Relaxed);
    println!(
        "targets={targets} workers={workers} seconds={elapsed:.2} work_calls={done} \
         calls_per_s={:.0} skipped_backoff={}",
        done as f64 / elapsed,
        skipped.load(Ordering::Relaxed)
    );
    pool.close();
    Ok(())
}
