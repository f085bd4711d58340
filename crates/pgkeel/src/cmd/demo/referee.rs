//! The referee: counts, straight from the database and the stream's file, what was committed
//! and what was delivered, executed and cached. The ledger rows were written in the same
//! transactions as the changes, so they say what committed even where a client saw an error.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::setup::{CACHE, QUEUE, scalar};

/// Changes committed vs delivered by the stream.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Changes {
    /// Order changes committed (ledger rows).
    pub(super) committed: u64,
    /// Of those, how many the stream's file holds.
    pub(super) delivered: u64,
    /// Committed but not in the file.
    pub(super) lost: u64,
    /// Events in the file beyond the first of each change (at-least-once delivery).
    pub(super) duplicates: u64,
    /// Events in the file for changes that never committed.
    pub(super) unexpected: u64,
    /// Lines in the file.
    pub(super) events: u64,
}

/// Jobs enqueued vs executed.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Jobs {
    /// Enqueues that committed (ledger rows).
    pub(super) enqueued: u64,
    /// Of those, jobs whose effect was applied.
    pub(super) executed: u64,
    /// Enqueued and never executed.
    pub(super) lost: u64,
    /// Effects applied more than once per job (account credits beyond one per job).
    pub(super) executed_twice: u64,
    /// Runs of a job that had already taken effect (at-least-once delivery, absorbed).
    pub(super) redelivered: u64,
    /// Jobs given up after their last attempt.
    pub(super) quarantined: u64,
}

/// An order change: (order id, version).
pub(super) type Change = (i64, i64);

/// What the stream's file holds.
pub(super) struct Delivered {
    /// How often each order change is in the file.
    pub(super) seen: HashMap<Change, u64>,
    /// Lines in the file.
    pub(super) lines: u64,
}

/// Reads the stream's file: the (order, version) of every insert and update of orders.
pub(super) fn read_events(path: &Path) -> anyhow::Result<Delivered> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut seen = HashMap::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let event: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{} holds a line that is not JSON: {line}", path.display()))?;
        if event["table"] != "demo_orders" {
            continue;
        }
        let new = &event["new"];
        if let (Some(id), Some(version)) = (number(&new["id"]), number(&new["version"])) {
            *seen.entry((id, version)).or_insert(0) += 1;
        }
    }
    Ok(Delivered { seen, lines })
}

fn number(value: &serde_json::Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// The committed order changes.
pub(super) async fn ledger(client: &tokio_postgres::Client) -> anyhow::Result<HashSet<Change>> {
    let rows = client
        .query("SELECT order_id, version::int8 FROM demo_ledger", &[])
        .await
        .context("cannot read the ledger")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Compares the ledger with the file.
pub(super) fn compare(committed: &HashSet<Change>, delivered: &Delivered) -> Changes {
    let (seen, events) = (&delivered.seen, delivered.lines);
    let delivered = committed.iter().filter(|c| seen.contains_key(c)).count() as u64;
    Changes {
        committed: committed.len() as u64,
        delivered,
        lost: committed.len() as u64 - delivered,
        duplicates: seen.values().map(|n| n - 1).sum(),
        unexpected: seen.keys().filter(|c| !committed.contains(c)).count() as u64,
        events,
    }
}

/// Enqueued jobs that have not taken effect yet.
pub(super) async fn jobs_pending(client: &tokio_postgres::Client) -> anyhow::Result<u64> {
    let n = scalar(
        client,
        "SELECT count(*) FROM demo_jobs_enqueued e \
         WHERE NOT EXISTS (SELECT 1 FROM demo_job_done d WHERE d.job_key = e.job_key)",
    )
    .await?;
    Ok(n.parse().unwrap_or(0))
}

/// The jobs' counts.
pub(super) async fn jobs(client: &tokio_postgres::Client) -> anyhow::Result<Jobs> {
    let count = |sql: String| async move {
        anyhow::Ok(
            scalar(client, &sql)
                .await?
                .parse::<i64>()
                .unwrap_or(0)
                .max(0) as u64,
        )
    };
    let enqueued = count("SELECT count(*) FROM demo_jobs_enqueued".into()).await?;
    let executed = count(
        "SELECT count(*) FROM demo_job_done d JOIN demo_jobs_enqueued e USING (job_key)".into(),
    )
    .await?;
    let credits = count("SELECT coalesce(sum(balance), 0) FROM demo_accounts".into()).await?;
    let done = count("SELECT count(*) FROM demo_job_done".into()).await?;
    Ok(Jobs {
        enqueued,
        executed,
        lost: enqueued.saturating_sub(executed),
        executed_twice: credits.saturating_sub(done),
        redelivered: count("SELECT coalesce(sum(redelivered), 0) FROM demo_job_done".into()).await?,
        quarantined: count(format!(
            "SELECT count(*) FROM pgkeel_work.jobs WHERE queue = '{QUEUE}' AND state = 'quarantined'"
        ))
        .await?,
    })
}

/// The cache's version and contents in the database.
pub(super) async fn cache_truth(
    client: &tokio_postgres::Client,
) -> anyhow::Result<(u64, super::caches::Config)> {
    let version = scalar(
        client,
        &format!(
            "SELECT coalesce((SELECT version FROM pgkeel.cache_versions WHERE name = '{CACHE}'), 0)"
        ),
    )
    .await?
    .parse()
    .unwrap_or(0);
    let rows = client
        .query("SELECT key, value FROM demo_config", &[])
        .await
        .context("cannot read the config")?;
    Ok((version, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
}
