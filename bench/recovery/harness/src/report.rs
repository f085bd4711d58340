//! What the benchmark keeps (every sample, serialised to JSON) and the human report.

use std::fmt::Write as _;
use std::time::Instant;

use pgkeel_conn::{Health, PoolStats};
use serde::Serialize;

use crate::cold::ColdSample;
use crate::notify::NotifySamples;
use crate::stats::{Summary, ms, ms_between};
use crate::{serve, workers};

/// The whole run.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) meta: Meta,
    pub(crate) outages: Vec<Outage>,
    pub(crate) notify: NotifySamples,
    pub(crate) cold: Vec<ColdSample>,
}

/// Settings and facts of the run.
#[derive(Debug, Serialize)]
pub(crate) struct Meta {
    pub(crate) seed: u64,
    pub(crate) outages: usize,
    pub(crate) down_min_ms: u64,
    pub(crate) down_max_ms: u64,
    pub(crate) worker_pause_ms: f64,
    pub(crate) serve_poll_ms: f64,
    pub(crate) settle_ms: f64,
    pub(crate) notifies: usize,
    pub(crate) postgres_version: String,
    pub(crate) pgkeel_bin: String,
    pub(crate) outage_phase_s: f64,
    pub(crate) total_s: f64,
    /// Non-idle share of all CPUs during the outage phase.
    pub(crate) machine_busy: Option<f64>,
    pub(crate) pool_stats: PoolStats,
    /// Calls made by the pgkeel, naive and fixed workers.
    pub(crate) calls: [u64; 3],
}

/// One outage. Times in ms; `*_ms` latencies are relative to t0 (the first accepted TCP
/// connect), other times as named.
#[derive(Debug, Serialize)]
pub(crate) struct Outage {
    pub(crate) index: usize,
    /// Pause between "every observer noticed" and starting the server again.
    pub(crate) down_ms: u64,
    /// How long the fast shutdown took.
    pub(crate) stop_ms: f64,
    /// From the stop call to: pgkeel not Ready, serve /ready not 200, naive and fixed failing.
    pub(crate) noticed_after_stop_ms: [Option<f64>; 4],
    /// From the start call to t0.
    pub(crate) start_to_listen_ms: f64,
    /// From t0 to `postmaster.pid` saying `ready`.
    pub(crate) listen_to_pid_ready_ms: Option<f64>,
    /// From t0 to `Cluster::start` returning (it polls the pid file every 10 ms).
    pub(crate) start_returned_ms: f64,
    /// The server log's "listening on IPv4 address" and "ready to accept connections" times
    /// (millisecond resolution, truncated) relative to t0: how late the prober saw it.
    pub(crate) log_listening_ms: Option<f64>,
    pub(crate) log_ready_ms: Option<f64>,
    pub(crate) prober_checks: u64,
    pub(crate) pgkeel_ready_ms: Option<f64>,
    pub(crate) pgkeel_first_run_ms: Option<f64>,
    /// When the call that succeeded first was started (negative: before t0, it waited).
    pub(crate) pgkeel_first_run_call_ms: Option<f64>,
    pub(crate) serve_ready_ms: Option<f64>,
    /// The same pool and serve behind each intermediary (accepts TCP while the server is down).
    pub(crate) behind: Vec<BehindSample>,
    pub(crate) naive_ms: Option<f64>,
    pub(crate) fixed_ms: Option<f64>,
    pub(crate) pgkeel_attempt_failures: u64,
    pub(crate) pgkeel_hook_failures: u64,
    /// The successful reconnect hook's query: started, finished (after t0). Before it the
    /// supervisor connected its sentinel, read the server version and connected a pooled
    /// connection for the hook.
    pub(crate) pgkeel_hook_ms: Option<[f64; 2]>,
    pub(crate) pgkeel_health: Vec<HealthSample>,
    /// Every change of serve's `/ready` answer while it recovered (polled every 2 ms).
    pub(crate) serve_trace: Vec<ServePoll>,
    pub(crate) pgkeel_attempts: Vec<Attempt>,
    pub(crate) naive_attempts: Vec<Attempt>,
    pub(crate) fixed_attempts: Vec<Attempt>,
}

impl Outage {
    pub(crate) fn one_line(&self) -> String {
        let f = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.1}"));
        format!(
            "outage {:>3}: down {:>4} ms · listen→ready {:>5} · pgkeel ready {:>6} run {:>6} · serve {:>6} ·{} naive {:>7} · fixed {:>7} ms after t0",
            self.index + 1,
            self.down_ms,
            f(self.listen_to_pid_ready_ms),
            f(self.pgkeel_ready_ms),
            f(self.pgkeel_first_run_ms),
            f(self.serve_ready_ms),
            self.behind
                .iter()
                .map(|b| format!(
                    " {}: pool {:>6} serve {:>6} ·",
                    b.name,
                    f(b.pool_ready_ms),
                    f(b.serve_ready_ms)
                ))
                .collect::<String>(),
            f(self.naive_ms),
            f(self.fixed_ms),
        )
    }
}

/// The pool and serve behind one intermediary in one outage, ms after t0.
#[derive(Debug, serde::Serialize)]
pub(crate) struct BehindSample {
    pub(crate) name: &'static str,
    pub(crate) pool_ready_ms: Option<f64>,
    pub(crate) serve_ready_ms: Option<f64>,
}

/// A logged call of a worker, times relative to t0.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    pub(crate) at_ms: f64,
    pub(crate) done_ms: f64,
    pub(crate) ok: bool,
    pub(crate) kind: &'static str,
    pub(crate) error: Option<String>,
    pub(crate) sleep_after_ms: Option<f64>,
    pub(crate) epoch: Option<u64>,
    pub(crate) recovered: bool,
}

impl Attempt {
    pub(crate) fn new(a: &workers::Attempt, t0: Instant) -> Self {
        Attempt {
            at_ms: ms_between(t0, a.at),
            done_ms: ms_between(t0, a.done),
            ok: a.ok,
            kind: a.error.as_deref().map_or("ok", kind),
            error: a.error.clone(),
            sleep_after_ms: a.sleep_after.map(ms),
            epoch: a.epoch,
            recovered: a.recovered,
        }
    }
}

/// A health change of the pgkeel pool, relative to t0.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HealthSample {
    pub(crate) at_ms: f64,
    pub(crate) state: &'static str,
    pub(crate) epoch: Option<u64>,
    pub(crate) attempt: u32,
    /// The backoff delay chosen (when the next attempt was due, seen from this change).
    pub(crate) next_retry_in_ms: Option<f64>,
    pub(crate) kind: &'static str,
    pub(crate) last_error: Option<String>,
}

impl HealthSample {
    pub(crate) fn new(at: Instant, h: &Health, t0: Instant) -> Self {
        let last_error = h.last_error();
        let next_retry_at = match h {
            Health::Starting { next_retry_at, .. } | Health::Recovering { next_retry_at, .. } => {
                *next_retry_at
            }
            _ => None,
        };
        HealthSample {
            at_ms: ms_between(t0, at),
            state: h.state(),
            epoch: h.epoch(),
            attempt: h.attempt(),
            next_retry_in_ms: next_retry_at.map(|n| ms_between(at, n)),
            kind: last_error.as_deref().map_or("", kind),
            last_error: last_error.map(|e| e.chars().take(200).collect()),
        }
    }
}

/// A change of serve's `/ready` answer, relative to t0.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServePoll {
    pub(crate) at_ms: f64,
    pub(crate) status: Option<u16>,
    pub(crate) state: Option<String>,
    pub(crate) attempt: Option<u64>,
    pub(crate) next_retry_in_ms: Option<u64>,
    pub(crate) kind: &'static str,
    pub(crate) last_error: Option<String>,
}

impl ServePoll {
    pub(crate) fn new(p: &serve::Poll, t0: Instant) -> Self {
        ServePoll {
            at_ms: ms_between(t0, p.at),
            status: p.status,
            state: p.state.clone(),
            attempt: p.attempt,
            next_retry_in_ms: p.next_retry_in_ms,
            kind: p.last_error.as_deref().map_or("", kind),
            last_error: p.last_error.clone(),
        }
    }
}

/// What an error text says, in one word.
pub(crate) fn kind(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("refused") {
        "refused"
    } else if e.contains("starting up") {
        "57P03 starting up"
    } else if e.contains("shutting down") {
        "57P03 shutting down"
    } else if e.contains("terminating connection") || e.contains("57p01") {
        "57P01 admin shutdown"
    } else if e.contains("closed") {
        "connection closed"
    } else {
        "other"
    }
}

fn row(out: &mut String, name: &str, samples: &[f64]) -> Option<Summary> {
    let summary = Summary::of(samples);
    match summary {
        Some(s) => {
            let _ = writeln!(
                out,
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                s.p50, s.p90, s.p99, s.max, s.mean, s.n
            );
        }
        None => {
            let _ = writeln!(out, "| {name} | — | — | — | — | — | 0 |");
        }
    }
    summary
}

fn values(outages: &[Outage], f: impl Fn(&Outage) -> Option<f64>) -> Vec<f64> {
    outages.iter().filter_map(f).collect()
}

const HEADER: &str =
    "| observer | p50 | p90 | p99 | max | mean | n |\n|---|---|---|---|---|---|---|";

/// The report as Markdown tables.
pub(crate) fn render(r: &Results) -> String {
    let mut out = String::new();
    let m = &r.meta;
    let o = &r.outages;
    let _ = writeln!(
        out,
        "## Recovery: {} outages (fast shutdown, down {}–{} ms), seed {}, PostgreSQL {}\n",
        o.len(),
        m.down_min_ms,
        m.down_max_ms,
        m.seed,
        m.postgres_version
    );
    let _ = writeln!(
        out,
        "Latency in ms from t0 = the first TCP connect the restarted postmaster accepted \
         (checked every 1 ms) to:\n"
    );
    let _ = writeln!(out, "{HEADER}");
    let pgkeel_ready = values(o, |x| x.pgkeel_ready_ms);
    let pgkeel_run = values(o, |x| x.pgkeel_first_run_ms);
    let serve = values(o, |x| x.serve_ready_ms);
    let naive = values(o, |x| x.naive_ms);
    let fixed = values(o, |x| x.fixed_ms);
    row(&mut out, "pgkeel Pool: health Ready", &pgkeel_ready);
    let s_run = row(&mut out, "pgkeel Pool: first successful run", &pgkeel_run);
    let s_serve = row(&mut out, "pgkeel serve: first /ready 200", &serve);
    let names: Vec<&str> = o
        .first()
        .map(|x| x.behind.iter().map(|b| b.name).collect())
        .unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        row(
            &mut out,
            &format!("behind {name}: Pool health Ready"),
            &values(o, |x| x.behind.get(i).and_then(|b| b.pool_ready_ms)),
        );
        row(
            &mut out,
            &format!("behind {name}: serve first /ready 200"),
            &values(o, |x| x.behind.get(i).and_then(|b| b.serve_ready_ms)),
        );
    }
    let s_naive = row(
        &mut out,
        "deadpool + naive retry (50 ms doubling to 2 s): first success",
        &naive,
    );
    let s_fixed = row(
        &mut out,
        "deadpool + fixed 1 s retry: first success",
        &fixed,
    );

    let _ = writeln!(
        out,
        "\nThe same, from the moment postmaster.pid said `ready` (sessions accepted, no 57P03):\n"
    );
    let _ = writeln!(out, "{HEADER}");
    let from_ready = |f: fn(&Outage) -> Option<f64>| -> Vec<f64> {
        values(o, |x| Some(f(x)? - x.listen_to_pid_ready_ms?))
    };
    row(
        &mut out,
        "pgkeel Pool: health Ready",
        &from_ready(|x| x.pgkeel_ready_ms),
    );
    row(
        &mut out,
        "pgkeel Pool: first successful run",
        &from_ready(|x| x.pgkeel_first_run_ms),
    );
    row(
        &mut out,
        "pgkeel serve: first /ready 200",
        &from_ready(|x| x.serve_ready_ms),
    );
    row(
        &mut out,
        "deadpool + naive retry: first success",
        &from_ready(|x| x.naive_ms),
    );
    row(
        &mut out,
        "deadpool + fixed 1 s retry: first success",
        &from_ready(|x| x.fixed_ms),
    );

    // Ratios and goal.
    let _ = writeln!(out);
    if let (Some(run), Some(naive)) = (s_run, s_naive) {
        let per_outage: Vec<f64> = values(o, |x| {
            let p = x.pgkeel_first_run_ms?;
            let n = x.naive_ms?;
            (p > 0.0).then(|| n / p)
        });
        let _ = writeln!(
            out,
            "naive ÷ pgkeel (first successful run): ratio of medians {:.1}×, ratio of p99s {:.1}×, \
             median of per-outage ratios {:.1}×",
            naive.p50 / run.p50,
            naive.p99 / run.p99,
            Summary::of(&per_outage).map_or(f64::NAN, |s| s.p50)
        );
    }
    if let (Some(run), Some(fixed)) = (s_run, s_fixed) {
        let _ = writeln!(
            out,
            "fixed 1 s ÷ pgkeel (first successful run): ratio of medians {:.1}×",
            fixed.p50 / run.p50
        );
    }
    for (name, s) in [("serve /ready 200", s_serve), ("pgkeel first run", s_run)] {
        if let Some(s) = s {
            let _ = writeln!(
                out,
                "goal p99 ≤ 250 ms, {name}: {} (p99 {:.1} ms, max {:.1} ms)",
                if s.p99 <= 250.0 { "met" } else { "NOT met" },
                s.p99,
                s.max
            );
        }
    }

    // t0 and noticing.
    let _ = writeln!(out, "\nThe restart and the outage itself, ms:\n");
    let _ = writeln!(out, "{HEADER}");
    row(
        &mut out,
        "Cluster::start() called → first TCP connect accepted (t0)",
        &values(o, |x| Some(x.start_to_listen_ms)),
    );
    row(
        &mut out,
        "t0 → postmaster.pid `ready`",
        &values(o, |x| x.listen_to_pid_ready_ms),
    );
    row(
        &mut out,
        "t0 → server log \"listening on IPv4 address\" (ms resolution, truncated)",
        &values(o, |x| x.log_listening_ms),
    );
    row(
        &mut out,
        "t0 → server log \"ready to accept connections\"",
        &values(o, |x| x.log_ready_ms),
    );
    row(
        &mut out,
        "t0 → Cluster::start() returned",
        &values(o, |x| Some(x.start_returned_ms)),
    );
    row(
        &mut out,
        "fast shutdown (stop() call → returned)",
        &values(o, |x| Some(x.stop_ms)),
    );
    row(
        &mut out,
        "down (all noticed → start() called)",
        &values(o, |x| Some(x.down_ms as f64)),
    );

    render_naive(&mut out, o);
    render_pgkeel(&mut out, o);
    render_cold(&mut out, &r.cold);
    render_notify(&mut out, &r.notify);

    let _ = writeln!(
        out,
        "\nRun: outage phase {:.0} s, total {:.0} s; machine busy {} during the outages; \
         worker calls pgkeel {} / naive {} / fixed {}; pool stats {:?}",
        m.outage_phase_s,
        m.total_s,
        m.machine_busy
            .map_or("?".to_owned(), |b| format!("{:.0} %", b * 100.0)),
        m.calls[0],
        m.calls[1],
        m.calls[2],
        m.pool_stats
    );
    out
}

/// Where the naive loop's retries landed relative to t0.
fn render_naive(out: &mut String, o: &[Outage]) {
    let _ = writeln!(
        out,
        "\nWhere the naive loop's retries landed: the sleep in force at t0 (chosen after its last \
         failure before t0) and the first success, ms:\n"
    );
    let _ = writeln!(
        out,
        "| sleep in force at t0 | outages | failed attempts before t0 (median) | slept past t0 before the next attempt, p50 / max | first success p50 / max |\n|---|---|---|---|---|"
    );
    let mut groups: Vec<(u64, Vec<&Outage>)> = Vec::new();
    for x in o {
        let Some(before) = x
            .naive_attempts
            .iter()
            .rev()
            .find(|a| !a.ok && a.at_ms < 0.0)
        else {
            continue;
        };
        let sleep = before.sleep_after_ms.unwrap_or(0.0).round() as u64;
        match groups.iter_mut().find(|(s, _)| *s == sleep) {
            Some((_, list)) => list.push(x),
            None => groups.push((sleep, vec![x])),
        }
    }
    groups.sort_by_key(|(s, _)| *s);
    for (sleep, list) in &groups {
        let failures: Vec<f64> = list
            .iter()
            .map(|x| {
                x.naive_attempts
                    .iter()
                    .filter(|a| !a.ok && a.at_ms < 0.0)
                    .count() as f64
            })
            .collect();
        let next: Vec<f64> = list
            .iter()
            .filter_map(|x| x.naive_attempts.iter().find(|a| a.at_ms >= 0.0))
            .map(|a| a.at_ms)
            .collect();
        let first: Vec<f64> = list.iter().filter_map(|x| x.naive_ms).collect();
        let pm = |v: &[f64]| {
            Summary::of(v).map_or("—".to_owned(), |s| format!("{:.0} / {:.0}", s.p50, s.max))
        };
        let _ = writeln!(
            out,
            "| {sleep} | {} | {:.0} | {} | {} |",
            list.len(),
            Summary::of(&failures).map_or(0.0, |s| s.p50),
            pm(&next),
            pm(&first)
        );
    }
    let mut after_t0: Vec<(&'static str, usize)> = Vec::new();
    let mut outages_hit = 0;
    for x in o {
        let mut hit = false;
        for a in x.naive_attempts.iter().filter(|a| !a.ok && a.at_ms >= 0.0) {
            hit = true;
            match after_t0.iter_mut().find(|(k, _)| *k == a.kind) {
                Some((_, n)) => *n += 1,
                None => after_t0.push((a.kind, 1)),
            }
        }
        outages_hit += usize::from(hit);
    }
    let _ = writeln!(
        out,
        "\nnaive attempts that started after t0 and still failed: {} in {} outages ({})",
        after_t0.iter().map(|(_, n)| n).sum::<usize>(),
        outages_hit,
        after_t0
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

const STARTING_UP: &str = "57P03 starting up";

/// True when a connection attempt of pgkeel's supervisor failed because the server was still
/// starting up (it listened, but did not take sessions yet).
fn pgkeel_hit_startup(x: &Outage) -> bool {
    x.pgkeel_health.iter().any(|h| h.kind == STARTING_UP)
}

/// The same for serve's pool, as its `/ready` answers reported it.
fn serve_hit_startup(x: &Outage) -> bool {
    x.serve_trace.iter().any(|p| p.kind == STARTING_UP)
}

/// What pgkeel's supervisor (and serve's) did after t0, and what it cost.
fn render_pgkeel(out: &mut String, o: &[Outage]) {
    let failures: Vec<f64> = o.iter().map(|x| x.pgkeel_attempt_failures as f64).collect();
    let _ = writeln!(
        out,
        "\npgkeel supervisor: failed connection attempts per outage p50 {:.0}, max {:.0}.\n",
        Summary::of(&failures).map_or(0.0, |s| s.p50),
        Summary::of(&failures).map_or(0.0, |s| s.max),
    );
    let _ = writeln!(
        out,
        "Where pgkeel Pool's time after t0 went (outages without a 57P03 \"starting up\" \
         attempt), ms:\n"
    );
    let _ = writeln!(out, "{HEADER}");
    let clean: Vec<&Outage> = o.iter().filter(|x| !pgkeel_hit_startup(x)).collect();
    let pick = |f: &dyn Fn(&Outage) -> Option<f64>| -> Vec<f64> {
        clean.iter().filter_map(|x| f(x)).collect()
    };
    row(
        out,
        "t0 → hook query starts (fast probe, sentinel connect, version check, pooled connect)",
        &pick(&|x| x.pgkeel_hook_ms.map(|h| h[0])),
    );
    row(
        out,
        "hook query (catalog of public)",
        &pick(&|x| x.pgkeel_hook_ms.map(|h| h[1] - h[0])),
    );
    row(
        out,
        "hook done → health Ready seen",
        &pick(&|x| Some(x.pgkeel_ready_ms? - x.pgkeel_hook_ms?[1])),
    );
    row(
        out,
        "health Ready → first run returned",
        &pick(&|x| Some(x.pgkeel_first_run_ms? - x.pgkeel_ready_ms?)),
    );
    let _ = writeln!(
        out,
        "\nSplit by whether a recovery attempt reached the server while it was starting up \
         (listening, but answering 57P03 \"the database system is starting up\"), ms after t0:\n"
    );
    let _ = writeln!(
        out,
        "| observer | attempt got 57P03 starting up? | outages | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|"
    );
    let split = |out: &mut String,
                 name: &str,
                 hit: &dyn Fn(&Outage) -> bool,
                 f: &dyn Fn(&Outage) -> Option<f64>| {
        for (label, want) in [("no", false), ("yes", true)] {
            let v: Vec<f64> = o.iter().filter(|x| hit(x) == want).filter_map(f).collect();
            match Summary::of(&v) {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "| {name} | {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                        s.n, s.p50, s.p90, s.p99, s.max
                    );
                }
                None => {
                    let _ = writeln!(out, "| {name} | {label} | 0 | — | — | — | — |");
                }
            }
        }
    };
    split(
        out,
        "pgkeel Pool: first successful run",
        &pgkeel_hit_startup,
        &|x| x.pgkeel_first_run_ms,
    );
    split(
        out,
        "pgkeel serve: first /ready 200",
        &serve_hit_startup,
        &|x| x.serve_ready_ms,
    );
    let late: Vec<&Outage> = o.iter().filter(|x| pgkeel_hit_startup(x)).collect();
    if !late.is_empty() {
        let _ = writeln!(
            out,
            "\npgkeel Pool health after t0 in those outages (ms after t0):"
        );
    }
    for x in late {
        let after: Vec<String> = x
            .pgkeel_health
            .iter()
            .filter(|h| h.at_ms >= 0.0 || h.kind == STARTING_UP)
            .map(|h| {
                format!(
                    "{:+.1} {} #{} {}{}",
                    h.at_ms,
                    h.state,
                    h.attempt,
                    h.kind,
                    h.next_retry_in_ms
                        .map_or(String::new(), |n| format!(", next attempt in {n:.0}"))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "- outage {}: ready at {:.1}; {}",
            x.index + 1,
            x.pgkeel_ready_ms.unwrap_or(f64::NAN),
            after.join(" → ")
        );
    }
}

fn render_cold(out: &mut String, cold: &[ColdSample]) {
    if cold.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nConnecting right after a restart, nothing else connected ({} restarts; each step \
         after the previous one), ms:\n",
        cold.len()
    );
    let _ = writeln!(out, "{HEADER}");
    type Step = (&'static str, fn(&ColdSample) -> f64);
    let steps: [Step; 6] = [
        ("Cluster::start() returned → 1st connection", |c| {
            c.connect_1_ms
        }),
        ("server_version_num query on it", |c| c.version_ms),
        ("2nd connection", |c| c.connect_2_ms),
        ("catalog query (the hook) on it", |c| c.catalog_ms),
        ("3rd connection", |c| c.connect_3_ms),
        ("SELECT 1 on it", |c| c.select_1_ms),
    ];
    for (name, f) in steps {
        let v: Vec<f64> = cold.iter().map(f).collect();
        row(out, name, &v);
    }
}

fn render_notify(out: &mut String, n: &NotifySamples) {
    let _ = writeln!(
        out,
        "\nNOTIFY → handler latency, ms ({} notifications after {} warm-up, one NOTIFY per \
         statement, pause 0/1/2 ms after each; send loop {:.0} ms):\n",
        n.sent, n.warmup, n.send_loop_ms
    );
    let _ = writeln!(
        out,
        "| listener | p50 | p90 | p99 | max | mean | n | lost |\n|---|---|---|---|---|---|---|---|"
    );
    for (name, v) in [
        (
            "pgkeel Listener (handler = consumer of Listener::recv)",
            &n.pgkeel_ms,
        ),
        (
            "raw tokio-postgres (handler in the poll_message loop)",
            &n.raw_ms,
        ),
    ] {
        let got: Vec<f64> = v.iter().flatten().copied().collect();
        let lost = v.len() - got.len();
        match Summary::of(&got) {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {lost} |",
                    s.p50, s.p90, s.p99, s.max, s.mean, s.n
                );
            }
            None => {
                let _ = writeln!(out, "| {name} | — | — | — | — | — | 0 | {lost} |");
            }
        }
    }
    let paired: Vec<f64> = n
        .pgkeel_ms
        .iter()
        .zip(&n.raw_ms)
        .filter_map(|(p, r)| Some((*p)? - (*r)?))
        .collect();
    if let Some(s) = Summary::of(&paired) {
        let _ = writeln!(
            out,
            "pgkeel − raw, per notification: p50 {:+.3}, p99 {:+.3} ms",
            s.p50, s.p99
        );
    }
}
