//! The run: start everything, let the workload run while the schedule injects faults, drain
//! (the stream catches up, the workers finish the jobs, the caches converge), stop everything,
//! and hand the counts to the referee. Whatever happens — an error, Ctrl-C — everything
//! started is stopped and removed before it returns.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::caches::CacheInstance;
use super::children::{ChildProcess, ChildSpec};
use super::faults::{self, FaultRecord, Targets};
use super::progress::Progress;
use super::referee;
use super::report::{self, CacheState, Caches, Report, Workload};
use super::schedule::{self, FaultKind};
use super::setup::{self, ORDERS, PUBLICATION, SLOT};
use super::system::System;
use super::writer::{self, WriterStats};
use super::{Options, Sabotage};

/// Most time the drain may take before the verdict is given with what arrived.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// The stream counts as caught up when its file stopped growing this long after the slot
/// was confirmed past the last commit.
const SETTLE: Duration = Duration::from_secs(3);

pub(super) async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let progress = Progress::new(options.json);
    let plan = schedule::plan(options.seed, options.duration);
    progress.line(&format!(
        "pgkeel demo: seed {}, {} s under {} faults of {} kinds; Ctrl-C stops and cleans up",
        options.seed,
        options.duration.as_secs(),
        plan.len(),
        FaultKind::ALL.len()
    ));
    let system = System::start(options.keep).await?;
    progress.line(&format!(
        "PostgreSQL {} on port {}, fault proxy on port {}",
        system.cluster.version(),
        system.cluster.port(),
        system.proxy.port().unwrap_or_default()
    ));
    if options.ui {
        progress.line(
            "--ui: the proxy's web view is not built yet (it comes with the Toxiproxy API); \
             running without it",
        );
    }
    let outcome = run_on(&system, &options, &plan, &progress, &shutdown).await;
    let kept = system.keep().then(|| {
        format!(
            "{} (changes.jsonl, logs); cluster data in {} (look inside with \
             `pgkeel postgres --data-dir {}`)",
            system.run_dir().display(),
            system.cluster.data_dir().display(),
            system.cluster.data_dir().display()
        )
    });
    let closed = system.close().await;
    let mut report = match outcome {
        Ok(Some(report)) => report,
        Ok(None) => {
            progress.line("interrupted: everything stopped and removed");
            closed?;
            return Ok(ExitCode::from(130));
        }
        Err(e) => {
            closed?;
            return Err(e);
        }
    };
    closed?;
    report.kept = kept;
    let mut out = std::io::stdout().lock();
    if options.json {
        serde_json::to_writer(&mut out, &report).context("cannot write the report")?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.render())?;
    }
    out.flush()?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the run produced before the referee counts.
struct Finished {
    records: Vec<FaultRecord>,
    caches: Caches,
    workload: Workload,
    unexpected_exits: u32,
}

/// Everything between the system's start and its close. `None` when interrupted.
async fn run_on(
    system: &System,
    options: &Options,
    plan: &[schedule::PlannedFault],
    progress: &Progress,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Report>> {
    let phase = progress.phase("start", 5, "parts");
    setup::create(&system.direct_url()).await?;
    phase.set(1);
    let mut stream_args = vec![
        "stream".to_owned(),
        "--database-url".to_owned(),
        system.proxied_url("demo-stream"),
        "--slot".to_owned(),
        SLOT.to_owned(),
        "--publication".to_owned(),
        PUBLICATION.to_owned(),
        "--tables".to_owned(),
        ORDERS.to_owned(),
        "--create".to_owned(),
        "--sink".to_owned(),
        format!("file:{}", system.events_path().display()),
        "--heartbeat".to_owned(),
        "1s".to_owned(),
        "--status-interval".to_owned(),
        "500ms".to_owned(),
    ];
    if options.sabotage == Some(Sabotage::AckEarly) {
        stream_args.push("--unsafe-ack-before-write".to_owned());
    }
    let mut stream = ChildProcess::start(ChildSpec {
        name: "stream".to_owned(),
        args: stream_args,
        log: system.log_path("stream"),
    })?;
    let mut workers = Vec::new();
    for n in 1..=2 {
        let name = format!("worker-{n}");
        workers.push(ChildProcess::start(ChildSpec {
            args: vec![
                "demo".to_owned(),
                "worker".to_owned(),
                "--database-url".to_owned(),
                system.proxied_url(&name),
                "--name".to_owned(),
                name.clone(),
            ],
            log: system.log_path(&name),
            name,
        })?);
    }
    let cache_a = Arc::new(CacheInstance::start(
        "cache-a",
        &system.proxied_url("demo-cache-a"),
    )?);
    let cache_b = Arc::new(CacheInstance::start(
        "cache-b",
        &system.proxied_url("demo-cache-b"),
    )?);
    let writer_pool = writer::pool(&system.proxied_url("demo-writer"))?;
    let pools = vec![
        writer_pool.clone(),
        cache_a.pool.clone(),
        cache_b.pool.clone(),
    ];

    let result: anyhow::Result<Option<Finished>> = async {
        let started = tokio::select! {
            ready = wait_started(system, &mut stream, &mut workers, &pools, &cache_a, &cache_b) => ready,
            _ = shutdown.cancelled() => return Ok(None),
        };
        started?;
        phase.set(5);
        phase.finish(progress, "cluster, proxy, stream, 2 workers, 2 cache instances, writer");

        let stats = Arc::new(WriterStats::default());
        let stop_writer = CancellationToken::new();
        let writing = tokio::spawn(writer::run(
            writer_pool.clone(),
            Arc::clone(&cache_a),
            Arc::clone(&stats),
            stop_writer.clone(),
        ));
        let records = {
            let mut targets = Targets {
                system,
                pools: pools.clone(),
                workers: &mut workers,
                stream: &mut stream,
            };
            run_faults(&mut targets, options, plan, progress, shutdown).await
        };
        stop_writer.cancel();
        let _ = writing.await;
        let Some(records) = records? else {
            return Ok(None);
        };
        let _ = system.proxy.set_rules("");
        let last_change = *stats.last_config_change.lock().await;
        let drained = tokio::select! {
            drained = drain(system, progress, &cache_a, &cache_b, last_change) => drained?,
            _ = shutdown.cancelled() => return Ok(None),
        };
        let unexpected = restart_exited(&mut stream, &mut workers)?;
        let workload = Workload {
            operations: stats.attempted.load(Ordering::Relaxed),
            succeeded: stats.succeeded.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
        };
        Ok(Some(Finished {
            records,
            caches: drained,
            workload,
            unexpected_exits: unexpected,
        }))
    }
    .await;

    cache_a.close();
    cache_b.close();
    writer_pool.close();
    let stopping = progress.phase("stop", 3, "processes");
    stream.stop(Duration::from_secs(5)).await;
    stopping.set(1);
    for worker in workers {
        worker.stop(Duration::from_secs(5)).await;
    }
    stopping.finish(progress, "stream and workers stopped");

    let Some(Finished {
        records,
        caches: drained,
        workload,
        unexpected_exits,
    }) = result?
    else {
        return Ok(None);
    };
    let client = setup::connect_direct(&system.direct_url()).await?;
    let committed = referee::ledger(&client).await?;
    let delivered = referee::read_events(&system.events_path())?;
    let changes = referee::compare(&committed, &delivered);
    let jobs = referee::jobs(&client).await?;
    let recovery = report::recovery(&records);
    let invariants = report::invariants(
        &changes,
        &jobs,
        &drained,
        &recovery,
        &records,
        unexpected_exits,
    );
    Ok(Some(Report {
        passed: invariants.iter().all(|i| i.held),
        seed: options.seed,
        duration_s: options.duration.as_secs_f64(),
        sabotage: options.sabotage.map(|_| "ack-early"),
        invariants,
        changes,
        jobs,
        caches: drained,
        recovery,
        faults: records,
        workload,
        unexpected_exits,
        kept: None,
    }))
}

/// Waits until every part is ready: the stream holds its slot, each worker runs, each pool
/// answers, each cache loaded once.
async fn wait_started(
    system: &System,
    stream: &mut ChildProcess,
    workers: &mut [ChildProcess],
    pools: &[pgkeel_conn::Pool],
    cache_a: &CacheInstance,
    cache_b: &CacheInstance,
) -> anyhow::Result<()> {
    let limit = Duration::from_secs(60);
    faults::slot_active(&system.direct_url(), limit)
        .await
        .with_context(|| {
            format!(
                "the stream did not start (see {})",
                system.log_path("stream").display()
            )
        })?;
    let _ = stream.ready_count();
    for worker in workers.iter_mut() {
        worker.wait_ready(1, limit).await?;
    }
    for pool in pools {
        pool.ready(limit)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("an in-process instance cannot reach the database through the proxy")?;
    }
    let deadline = Instant::now() + limit;
    while cache_a.reloads() == 0 || cache_b.reloads() == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the caches did not load within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The run phase: the faults at their times, the bar showing the time and the fault in force.
/// `None` when interrupted.
async fn run_faults(
    targets: &mut Targets<'_>,
    options: &Options,
    plan: &[schedule::PlannedFault],
    progress: &Progress,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Vec<FaultRecord>>> {
    let seconds = options.duration.as_secs();
    let phase = Arc::new(progress.phase("faults", seconds, "s"));
    let started = Instant::now();
    let ticking = {
        let phase = Arc::clone(&phase);
        let stop = shutdown.child_token();
        let guard = stop.clone().drop_guard();
        tokio::spawn(async move {
            loop {
                phase.set(started.elapsed().as_secs().min(seconds));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
        guard
    };
    let mut records = Vec::with_capacity(plan.len());
    for (n, fault) in plan.iter().enumerate() {
        let due = started + fault.at;
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = shutdown.cancelled() => return Ok(None),
        }
        phase.message(format!(
            "{} {}/{}: {}",
            "fault",
            n + 1,
            plan.len(),
            fault.kind.name()
        ));
        let record = faults::inject(fault, targets, started, shutdown).await?;
        if shutdown.is_cancelled() {
            return Ok(None);
        }
        progress.line(&describe(&record));
        restart_exited(targets.stream, targets.workers)?;
        records.push(record);
        phase.message("");
    }
    tokio::select! {
        _ = tokio::time::sleep_until((started + options.duration).into()) => {}
        _ = shutdown.cancelled() => return Ok(None),
    }
    drop(ticking);
    phase.set(seconds);
    let fired = records.iter().filter(|r| r.fired).count();
    if let Ok(phase) = Arc::try_unwrap(phase) {
        phase.finish(
            progress,
            &format!("{} faults injected, {fired} took effect", records.len()),
        );
    }
    Ok(Some(records))
}

fn describe(record: &FaultRecord) -> String {
    let recovery = match record.recovery_ms {
        Some(ms) => format!("recovered in {ms:.0} ms"),
        None => "NOT recovered".to_owned(),
    };
    let mut parts = Vec::new();
    if record.held_ms > 50 {
        parts.push(format!("{:.1} s", record.held_ms as f64 / 1000.0));
    }
    if !record.fired {
        parts.push("did not take effect".to_owned());
    }
    parts.push(recovery);
    format!("{:<17} {}", record.kind.name(), parts.join(", "))
}

/// Restarts children that exited on their own; returns how many times that happened in all.
fn restart_exited(stream: &mut ChildProcess, workers: &mut [ChildProcess]) -> anyhow::Result<u32> {
    stream.restart_if_exited()?;
    for worker in workers.iter_mut() {
        worker.restart_if_exited()?;
    }
    Ok(stream.unexpected_exits + workers.iter().map(|w| w.unexpected_exits).sum::<u32>())
}

/// After the workload: the stream delivers everything committed, the workers finish every
/// job, the caches reach the database's version. Returns the caches' final state.
async fn drain(
    system: &System,
    progress: &Progress,
    cache_a: &CacheInstance,
    cache_b: &CacheInstance,
    last_change: Option<Instant>,
) -> anyhow::Result<Caches> {
    let client = setup::connect_direct(&system.direct_url()).await?;
    let committed = referee::ledger(&client).await?;
    let target = setup::scalar(&client, "SELECT pg_current_wal_lsn()").await?;
    let pending_jobs = referee::jobs_pending(&client).await?;
    let phase = progress.phase(
        "drain",
        committed.len() as u64 + pending_jobs,
        "changes+jobs",
    );
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut caches = None;
    let mut last_growth = (0u64, Instant::now());
    loop {
        let delivered = referee::read_events(&system.events_path())?;
        let missing = committed
            .iter()
            .filter(|c| !delivered.seen.contains_key(c))
            .count() as u64;
        if delivered.lines != last_growth.0 {
            last_growth = (delivered.lines, Instant::now());
        }
        let confirmed = setup::scalar(
            &client,
            &format!(
                "SELECT confirmed_flush_lsn >= '{target}'::pg_lsn FROM pg_replication_slots WHERE slot_name = '{SLOT}'"
            ),
        )
        .await?
            == "t";
        let stream_done = missing == 0 || (confirmed && last_growth.1.elapsed() >= SETTLE);
        let jobs_left = referee::jobs_pending(&client).await?;
        if caches.is_none() {
            caches = converged(&client, cache_a, cache_b, last_change).await?;
        }
        phase.set((committed.len() as u64 - missing) + (pending_jobs.saturating_sub(jobs_left)));
        phase.message(format!(
            "stream missing {missing}, jobs pending {jobs_left}, caches {}",
            if caches.is_some() {
                "converged"
            } else {
                "converging"
            }
        ));
        let done = stream_done && jobs_left == 0 && caches.is_some();
        if done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caches = match caches {
        Some(caches) => caches,
        None => cache_state(&client, cache_a, cache_b, None).await?,
    };
    phase.finish(progress, "stream caught up, jobs done, caches checked");
    Ok(caches)
}

/// The caches' state if both hold the database's version and contents.
async fn converged(
    client: &tokio_postgres::Client,
    cache_a: &CacheInstance,
    cache_b: &CacheInstance,
    last_change: Option<Instant>,
) -> anyhow::Result<Option<Caches>> {
    let mut state = cache_state(client, cache_a, cache_b, None).await?;
    if !state.converged {
        return Ok(None);
    }
    let version = state.database_version;
    let reached = [cache_a.reached(version), cache_b.reached(version)];
    if let (Some(change), [Some(a), Some(b)]) = (last_change, reached) {
        let both = a.max(b);
        state.converged_after_ms =
            Some(both.saturating_duration_since(change).as_secs_f64() * 1000.0);
    }
    Ok(Some(state))
}

async fn cache_state(
    client: &tokio_postgres::Client,
    cache_a: &CacheInstance,
    cache_b: &CacheInstance,
    converged_after_ms: Option<f64>,
) -> anyhow::Result<Caches> {
    let (database_version, contents) = referee::cache_truth(client).await?;
    let instances: Vec<CacheState> = [cache_a, cache_b]
        .iter()
        .map(|cache| {
            let (version, loaded) = cache.loaded();
            CacheState {
                name: cache.name,
                version,
                reloads: cache.reloads(),
                matches_database: loaded == contents,
            }
        })
        .collect();
    let converged = instances
        .iter()
        .all(|i| i.version == database_version && i.matches_database);
    Ok(Caches {
        database_version,
        instances,
        converged,
        converged_after_ms: if converged { converged_after_ms } else { None },
    })
}
