//! Enqueue one job, or a batch in one statement, and wake the workers of its queue with
//! `pg_notify` in the same transaction (PostgreSQL sends one notification per distinct queue
//! and transaction, and only on commit).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::executor::Executor;
use super::handle::Queue;
use super::job::NewJob;
use super::stats::ENQUEUED;
use crate::error::Error;

/// The notification channel; the payload is the queue name.
pub const CHANNEL: &str = "pgkeel_work_jobs";

const ENQUEUE_ONE: &str = "\
WITH ins AS (
    INSERT INTO pgkeel_work.jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key)
    VALUES ($1, $2, $3, $4, coalesce($5, now()), $6, $7)
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running')
    DO NOTHING
    RETURNING id, queue
)
SELECT id, pg_notify('pgkeel_work_jobs', queue)::text FROM ins";

const ENQUEUE_BATCH: &str = "\
WITH ins AS (
    INSERT INTO pgkeel_work.jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key)
    SELECT t.queue, t.kind, t.payload, t.priority, coalesce(t.run_at, now()), t.max_attempts,
           t.unique_key
    FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::int2[], $5::timestamptz[], $6::int4[],
                $7::text[])
         WITH ORDINALITY AS t(queue, kind, payload, priority, run_at, max_attempts, unique_key, ord)
    ORDER BY t.ord
    ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running')
    DO NOTHING
    RETURNING id, queue, unique_key
), woken AS (
    SELECT count(pg_notify('pgkeel_work_jobs', d.queue)::text) AS n
    FROM (SELECT DISTINCT queue FROM ins) d
)
SELECT ins.id, ins.queue, ins.unique_key FROM ins CROSS JOIN woken";

impl Queue {
    /// Enqueues `job` and wakes the workers of its queue. Returns its id, or `None` when a job
    /// with the same unique key is available or running in that queue (nothing was inserted).
    pub async fn enqueue<E: Executor>(&self, db: &E, job: &NewJob) -> Result<Option<i64>, Error> {
        job.check().map_err(Error::config)?;
        let rows = db
            .query_rows(
                "enqueueing a job",
                ENQUEUE_ONE,
                &[
                    &job.queue,
                    &job.kind,
                    &job.payload,
                    &job.priority,
                    &job.run_at,
                    &job.max_attempts,
                    &job.unique_key,
                ],
            )
            .await?;
        let id = match rows.first() {
            Some(row) => Some(
                row.try_get::<_, i64>(0)
                    .map_err(|e| Error::postgres("reading the enqueued job's id", e))?,
            ),
            None => None,
        };
        if id.is_some() {
            metrics::counter!(ENQUEUED, "queue" => job.queue.clone()).increment(1);
        }
        Ok(id)
    }

    /// Enqueues `jobs` in one statement (one round trip, one transaction unless `db` is a
    /// transaction already) and wakes the workers of their queues. Returns one entry per job,
    /// in order: its id, or `None` when its unique key was taken — by a job already in the
    /// queue or by an earlier job of this batch.
    pub async fn enqueue_batch<E: Executor>(
        &self,
        db: &E,
        jobs: &[NewJob],
    ) -> Result<Vec<Option<i64>>, Error> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        for job in jobs {
            job.check().map_err(Error::config)?;
        }
        let queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
        let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
        let payloads: Vec<&serde_json::Value> = jobs.iter().map(|j| &j.payload).collect();
        let priorities: Vec<i16> = jobs.iter().map(|j| j.priority).collect();
        let run_ats: Vec<Option<SystemTime>> = jobs.iter().map(|j| j.run_at).collect();
        let max_attempts: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();
        let keys: Vec<Option<&str>> = jobs.iter().map(|j| j.unique_key.as_deref()).collect();
        let rows = db
            .query_rows(
                "enqueueing a batch of jobs",
                ENQUEUE_BATCH,
                &[
                    &queues,
                    &kinds,
                    &payloads,
                    &priorities,
                    &run_ats,
                    &max_attempts,
                    &keys,
                ],
            )
            .await?;
        let mut inserted = Vec::with_capacity(rows.len());
        for row in &rows {
            let read = || -> Result<(i64, String, Option<String>), tokio_postgres::Error> {
                Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
            };
            inserted.push(read().map_err(|e| Error::postgres("reading the enqueued jobs", e))?);
        }
        let mut per_queue: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, queue, _) in &inserted {
            *per_queue.entry(queue.as_str()).or_default() += 1;
        }
        for (queue, n) in per_queue {
            metrics::counter!(ENQUEUED, "queue" => queue.to_owned()).increment(n);
        }
        Ok(match_ids(jobs, inserted))
    }
}

/// Gives each job its id: jobs with a unique key by (queue, key) — the first job of the batch
/// with a key gets the id, later ones `None` — and the others in order, since identity
/// values grow in the order the rows were inserted (`ORDER BY ord`).
fn match_ids(
    jobs: &[NewJob],
    mut inserted: Vec<(i64, String, Option<String>)>,
) -> Vec<Option<i64>> {
    inserted.sort_unstable_by_key(|(id, _, _)| *id);
    let mut keyed: HashMap<(String, String), i64> = HashMap::new();
    let mut plain = Vec::new();
    for (id, queue, key) in inserted {
        match key {
            Some(key) => {
                keyed.insert((queue, key), id);
            }
            None => plain.push(id),
        }
    }
    let mut plain = plain.into_iter();
    jobs.iter()
        .map(|job| match &job.unique_key {
            Some(key) => keyed.remove(&(job.queue.clone(), key.clone())),
            None => plain.next(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_matched_by_key_and_order() {
        let jobs = vec![
            NewJob::new("a", serde_json::Value::Null),
            NewJob::new("b", serde_json::Value::Null).unique_key("k"),
            NewJob::new("c", serde_json::Value::Null).unique_key("k"),
            NewJob::new("d", serde_json::Value::Null),
            NewJob::new("e", serde_json::Value::Null).unique_key("taken"),
        ];
        let inserted = vec![
            (13, "default".to_owned(), None),
            (11, "default".to_owned(), None),
            (12, "default".to_owned(), Some("k".to_owned())),
        ];
        assert_eq!(
            match_ids(&jobs, inserted),
            vec![Some(11), Some(12), None, Some(13), None]
        );
    }
}
