//! Injecting each kind of fault and timing the recovery: from the moment Postgres accepts and
//! the proxy forwards again (the fault's end) until the components it hit are ready — the
//! in-process instances answer a query through their recovering pools, a restarted worker
//! has a session and runs jobs, a restarted stream holds its slot again.

use std::time::{Duration, Instant};

use anyhow::Context;
use pgkeel_conn::{Pool, Wait};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::children::ChildProcess;
use super::schedule::{FaultKind, PlannedFault};
use super::setup::{SLOT, connect_direct, scalar};
use super::system::System;

/// How long a component may take to be ready again before the fault counts as unrecovered.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub(super) struct FaultRecord {
    pub(super) kind: FaultKind,
    /// When it started, ms from the start of the workload.
    pub(super) at_ms: u64,
    /// How long it was in force.
    pub(super) held_ms: u64,
    /// Whether it took effect: connections were killed, a rule fired, a process died.
    pub(super) fired: bool,
    /// From its end to ready again; `None` when recovery did not happen in time.
    pub(super) recovery_ms: Option<f64>,
    /// What it did, for people.
    pub(super) note: String,
}

/// What faults act on.
pub(super) struct Targets<'a> {
    pub(super) system: &'a System,
    /// The in-process instances' pools (writer, caches).
    pub(super) pools: Vec<Pool>,
    pub(super) workers: &'a mut [ChildProcess],
    pub(super) stream: &'a mut ChildProcess,
}

/// Injects `fault`, holds it (cut short by `stop`), ends it and waits for recovery.
pub(super) async fn inject(
    fault: &PlannedFault,
    targets: &mut Targets<'_>,
    started: Instant,
    stop: &CancellationToken,
) -> anyhow::Result<FaultRecord> {
    let began = Instant::now();
    let at_ms = began.duration_since(started).as_millis() as u64;
    let proxy = &targets.system.proxy;
    let rule = match fault.kind {
        FaultKind::Stall => Some("conn.stall()".to_owned()),
        FaultKind::Error40001 => Some(
            "conn.onParse(query=\"^UPDATE demo_orders\").error(code=\"40001\", \
             message=\"could not serialize access (injected by pgkeel demo)\")"
                .to_owned(),
        ),
        FaultKind::Error57P01 => Some(
            "conn.onQuery(query=\"^COMMIT\").error(code=\"57P01\", severity=\"FATAL\", \
             message=\"terminating connection due to administrator command (injected by pgkeel demo)\")"
                .to_owned(),
        ),
        FaultKind::Latency => Some(format!("conn.fromServer().delay({})", fault.detail)),
        _ => None,
    };
    let (fired, note, ready_at) = if let Some(rule) = rule {
        proxy
            .set_rules(&rule)
            .map_err(|e| anyhow::anyhow!("the demo's rule does not parse: {e}"))?;
        hold(fault.hold, stop).await;
        let fired = proxy
            .wait_fired(None, 1, Duration::ZERO)
            .await
            .unwrap_or_else(|n| n);
        proxy
            .set_rules("")
            .map_err(|e| anyhow::anyhow!("cannot clear the rules: {e}"))?;
        let end = Instant::now();
        let ready = pools_ready(&targets.pools).await;
        (
            fired > 0,
            format!("rule fired {fired} times: {rule}"),
            ready.map(|t| (end, t)),
        )
    } else {
        match fault.kind {
            FaultKind::ProxyKill => {
                let connections = proxy.connections();
                let killed = connections
                    .iter()
                    .filter(|c| proxy.kill_connection(c.id))
                    .count();
                let end = Instant::now();
                let ready = pools_ready(&targets.pools).await;
                (
                    killed > 0,
                    format!("{killed} connections closed"),
                    ready.map(|t| (end, t)),
                )
            }
            FaultKind::PostgresRestart => {
                let cluster = std::sync::Arc::clone(&targets.system.cluster);
                tokio::task::spawn_blocking(move || cluster.restart())
                    .await
                    .context("the restart task failed")?
                    .context("cannot restart PostgreSQL")?;
                let end = Instant::now();
                let ready = pools_ready(&targets.pools).await;
                (
                    true,
                    "fast shutdown, then start".to_owned(),
                    ready.map(|t| (end, t)),
                )
            }
            FaultKind::WorkerKill => {
                let worker = &mut targets.workers[fault.detail as usize % targets.workers.len()];
                let name = worker.name().to_owned();
                worker.kill_and_restart()?;
                let end = Instant::now();
                let ready = worker
                    .wait_ready(1, RECOVERY_LIMIT)
                    .await
                    .ok()
                    .map(|()| Instant::now());
                (
                    true,
                    format!("{name} killed with SIGKILL and restarted"),
                    ready.map(|t| (end, t)),
                )
            }
            FaultKind::StreamKill => {
                targets.stream.kill_and_restart()?;
                let end = Instant::now();
                let ready = slot_active(&targets.system.direct_url(), RECOVERY_LIMIT).await;
                (
                    true,
                    "stream killed with SIGKILL and restarted".to_owned(),
                    ready.map(|t| (end, t)),
                )
            }
            _ => (false, String::new(), None),
        }
    };
    let recovery_ms = ready_at.map(|(end, ready)| ready.duration_since(end).as_secs_f64() * 1000.0);
    let held_ms = match ready_at {
        Some((end, _)) => end.duration_since(began).as_millis() as u64,
        None => began.elapsed().as_millis() as u64,
    };
    Ok(FaultRecord {
        kind: fault.kind,
        at_ms,
        held_ms,
        fired,
        recovery_ms,
        note,
    })
}

async fn hold(duration: Duration, stop: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stop.cancelled() => {}
    }
}

/// When every pool has answered a query again (None after [`RECOVERY_LIMIT`]). The probes
/// run at once, each in its own task.
async fn pools_ready(pools: &[Pool]) -> Option<Instant> {
    let mut probes = tokio::task::JoinSet::new();
    for pool in pools {
        let pool = pool.clone();
        probes.spawn(async move {
            pool.run_idempotent(Wait::UpTo(RECOVERY_LIMIT), |conn| async move {
                conn.simple_query("SELECT 1").await.map(|_| ())
            })
            .await
            .is_ok()
        });
    }
    let mut all = true;
    while let Some(probe) = probes.join_next().await {
        all &= probe.unwrap_or(false);
    }
    all.then(Instant::now)
}

/// When the stream's slot is active again.
pub(super) async fn slot_active(url: &str, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    let client = connect_direct(url).await.ok()?;
    let sql = format!("SELECT active FROM pg_replication_slots WHERE slot_name = '{SLOT}'");
    while Instant::now() < deadline {
        if scalar(&client, &sql).await.ok().as_deref() == Some("t") {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}
