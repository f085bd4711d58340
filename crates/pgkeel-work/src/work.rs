//! Exclusive work on a (target, process): `Session::work` claims the first eligible candidate
//! (no active backoff, no work row of a live session); `Work::finish`, `cancel` and `fail`
//! apply only while this live session still owns the row. Claims rely on the primary key and
//! row locks, so they are correct at READ COMMITTED.

use std::future::Future;

use pgkeel_conn::{Jitter, OpError};

use crate::error::Error;
use crate::history::{self, Event};
use crate::session::Session;
use crate::telemetry;
use crate::transact::{Failure, Tx};
use crate::work_backoff::WorkBackoff;

const INSERT_WORK: &str = "INSERT INTO pgkeel_work.work (target, process, session_id) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING session_id";

const HOLDER: &str = "SELECT w.session_id, s.deadline > clock_timestamp() \
     FROM pgkeel_work.work w JOIN pgkeel_work.sessions s ON s.id = w.session_id \
     WHERE w.target = $1 AND w.process = $2";

/// Waits for the holder's transactions in flight (they hold `FOR KEY SHARE`) before its work
/// is taken, and reads whether it is still alive afterwards.
const LOCK_HOLDER: &str = "SELECT deadline > clock_timestamp() FROM pgkeel_work.sessions \
     WHERE id = $1 FOR UPDATE";

const DELETE_STALE: &str =
    "DELETE FROM pgkeel_work.work WHERE target = $1 AND process = $2 AND session_id = $3";

const BACKING_OFF: &str = "SELECT 1 FROM pgkeel_work.backoffs \
     WHERE target = $1 AND process = $2 AND until > clock_timestamp()";

const RELEASE: &str = "DELETE FROM pgkeel_work.work \
     WHERE target = $1 AND process = $2 AND session_id = $3 RETURNING 1";

const LAST_BACKOFF: &str = "SELECT last_interval_s FROM pgkeel_work.backoffs \
     WHERE target = $1 AND process = $2 FOR UPDATE";

const UPSERT_BACKOFF: &str = "INSERT INTO pgkeel_work.backoffs \
     (target, process, cause, until, last_interval_s) \
     VALUES ($1, $2, $3, clock_timestamp() + $4::bigint * interval '1 second', $5) \
     ON CONFLICT (target, process) DO UPDATE SET cause = excluded.cause, \
     until = excluded.until, last_interval_s = excluded.last_interval_s";

const CLEAR_BACKOFF: &str = "DELETE FROM pgkeel_work.backoffs WHERE target = $1 AND process = $2";

/// How often one candidate is tried again when its holder changed under us.
const CLAIM_ROUNDS: usize = 4;

/// Work this session holds on a (target, process). Dropping it changes nothing: the row stays
/// until `finish`, `cancel` or `fail`, or until the session ends.
#[derive(Debug, Clone)]
pub struct Work {
    session: Session,
    target: String,
    process: String,
}

enum Claim {
    Got(String),
    Nothing,
}

enum Attempt {
    Claimed,
    Taken,
}

impl Session {
    /// Claims work for `process` on the first eligible target among those `candidates` returns
    /// (in the same transaction): a target is eligible when it has no active backoff for
    /// `process` and no work row — or only one of a session past its deadline, which is deleted
    /// (the work of expired sessions is free). Writes history `started`.
    ///
    /// Returns `Ok(None)` when there are no candidates, or when every candidate is merely
    /// backing off; `WorkConflict` (for the first such target) when at least one candidate is
    /// held by a live session (this one included) and none could be claimed.
    ///
    /// Candidates are read at READ COMMITTED: a condition of the caller's own (e.g. "not done
    /// yet") may have changed by the time the claim is made; check it again in `finish`, or
    /// lock the rows it reads (`FOR UPDATE`).
    ///
    /// ```no_run
    /// # async fn demo(session: &pgkeel_work::Session) -> Result<(), pgkeel_work::Error> {
    /// let work = session
    ///     .work("provision", |tx| async move {
    ///         let rows = tx
    ///             .query("SELECT name FROM machines WHERE NOT provisioned ORDER BY name LIMIT 10", &[])
    ///             .await?;
    ///         Ok::<_, tokio_postgres::Error>(rows.iter().map(|r| r.get(0)).collect())
    ///     })
    ///     .await?;
    /// if let Some(work) = work {
    ///     // ... do it, then:
    ///     let target = work.target().to_owned();
    ///     work.finish(|tx| {
    ///         let target = target.clone();
    ///         async move {
    ///             tx.execute("UPDATE machines SET provisioned = true WHERE name = $1", &[&target])
    ///                 .await
    ///         }
    ///     })
    ///     .await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn work<E, F, Fut>(
        &self,
        process: &str,
        mut candidates: F,
    ) -> Result<Option<Work>, Error>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<Vec<String>, E>>,
        E: Into<OpError>,
    {
        let claim = self
            .run_tx(|tx| {
                let listed = candidates(tx.fork());
                async move {
                    let listed = listed.await.map_err(Failure::from_op)?;
                    claim_first(&tx, process, listed).await
                }
            })
            .await?;
        match claim {
            Claim::Got(target) => {
                ::metrics::counter!(telemetry::WORK_STARTED, "process" => process.to_owned())
                    .increment(1);
                tracing::debug!(session = self.id(), %target, process, "work started");
                Ok(Some(Work {
                    session: self.clone(),
                    target,
                    process: process.to_owned(),
                }))
            }
            Claim::Nothing => Ok(None),
        }
    }
}

/// Claims the first eligible candidate, or says why none.
async fn claim_first(tx: &Tx, process: &str, listed: Vec<String>) -> Result<Claim, Failure> {
    let mut conflict: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    for target in listed {
        if !seen.insert(target.clone()) || backing_off(tx, &target, process).await? {
            continue;
        }
        match try_claim(tx, &target, process).await? {
            Attempt::Taken => {
                conflict.get_or_insert(target);
            }
            // Checked again in a fresh snapshot: a `fail` that released the row just before we
            // inserted ours committed its backoff too.
            Attempt::Claimed if backing_off(tx, &target, process).await? => {
                let delete = tx.prepare_cached(DELETE_STALE).await?;
                tx.execute(&delete, &[&target, &process, &tx.session_id()])
                    .await?;
            }
            Attempt::Claimed => {
                history::record(tx, &target, process, Event::Started, None).await?;
                return Ok(Claim::Got(target));
            }
        }
    }
    match conflict {
        Some(target) => Err(Failure::Stop(Error::work_conflict(&target, process))),
        None => Ok(Claim::Nothing),
    }
}

async fn backing_off(tx: &Tx, target: &str, process: &str) -> Result<bool, Failure> {
    let statement = tx.prepare_cached(BACKING_OFF).await?;
    Ok(tx
        .query_opt(&statement, &[&target, &process])
        .await?
        .is_some())
}

/// Inserts the work row; when another session's row is there and that session is past its
/// deadline, waits for its transactions in flight, deletes the row and inserts ours.
async fn try_claim(tx: &Tx, target: &str, process: &str) -> Result<Attempt, Failure> {
    let me = tx.session_id();
    let insert = tx.prepare_cached(INSERT_WORK).await?;
    let holder = tx.prepare_cached(HOLDER).await?;
    for _ in 0..CLAIM_ROUNDS {
        if tx
            .query_opt(&insert, &[&target, &process, &me])
            .await?
            .is_some()
        {
            return Ok(Attempt::Claimed);
        }
        let Some(row) = tx.query_opt(&holder, &[&target, &process]).await? else {
            continue; // released meanwhile: insert again
        };
        let owner: i64 = row.try_get(0)?;
        let alive: bool = row.try_get(1)?;
        if alive || owner == me {
            return Ok(Attempt::Taken);
        }
        let lock = tx.prepare_cached(LOCK_HOLDER).await?;
        match tx.query_opt(&lock, &[&owner]).await? {
            None => continue, // reaped meanwhile: its work went with it
            Some(row) if row.try_get::<_, bool>(0)? => return Ok(Attempt::Taken),
            Some(_) => {
                let delete = tx.prepare_cached(DELETE_STALE).await?;
                let n = tx.execute(&delete, &[&target, &process, &owner]).await?;
                tracing::info!(
                    session = me,
                    expired_session = owner,
                    target,
                    process,
                    freed = n,
                    "taking over the work of an expired session"
                );
            }
        }
    }
    Ok(Attempt::Taken)
}

/// Deletes this session's work row; `NotOwner` when it is not there (anymore).
async fn release(tx: &Tx, target: &str, process: &str) -> Result<(), Failure> {
    let statement = tx.prepare_cached(RELEASE).await?;
    let owned = tx
        .query_opt(&statement, &[&target, &process, &tx.session_id()])
        .await?;
    match owned {
        Some(_) => Ok(()),
        None => Err(Failure::Stop(Error::not_owner(target, process, false))),
    }
}

impl Work {
    /// The target worked on.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The process working on it.
    pub fn process(&self) -> &str {
        &self.process
    }

    /// The session holding the work.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Ends the work successfully: in one transaction, checks this live session still owns it
    /// (else `NotOwner`, and the future `body` returns is not polled), runs `body`, clears the backoff of the
    /// (target, process) and writes history `finished`. If the call fails with a transient
    /// error the finish may or may not have committed; calling it again then gives `NotOwner`
    /// if it had.
    pub async fn finish<T, E, F, Fut>(&self, mut body: F) -> Result<T, Error>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        let (target, process) = (self.target.as_str(), self.process.as_str());
        let result = self
            .session
            .run_tx(|tx| {
                // Not polled unless the ownership check passes.
                let user = body(tx.fork());
                async move {
                    release(&tx, target, process).await?;
                    let value = user.await.map_err(Failure::from_op)?;
                    let clear = tx.prepare_cached(CLEAR_BACKOFF).await?;
                    tx.execute(&clear, &[&target, &process]).await?;
                    history::record(&tx, target, process, Event::Finished, None).await?;
                    Ok(value)
                }
            })
            .await;
        self.ended(result, "finished")
    }

    /// Gives the work up without a verdict: deletes the row (if this live session owns it) and
    /// writes history `canceled`. The backoff, if any, stays.
    pub async fn cancel(&self) -> Result<(), Error> {
        let (target, process) = (self.target.as_str(), self.process.as_str());
        let result = self
            .session
            .run_tx(|tx| async move {
                release(&tx, target, process).await?;
                history::record(&tx, target, process, Event::Canceled, None).await?;
                Ok(())
            })
            .await;
        self.ended(result, "canceled")
    }

    /// Ends the work as failed with `cause`: deletes the row (if this live session owns it),
    /// writes history `failed` with the cause and, with a `backoff`, makes the (target, process)
    /// ineligible for the next interval (computed from the interval persisted by the previous
    /// failure). Without a backoff, an existing backoff row is left as it is.
    pub async fn fail(&self, backoff: Option<&WorkBackoff>, cause: &str) -> Result<(), Error> {
        let (target, process) = (self.target.as_str(), self.process.as_str());
        let result = self
            .session
            .run_tx(|tx| async move {
                release(&tx, target, process).await?;
                if let Some(backoff) = backoff {
                    let last = tx.prepare_cached(LAST_BACKOFF).await?;
                    let last: Option<i64> = match tx.query_opt(&last, &[&target, &process]).await? {
                        Some(row) => Some(row.try_get(0)?),
                        None => None,
                    };
                    let interval = backoff.next_interval(last);
                    let wait = backoff.jittered(interval, Jitter::new().next());
                    let upsert = tx.prepare_cached(UPSERT_BACKOFF).await?;
                    tx.execute(&upsert, &[&target, &process, &cause, &wait, &interval])
                        .await?;
                }
                history::record(&tx, target, process, Event::Failed, Some(cause)).await?;
                Ok(())
            })
            .await;
        self.ended(result, "failed")
    }

    /// Counts the outcome; a session that expired means the work is no longer ours.
    fn ended<T>(&self, result: Result<T, Error>, how: &'static str) -> Result<T, Error> {
        let result = result.map_err(|e| {
            if e.is_session_expired() && !e.is_not_owner() {
                Error::not_owner(&self.target, &self.process, true)
            } else {
                e
            }
        });
        match &result {
            Ok(_) => telemetry::work_ended(&self.process, how),
            Err(e) if e.is_not_owner() => {
                telemetry::work_ended(&self.process, "rejected");
                tracing::warn!(
                    session = self.session.id(),
                    target = %self.target,
                    process = %self.process,
                    error = %e,
                    "work rejected: no longer owned"
                );
            }
            Err(_) => {}
        }
        result
    }
}
