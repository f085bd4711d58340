//! Claim up to N due jobs of a queue in one statement: highest priority first, then earliest
//! `run_at`, then oldest; rows other workers are claiming right now are skipped (`SKIP
//! LOCKED`), and nothing is claimed unless the claiming session is alive.

use std::time::SystemTime;

use super::executor::Executor;
use super::handle::Queue;
use super::job::Job;
use super::stats::{CLAIMED, PICKUP_SECONDS};
use crate::error::Error;

/// Locks up to $3 due jobs of queue $2 for session $1 and marks them running (one try more).
pub(crate) const CLAIM: &str = "\
WITH picked AS (
    SELECT id FROM pgkeel_work.jobs
    WHERE queue = $2 AND state = 'available' AND run_at <= now()
      AND EXISTS (SELECT 1 FROM pgkeel_work.sessions s WHERE s.id = $1 AND s.deadline > now())
    ORDER BY priority DESC, run_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE pgkeel_work.jobs j
SET state = 'running', locked_by = $1, locked_at = now(), attempts = j.attempts + 1
FROM picked
WHERE j.id = picked.id
RETURNING ";

/// What a claimer needs to know when it got fewer jobs than it asked for: is its session
/// alive, and when is the next job of the queue due.
const IDLE: &str = "\
SELECT (SELECT s.deadline > now() FROM pgkeel_work.sessions s WHERE s.id = $1),
       (SELECT min(run_at) FROM pgkeel_work.jobs
        WHERE queue = $2 AND state = 'available' AND run_at > now())";

/// The claim statement with the job columns.
pub(crate) fn claim_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("{CLAIM}{}", Job::COLUMNS))
}

/// The queue as seen by a claimer that found it empty (of due jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Idle {
    /// The session exists and its deadline is ahead.
    pub(crate) alive: bool,
    /// When the next available job of the queue becomes due, if one is waiting.
    pub(crate) next_run_at: Option<SystemTime>,
}

impl Queue {
    /// Claims up to `n` due jobs of `queue` for session `session_id`, in one round trip, in
    /// claim order (priority, then `run_at`, then id). Each is `running`, locked by the
    /// session, with its attempt counted, until it is completed or failed by the same session
    /// (or rescued after the session expired). An empty vector means nothing is due.
    ///
    /// Fails with [`Error::is_session_expired`] when the session is past its deadline or gone:
    /// an expired session claims nothing.
    pub async fn claim<E: Executor>(
        &self,
        db: &E,
        session_id: i64,
        queue: &str,
        n: usize,
    ) -> Result<Vec<Job>, Error> {
        let jobs = claim_jobs(db, session_id, queue, n).await?;
        if jobs.is_empty() && !idle(db, session_id, queue).await?.alive {
            return Err(Error::session_expired());
        }
        Ok(jobs)
    }
}

/// The claim itself: jobs sorted in claim order, counted in the metrics.
pub(crate) async fn claim_jobs<E: Executor>(
    db: &E,
    session_id: i64,
    queue: &str,
    n: usize,
) -> Result<Vec<Job>, Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = db
        .query_rows("claiming jobs", claim_sql(), &[&session_id, &queue, &limit])
        .await?;
    let mut jobs = rows
        .iter()
        .map(Job::from_row)
        .collect::<Result<Vec<Job>, _>>()
        .map_err(|e| Error::postgres("reading the claimed jobs", e))?;
    jobs.sort_unstable_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.id.cmp(&b.id))
    });
    if !jobs.is_empty() {
        metrics::counter!(CLAIMED, "queue" => queue.to_owned()).increment(jobs.len() as u64);
        let histogram = metrics::histogram!(PICKUP_SECONDS, "queue" => queue.to_owned());
        for job in &jobs {
            histogram.record(job.pickup.as_secs_f64());
        }
    }
    Ok(jobs)
}

/// Whether the session is alive and when the queue's next job is due.
pub(crate) async fn idle<E: Executor>(db: &E, session_id: i64, queue: &str) -> Result<Idle, Error> {
    let rows = db
        .query_rows(
            "checking the session and the next due job",
            IDLE,
            &[&session_id, &queue],
        )
        .await?;
    let read = |row: &tokio_postgres::Row| -> Result<Idle, tokio_postgres::Error> {
        Ok(Idle {
            alive: row.try_get::<_, Option<bool>>(0)?.unwrap_or(false),
            next_run_at: row.try_get(1)?,
        })
    };
    match rows.first() {
        Some(row) => read(row).map_err(|e| Error::postgres("reading the session state", e)),
        None => Ok(Idle {
            alive: false,
            next_run_at: None,
        }),
    }
}
