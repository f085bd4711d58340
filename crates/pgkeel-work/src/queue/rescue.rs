//! Rescue the running jobs of expired sessions: back to available, so another worker runs
//! them (the attempt they were on stays counted). The reaper does the same for every expired
//! session; this lets the queue recover without it.

use super::executor::Executor;
use super::stats::RESCUED;
use crate::error::Error;

/// Releases jobs held by sessions past their deadline (or gone), and wakes their queues.
const RESCUE: &str = "\
WITH rescued AS (
    UPDATE pgkeel_work.jobs j
    SET state = 'available', locked_by = NULL, locked_at = NULL
    WHERE j.state = 'running'
      AND NOT EXISTS (SELECT 1 FROM pgkeel_work.sessions s
                      WHERE s.id = j.locked_by AND s.deadline > now())
    RETURNING j.queue
), woken AS (
    SELECT count(pg_notify('pgkeel_work_jobs', d.queue)::text) AS n
    FROM (SELECT DISTINCT queue FROM rescued) d
)
SELECT (SELECT count(*) FROM rescued) FROM woken";

/// Makes every running job whose session is past its deadline (or no longer exists)
/// available again and wakes the workers of its queue; returns how many jobs it released.
/// Safe to run from any number of processes at once.
pub async fn rescue<E: Executor>(db: &E) -> Result<u64, Error> {
    let rows = db
        .query_rows("rescuing the jobs of expired sessions", RESCUE, &[])
        .await?;
    let n: i64 = match rows.first() {
        Some(row) => row
            .try_get(0)
            .map_err(|e| Error::postgres("reading the rescued jobs", e))?,
        None => 0,
    };
    let n = u64::try_from(n).unwrap_or(0);
    if n > 0 {
        metrics::counter!(RESCUED).increment(n);
        tracing::info!(jobs = n, "rescued the running jobs of expired sessions");
    }
    Ok(n)
}
