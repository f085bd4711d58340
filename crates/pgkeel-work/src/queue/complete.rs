//! Finish claimed jobs in batches: complete (delete) them, or fail them — each failed job
//! comes back after an exponential backoff with jitter, computed in the statement from its
//! attempts, or is quarantined with its last error once it has used `max_attempts`.

use std::time::SystemTime;

use super::executor::Executor;
use super::handle::Queue;
use super::stats::{COMPLETED, FAILED, QUARANTINED};
use crate::error::Error;

/// Deletes the jobs $1 that session $2 holds; returns how many.
const COMPLETE: &str = "\
WITH done AS (
    DELETE FROM pgkeel_work.jobs
    WHERE id = ANY($1) AND locked_by = $2 AND state = 'running'
    RETURNING queue
)
SELECT queue, count(*) FROM done GROUP BY queue";

/// Fails the jobs $1 (with errors $2) that session $3 holds: back to available at
/// now() + min(cap $5, base $4 × 2^(attempts − 1)) × (1 − jitter $6 × random()), or
/// quarantined after the last attempt.
const FAIL: &str = "\
UPDATE pgkeel_work.jobs j
SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'quarantined' ELSE 'available' END,
    run_at = CASE WHEN j.attempts >= j.max_attempts THEN j.run_at
             ELSE now() + least($5::float8,
                                $4::float8 * power(2::float8, least(greatest(j.attempts - 1, 0), 60)))
                          * (1 - $6::float8 * random()) * interval '1 second'
             END,
    last_error = f.error,
    locked_by = NULL,
    locked_at = NULL
FROM (SELECT DISTINCT ON (id) id, error FROM unnest($1::bigint[], $2::text[]) AS u(id, error)) f
WHERE j.id = f.id AND j.locked_by = $3 AND j.state = 'running'
RETURNING j.id, j.queue, j.state, j.run_at";

/// What [`Queue::fail`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failed {
    /// Jobs that will be tried again, and when.
    pub retried: Vec<(i64, SystemTime)>,
    /// Jobs that used their last attempt: quarantined, kept with their last error.
    pub quarantined: Vec<i64>,
}

impl Failed {
    /// The earliest retry, if any job will be retried.
    pub fn next_retry(&self) -> Option<SystemTime> {
        self.retried.iter().map(|(_, at)| *at).min()
    }
}

impl Queue {
    /// Completes (deletes) the jobs in `ids` that session `session_id` holds, in one
    /// statement. Returns how many it deleted: jobs the session no longer holds (rescued after
    /// it expired, and maybe run by another session) are left alone.
    pub async fn complete<E: Executor>(
        &self,
        db: &E,
        session_id: i64,
        ids: &[i64],
    ) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let rows = db
            .query_rows("completing jobs", COMPLETE, &[&ids, &session_id])
            .await?;
        let mut total = 0;
        for row in &rows {
            let read = || -> Result<(String, i64), tokio_postgres::Error> {
                Ok((row.try_get(0)?, row.try_get(1)?))
            };
            let (queue, n) =
                read().map_err(|e| Error::postgres("reading the completed jobs", e))?;
            let n = u64::try_from(n).unwrap_or(0);
            metrics::counter!(COMPLETED, "queue" => queue).increment(n);
            total += n;
        }
        Ok(total)
    }

    /// Fails the jobs in `failures` (id, error text) that session `session_id` holds, in one
    /// statement: each is available again after its backoff (see [`Queue::with_retry`]), or
    /// quarantined when it has used its last attempt. Jobs the session no longer holds are
    /// left alone (they appear in neither list of the result).
    pub async fn fail<E: Executor>(
        &self,
        db: &E,
        session_id: i64,
        failures: &[(i64, String)],
    ) -> Result<Failed, Error> {
        if failures.is_empty() {
            return Ok(Failed::default());
        }
        let ids: Vec<i64> = failures.iter().map(|(id, _)| *id).collect();
        let errors: Vec<&str> = failures.iter().map(|(_, e)| e.as_str()).collect();
        let base = self.retry.base.as_secs_f64();
        let cap = self.retry.cap.as_secs_f64().max(base);
        let jitter = self.retry.jitter.clamp(0.0, 1.0);
        let rows = db
            .query_rows(
                "failing jobs",
                FAIL,
                &[&ids, &errors, &session_id, &base, &cap, &jitter],
            )
            .await?;
        let mut failed = Failed::default();
        for row in &rows {
            let read = || -> Result<(i64, String, String, SystemTime), tokio_postgres::Error> {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            };
            let (id, queue, state, run_at) =
                read().map_err(|e| Error::postgres("reading the failed jobs", e))?;
            metrics::counter!(FAILED, "queue" => queue.clone()).increment(1);
            if state == "quarantined" {
                metrics::counter!(QUARANTINED, "queue" => queue).increment(1);
                tracing::warn!(job = id, "job quarantined after its last attempt");
                failed.quarantined.push(id);
            } else {
                failed.retried.push((id, run_at));
            }
        }
        Ok(failed)
    }
}
