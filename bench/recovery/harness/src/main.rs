//! Recovery benchmark: how soon after PostgreSQL accepts connections again a pgkeel pool is
//! Ready, runs its first query, and `pgkeel serve` answers `/ready` 200 — side by side with a
//! plain deadpool-postgres pool and a naive retry loop — over many outages of a private
//! cluster; plus NOTIFY → handler latency of the pgkeel listener and of a raw connection.
//!
//! ```sh
//! bench/recovery/run.sh            # builds, runs, writes bench/results/recovery-<stamp>/
//! cargo run --release -p pgkeel-recovery-bench -- \
//!     --pgkeel-bin target/release/pgkeel --outages 100 --seed 1 --notifies 2000 --out DIR
//! ```
//!
//! Every option can also be given as an environment variable: OUTAGES, SEED, NOTIFIES,
//! PGKEEL_BIN, OUT, DOWN_MIN_MS, DOWN_MAX_MS, PAUSE_MS, SERVE_POLL_MS, COLD_RESTARTS. See
//! bench/recovery/README.md for what is measured and how.

mod behind;
mod cold;
mod notify;
mod probe;
mod report;
mod serve;
mod stats;
mod workers;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pgkeel_conn::{Health, Pool, PoolConfig, PoolStats};
use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;
use tokio_util::sync::CancellationToken;

use crate::report::{
    Attempt as AttemptSample, BehindSample, HealthSample, Meta, Outage, Results, ServePoll,
};
use crate::stats::{Rng, ms, ms_between};
use crate::workers::{Retry, WorkLog};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The catalog query of the reconnect hook: tables and columns of `public`, like serve's
/// schema cache load.
pub(crate) const SCHEMA_SQL: &str = "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod) \
     FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1, a.attnum";

/// Longest wait for any observer at any step before the run is declared stuck.
const STEP_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Options {
    outages: usize,
    seed: u64,
    notifies: usize,
    notify_warmup: usize,
    pgkeel_bin: PathBuf,
    out: PathBuf,
    down_min_ms: u64,
    down_max_ms: u64,
    pause: Duration,
    serve_poll: Duration,
    settle: Duration,
    cold_restarts: usize,
}

impl Options {
    fn parse() -> Result<Options, BoxError> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut args: Vec<(String, String)> = Vec::new();
        let mut argv = std::env::args().skip(1);
        while let Some(flag) = argv.next() {
            let Some(name) = flag.strip_prefix("--") else {
                return Err(
                    format!("unexpected argument {flag:?} (options are --name value)").into(),
                );
            };
            let value = argv
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            args.push((name.to_owned(), value));
        }
        let get = |flag: &str, var: &str| {
            args.iter()
                .rev()
                .find(|(n, _)| n == flag)
                .map(|(_, v)| v.clone())
                .or_else(|| env(var))
        };
        let number = |flag: &str, var: &str, default: u64| -> Result<u64, BoxError> {
            match get(flag, var) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|e| format!("--{flag} / {var}: {v:?} is not a number ({e})").into()),
            }
        };
        for (name, _) in &args {
            const KNOWN: [&str; 10] = [
                "cold-restarts",
                "outages",
                "seed",
                "notifies",
                "pgkeel-bin",
                "out",
                "down-min-ms",
                "down-max-ms",
                "pause-ms",
                "serve-poll-ms",
            ];
            if !KNOWN.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}; known: {}", KNOWN.join(", ")).into());
            }
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?;
        let options = Options {
            outages: number("outages", "OUTAGES", 100)? as usize,
            seed: number("seed", "SEED", now.as_nanos() as u64 & 0xFFFF_FFFF)?,
            notifies: number("notifies", "NOTIFIES", 2000)? as usize,
            notify_warmup: 50,
            pgkeel_bin: get("pgkeel-bin", "PGKEEL_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target/release/pgkeel")),
            out: get("out", "OUT")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join(format!("bench/results/recovery-{}", now.as_secs()))),
            down_min_ms: number("down-min-ms", "DOWN_MIN_MS", 200)?,
            down_max_ms: number("down-max-ms", "DOWN_MAX_MS", 1500)?,
            pause: Duration::from_millis(number("pause-ms", "PAUSE_MS", 1)?),
            serve_poll: Duration::from_millis(number("serve-poll-ms", "SERVE_POLL_MS", 2)?),
            settle: Duration::from_millis(300),
            cold_restarts: number("cold-restarts", "COLD_RESTARTS", 10)? as usize,
        };
        if options.outages == 0 || options.down_max_ms < options.down_min_ms {
            return Err("need at least 1 outage and DOWN_MIN_MS <= DOWN_MAX_MS".into());
        }
        if !options.pgkeel_bin.is_file() {
            return Err(format!(
                "the pgkeel binary {} does not exist; build it (cargo build --release -p pgkeel) \
                 or pass --pgkeel-bin / PGKEEL_BIN",
                options.pgkeel_bin.display()
            )
            .into());
        }
        Ok(options)
    }
}

/// Progress on stderr, one line per event.
fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[recovery_bench] {text}");
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> Result<T, BoxError> {
    tokio::task::spawn_blocking(f).await?
}

/// Waits up to `limit` for `check` to hold, checking every `every`; returns when it did.
async fn until(limit: Duration, every: Duration, check: impl Fn() -> bool) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Every health change of the pgkeel pool, with the instant it was observed.
type HealthLog = Arc<Mutex<Vec<(Instant, Health)>>>;

fn spawn_health_log(pool: &Pool, stop: CancellationToken) -> HealthLog {
    let log: HealthLog = Arc::new(Mutex::new(Vec::new()));
    let mut rx = pool.subscribe();
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let health = rx.borrow_and_update().clone();
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), health));
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = stop.cancelled() => return,
            }
        }
    });
    log
}

/// `/proc/stat`'s busy and total jiffies (all CPUs).
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = Options::parse()?;
    std::fs::create_dir_all(&options.out)?;
    let began = Instant::now();
    say(&format!(
        "seed {} · {} outages of {}–{} ms · {} notifications · results in {}",
        options.seed,
        options.outages,
        options.down_min_ms,
        options.down_max_ms,
        options.notifies,
        options.out.display()
    ));
    let mut rng = Rng::new(options.seed);

    let cluster: Arc<Cluster> = Arc::new(
        blocking(|| {
            // Millisecond UTC times in the server log: a cross-check of t0.
            Ok(private_cluster()
                .setting("log_line_prefix", "%m [%p] ")
                .setting("log_timezone", "UTC")
                .start()?)
        })
        .await?,
    );
    let url = cluster.url();
    {
        let c = Arc::clone(&cluster);
        blocking(move || {
            c.admin_query(
                "CREATE TABLE public.bench_items (id bigint PRIMARY KEY, name text NOT NULL, \
                 created_at timestamptz NOT NULL DEFAULT now())",
            )?;
            Ok(())
        })
        .await?;
    }
    say(&format!(
        "PostgreSQL {} on port {} ({})",
        cluster.version(),
        cluster.port(),
        cluster.data_dir().display()
    ));

    // NOTIFY → handler first, on a quiet machine (no workers, no serve yet).
    say("NOTIFY latency ...");
    let notify = notify::run(&url, options.notifies, options.notify_warmup, &mut rng).await?;

    let stop = CancellationToken::new();

    // (a) pgkeel pool, product defaults, a reconnect hook like serve's reload (timed).
    let hook_log: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let hook_sink = Arc::clone(&hook_log);
    let pool = Pool::builder(PoolConfig::from_url(&url)?)
        .on_reconnect("schema", move |conn| {
            let hook_log = Arc::clone(&hook_sink);
            async move {
                let begun = Instant::now();
                conn.query(SCHEMA_SQL, &[]).await?;
                hook_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((begun, Instant::now()));
                Ok(())
            }
        })
        .start()?;
    pool.ready(STEP_LIMIT).await?;
    let health_log = spawn_health_log(&pool, stop.clone());

    // (b) pgkeel serve.
    let mut serve = serve::start(&options.pgkeel_bin, &url, &options.out.join("serve.log")).await?;
    let admin = serve.admin;
    let became_ready = tokio::time::timeout(
        STEP_LIMIT,
        serve::poll_until(admin, Duration::from_millis(10), |s| s == Some(200)),
    )
    .await;
    if became_ready.is_err() {
        return Err("pgkeel serve did not become ready".into());
    }
    say(&format!("pgkeel serve ready on {admin}"));

    // (b') the same pool and serve behind intermediaries that accept TCP while the server is
    // down: a pgkeel proxy (answers FATAL 08006) and HAProxy in TCP mode (closes the connection),
    // as pgbouncer, HAProxy in front of Patroni or a cloud load balancer would be.
    let proxy = pgkeel_proxy::Proxy::start(pgkeel_proxy::ProxyConfig::new(
        pgkeel_proxy::Address::tcp("127.0.0.1", cluster.port()),
    ))
    .await?;
    let haproxy = pgkeel_testkit::Haproxy::start(cluster.port());
    let through =
        |port: u16| url.replacen(&format!(":{}/", cluster.port()), &format!(":{port}/"), 1);
    let mut behind = Vec::new();
    for (name, port, log) in [
        (
            "pgkeel proxy",
            proxy.port().unwrap_or_default(),
            "serve-proxied.log",
        ),
        ("HAProxy", haproxy.port(), "serve-haproxy.log"),
    ] {
        let observers = behind::Behind::start(
            name,
            &through(port),
            SCHEMA_SQL,
            &options.pgkeel_bin,
            &options.out.join(log),
        )
        .await?;
        say(&format!(
            "behind {name}: pool ready, serve ready on {}",
            observers.admin()
        ));
        behind.push(observers);
    }

    // (c) baselines: plain deadpool pools with a naive retry loop.
    let naive = Retry {
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
    };
    let fixed = Retry {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
    };
    let pgkeel_log = Arc::new(WorkLog::default());
    let naive_log = Arc::new(WorkLog::default());
    let fixed_log = Arc::new(WorkLog::default());
    let mut tasks = vec![
        workers::spawn_pgkeel(
            pool.clone(),
            Arc::clone(&pgkeel_log),
            options.pause,
            stop.clone(),
        ),
        workers::spawn_baseline(
            workers::deadpool(&url)?,
            naive,
            Arc::clone(&naive_log),
            options.pause,
            stop.clone(),
        ),
        workers::spawn_baseline(
            workers::deadpool(&url)?,
            fixed,
            Arc::clone(&fixed_log),
            options.pause,
            stop.clone(),
        ),
    ];
    tokio::time::sleep(Duration::from_secs(1)).await;

    let cpu_before = cpu_jiffies();
    let outages_began = Instant::now();
    let mut outages = Vec::with_capacity(options.outages);
    let mut last_stop = Instant::now();
    for index in 0..options.outages {
        // Steady state: everyone served since the last outage.
        let steady = until(STEP_LIMIT, Duration::from_millis(5), || {
            pool.health().is_ready()
                && behind.iter().all(behind::Behind::is_ready)
                && [&pgkeel_log, &naive_log, &fixed_log]
                    .iter()
                    .all(|l| index == 0 || l.first_success_after(last_stop).is_some())
        })
        .await;
        if steady.is_none() {
            return Err(
                format!("outage {index}: not everyone recovered from the last outage").into(),
            );
        }
        tokio::time::sleep(options.settle).await;
        let stats_before = pool.stats();

        // Stop (fast shutdown) and wait until every observer noticed.
        let t_stop = Instant::now();
        last_stop = t_stop;
        {
            let c = Arc::clone(&cluster);
            blocking(move || Ok(c.stop()?)).await?;
        }
        let t_stopped = Instant::now();
        let mut rx = pool.subscribe();
        let (pgkeel_noticed, serve_noticed, naive_noticed, fixed_noticed) = tokio::join!(
            async {
                tokio::time::timeout(STEP_LIMIT, rx.wait_for(|h| !h.is_ready()))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|_| Instant::now())
            },
            async {
                tokio::time::timeout(
                    STEP_LIMIT,
                    serve::poll_until(admin, Duration::from_millis(5), |s| s != Some(200)),
                )
                .await
                .ok()
                .map(|(at, _)| at)
            },
            until(STEP_LIMIT, Duration::from_millis(2), || naive_log
                .failed_after(t_stop)),
            until(STEP_LIMIT, Duration::from_millis(2), || fixed_log
                .failed_after(t_stop)),
        );
        let noticed = [pgkeel_noticed, serve_noticed, naive_noticed, fixed_noticed];
        for observers in &behind {
            if !observers.noticed().await {
                return Err(format!(
                    "outage {index}: an observer behind {} did not notice",
                    observers.name
                )
                .into());
            }
        }
        if noticed.iter().any(Option::is_none) {
            return Err(format!("outage {index}: an observer did not notice the outage").into());
        }
        let down_ms = rng.between(options.down_min_ms, options.down_max_ms);
        tokio::time::sleep(Duration::from_millis(down_ms)).await;

        // Arm the observers, then start the server again.
        let mut rx = pool.subscribe();
        let pgkeel_ready = tokio::spawn(async move {
            tokio::time::timeout(STEP_LIMIT, rx.wait_for(Health::is_ready))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|_| Instant::now())
        });
        let serve_ready = tokio::spawn(tokio::time::timeout(
            STEP_LIMIT,
            serve::poll_until(admin, options.serve_poll, |s| s == Some(200)),
        ));
        let armed: Vec<behind::Armed> = behind
            .iter()
            .map(|observers| observers.arm(options.serve_poll))
            .collect();
        let log_from = std::fs::metadata(cluster.log_path()).map_or(0, |m| m.len());
        let anchor = probe::Anchor::now();
        let t_start = Instant::now();
        let prober = probe::spawn(cluster.port(), cluster.data_dir().to_path_buf(), STEP_LIMIT);
        let starting = {
            let c = Arc::clone(&cluster);
            tokio::task::spawn_blocking(move || c.start().map(|()| Instant::now()))
        };
        let seen = blocking(move || {
            prober
                .join()
                .map_err(|_| "the prober thread panicked".into())
        })
        .await?;
        let t_started = starting.await??;
        let Some(t0) = seen.listening else {
            return Err(
                format!("outage {index}: PostgreSQL never accepted a TCP connection").into(),
            );
        };
        let logged = probe::logged(&cluster.log_path(), log_from, anchor);
        let pgkeel_ready = pgkeel_ready.await?;
        let (serve_ready, serve_trace) = match serve_ready.await? {
            Ok((at, trace)) => (Some(at), trace),
            Err(_) => (None, Vec::new()),
        };
        let mut behind_ready = Vec::with_capacity(armed.len());
        for waiting in armed {
            behind_ready.push(waiting.ready().await?);
        }
        let firsts = tokio::join!(
            until(STEP_LIMIT, Duration::from_millis(1), || pgkeel_log
                .first_success_after(t_stop)
                .is_some()),
            until(STEP_LIMIT, Duration::from_millis(1), || naive_log
                .first_success_after(t_stop)
                .is_some()),
            until(STEP_LIMIT, Duration::from_millis(1), || fixed_log
                .first_success_after(t_stop)
                .is_some()),
        );
        let stats_after = pool.stats();
        let rel = |t: Option<Instant>| t.map(|t| ms_between(t0, t));
        let first = |log: &WorkLog| log.first_success_after(t_stop);
        let (pgkeel_first, naive_first, fixed_first) =
            (first(&pgkeel_log), first(&naive_log), first(&fixed_log));
        let end = [firsts.0, firsts.1, firsts.2, pgkeel_ready, serve_ready]
            .into_iter()
            .chain(behind_ready.iter().flat_map(|r| [r.pool, r.serve]))
            .flatten()
            .max()
            .unwrap_or(t0);
        let attempts = |log: &WorkLog| -> Vec<AttemptSample> {
            log.between(t_stop, end)
                .into_iter()
                .map(|a| AttemptSample::new(&a, t0))
                .collect()
        };
        let health: Vec<HealthSample> = health_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(at, _)| *at >= t_stop && *at <= end)
            .map(|(at, h)| HealthSample::new(*at, h, t0))
            .collect();
        let outage = Outage {
            index,
            down_ms,
            stop_ms: ms_between(t_stop, t_stopped),
            noticed_after_stop_ms: noticed.map(|t| t.map(|t| ms_between(t_stop, t))),
            start_to_listen_ms: ms_between(t_start, t0),
            listen_to_pid_ready_ms: rel(seen.ready),
            start_returned_ms: ms_between(t0, t_started),
            log_listening_ms: rel(logged.listening),
            log_ready_ms: rel(logged.ready),
            prober_checks: seen.checks,
            pgkeel_ready_ms: rel(pgkeel_ready),
            pgkeel_first_run_ms: rel(pgkeel_first.as_ref().map(|a| a.done)),
            pgkeel_first_run_call_ms: pgkeel_first.as_ref().map(|a| ms_between(t0, a.at)),
            serve_ready_ms: rel(serve_ready),
            behind: behind
                .iter()
                .zip(&behind_ready)
                .map(|(observers, ready)| BehindSample {
                    name: observers.name,
                    pool_ready_ms: rel(ready.pool),
                    serve_ready_ms: rel(ready.serve),
                })
                .collect(),
            naive_ms: rel(naive_first.as_ref().map(|a| a.done)),
            fixed_ms: rel(fixed_first.as_ref().map(|a| a.done)),
            pgkeel_attempt_failures: stats_after.attempt_failures - stats_before.attempt_failures,
            pgkeel_hook_failures: stats_after.hook_failures - stats_before.hook_failures,
            pgkeel_hook_ms: hook_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .find(|(begun, _)| *begun >= t_stop)
                .map(|(b, e)| [ms_between(t0, *b), ms_between(t0, *e)]),
            pgkeel_health: health,
            serve_trace: serve_trace.iter().map(|p| ServePoll::new(p, t0)).collect(),
            pgkeel_attempts: attempts(&pgkeel_log),
            naive_attempts: attempts(&naive_log),
            fixed_attempts: attempts(&fixed_log),
        };
        say(&outage.one_line());
        outages.push(outage);
    }
    let outage_phase = outages_began.elapsed();
    let machine_busy = match (cpu_before, cpu_jiffies()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };

    stop.cancel();
    for task in tasks.drain(..) {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let final_stats: PoolStats = pool.stats();
    pool.close();
    for observers in behind {
        observers.close().await;
    }
    let _ = serve.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), serve.child.wait()).await;
    proxy.shutdown().await;
    drop(haproxy);

    say("cold-start connection costs ...");
    let cold = cold::run(&cluster, &url, options.cold_restarts).await?;

    let results = Results {
        meta: Meta {
            seed: options.seed,
            outages: options.outages,
            down_min_ms: options.down_min_ms,
            down_max_ms: options.down_max_ms,
            worker_pause_ms: ms(options.pause),
            serve_poll_ms: ms(options.serve_poll),
            settle_ms: ms(options.settle),
            notifies: options.notifies,
            postgres_version: cluster.version().to_owned(),
            pgkeel_bin: options.pgkeel_bin.display().to_string(),
            outage_phase_s: outage_phase.as_secs_f64(),
            total_s: began.elapsed().as_secs_f64(),
            machine_busy,
            pool_stats: final_stats,
            calls: [&pgkeel_log, &naive_log, &fixed_log]
                .map(|l| l.calls.load(std::sync::atomic::Ordering::Relaxed)),
        },
        outages,
        notify,
        cold,
    };
    let text = report::render(&results);
    std::fs::write(options.out.join("report.txt"), &text)?;
    std::fs::write(
        options.out.join("samples.json"),
        serde_json::to_vec_pretty(&results)?,
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    writeln!(
        out,
        "\nsamples: {}",
        options.out.join("samples.json").display()
    )?;
    drop(out);
    let c = Arc::clone(&cluster);
    blocking(move || Ok(c.close()?)).await?;
    Ok(())
}
