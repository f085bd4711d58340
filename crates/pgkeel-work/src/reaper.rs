//! The reaper: deletes sessions past their deadline (plus a grace period) — their work rows go
//! with them (ON DELETE CASCADE) and their running jobs become available again, in the same
//! statement — and prunes old history. `reap_once` is one round, for callers with a client.

use std::time::Duration;

use pgkeel_conn::{Pool, Wait};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::history;
use crate::telemetry;

/// Sessions with transactions in flight hold `FOR KEY SHARE` on their row and are skipped
/// (the next round takes them), so one busy session does not hold the reaper up.
const REAP: &str = "WITH expired AS ( \
         DELETE FROM pgkeel_work.sessions WHERE id IN ( \
             SELECT id FROM pgkeel_work.sessions \
             WHERE deadline < clock_timestamp() - $1::float8 * interval '1 second' \
             FOR UPDATE SKIP LOCKED) \
         RETURNING id), \
     work AS ( \
         SELECT count(*) AS n FROM pgkeel_work.work WHERE session_id IN (SELECT id FROM expired)), \
     jobs AS ( \
         UPDATE pgkeel_work.jobs SET state = 'available', locked_by = NULL, locked_at = NULL \
         WHERE state = 'running' AND locked_by = ANY (ARRAY(SELECT id FROM expired)) \
         RETURNING 1) \
     SELECT (SELECT count(*) FROM expired), (SELECT n FROM work), (SELECT count(*) FROM jobs)";

/// Deletes one session (its work goes with it) and makes its running jobs available.
const RELEASE: &str = "WITH gone AS ( \
         DELETE FROM pgkeel_work.sessions WHERE id = $1 RETURNING id), \
     work AS ( \
         SELECT count(*) AS n FROM pgkeel_work.work WHERE session_id IN (SELECT id FROM gone)), \
     jobs AS ( \
         UPDATE pgkeel_work.jobs SET state = 'available', locked_by = NULL, locked_at = NULL \
         WHERE state = 'running' AND locked_by IN (SELECT id FROM gone) \
         RETURNING 1) \
     SELECT (SELECT count(*) FROM gone), (SELECT n FROM work), (SELECT count(*) FROM jobs)";

/// What one round freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Sessions deleted.
    pub sessions: u64,
    /// Work rows released with them.
    pub work: u64,
    /// Running jobs of theirs set back to available.
    pub jobs: u64,
}

/// What a running reaper did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaperTotals {
    /// Rounds completed.
    pub rounds: u64,
    /// Rounds that failed (the database was unreachable, ...).
    pub failures: u64,
    /// Everything freed.
    pub freed: ReapReport,
    /// History rows pruned.
    pub history_pruned: u64,
}

/// One round: deletes the sessions whose deadline passed more than `grace` ago, releasing
/// their work and jobs, in one statement (so in one transaction).
pub async fn reap_once(
    client: &tokio_postgres::Client,
    grace: Duration,
) -> Result<ReapReport, Error> {
    reap(client, grace)
        .await
        .map_err(|e| Error::postgres("reaping expired sessions", e))
}

async fn reap(
    client: &tokio_postgres::Client,
    grace: Duration,
) -> Result<ReapReport, tokio_postgres::Error> {
    let row = client.query_one(REAP, &[&grace.as_secs_f64()]).await?;
    let report = report(&row)?;
    if report.sessions > 0 {
        ::metrics::counter!(telemetry::REAPED_SESSIONS).increment(report.sessions);
        ::metrics::counter!(telemetry::REAPED_WORK).increment(report.work);
        ::metrics::counter!(telemetry::REAPED_JOBS).increment(report.jobs);
        tracing::info!(
            sessions = report.sessions,
            work = report.work,
            jobs = report.jobs,
            "reaped expired sessions"
        );
    }
    Ok(report)
}

/// Deletes session `id`, releasing its work and jobs (used by `Session::close`).
pub(crate) async fn release_session(
    client: &tokio_postgres::Client,
    id: i64,
) -> Result<ReapReport, tokio_postgres::Error> {
    report(&client.query_one(RELEASE, &[&id]).await?)
}

fn report(row: &tokio_postgres::Row) -> Result<ReapReport, tokio_postgres::Error> {
    let count = |i: usize| -> Result<u64, tokio_postgres::Error> {
        Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
    };
    Ok(ReapReport {
        sessions: count(0)?,
        work: count(1)?,
        jobs: count(2)?,
    })
}

/// A background task reaping every `every`; stops when stopped or dropped.
#[derive(Debug)]
pub struct Reaper {
    stop: CancellationToken,
    totals: watch::Receiver<ReaperTotals>,
    task: Option<JoinHandle<()>>,
}

impl Reaper {
    /// Starts reaping sessions past their deadline by more than `grace`, every `every`, and
    /// (with a retention) pruning history older than it. Fails only on a zero period.
    pub fn start(
        pool: &Pool,
        every: Duration,
        grace: Duration,
        history_retention: Option<Duration>,
    ) -> Result<Reaper, Error> {
        if every.is_zero() {
            return Err(Error::config("the reaper's period must be above zero"));
        }
        let stop = CancellationToken::new();
        let (sender, totals) = watch::channel(ReaperTotals::default());
        let task = tokio::spawn(run(
            pool.clone(),
            every,
            grace,
            history_retention,
            stop.clone(),
            sender,
        ));
        Ok(Reaper {
            stop,
            totals,
            task: Some(task),
        })
    }

    /// The totals so far, updated after every round.
    pub fn subscribe(&self) -> watch::Receiver<ReaperTotals> {
        self.totals.clone()
    }

    /// Stops the reaper and waits for its round in flight.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run(
    pool: Pool,
    every: Duration,
    grace: Duration,
    retention: Option<Duration>,
    stop: CancellationToken,
    totals: watch::Sender<ReaperTotals>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let round = pool.run_idempotent(Wait::UpTo(every), |client| async move {
            let report = reap(&client, grace).await?;
            let pruned = match retention {
                Some(age) => history::prune_on(&client, age).await?,
                None => 0,
            };
            Ok::<_, tokio_postgres::Error>((report, pruned))
        });
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            outcome = round => outcome,
        };
        totals.send_modify(|t| match outcome {
            Ok(o) => {
                let (report, pruned) = o.value;
                t.rounds += 1;
                t.freed.sessions += report.sessions;
                t.freed.work += report.work;
                t.freed.jobs += report.jobs;
                t.history_pruned += pruned;
            }
            Err(ref error) => {
                t.failures += 1;
                tracing::warn!(%error, "reaping failed; trying again next round");
            }
        });
    }
}
