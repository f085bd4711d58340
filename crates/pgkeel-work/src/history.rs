//! Work history: one row per started / finished / failed (with its cause) / canceled event, with
//! its time; read it per target, prune it by age (the reaper does, with its retention).

use std::time::{Duration, SystemTime};

use pgkeel_conn::{Pool, Wait};

use crate::error::Error;
use crate::transact::Tx;

const RECORD: &str = "INSERT INTO pgkeel_work.history (target, process, session_id, event, cause, at) \
     VALUES ($1, $2, $3, $4, $5, clock_timestamp())";

const LIST: &str = "SELECT id, target, process, session_id, event, cause, at \
     FROM pgkeel_work.history \
     WHERE target = $1 AND ($2::text IS NULL OR process = $2) ORDER BY id";

const PRUNE: &str = "DELETE FROM pgkeel_work.history WHERE at < clock_timestamp() - $1::float8 * interval '1 second'";

/// What happened to a piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A session claimed it.
    Started,
    /// It was finished.
    Finished,
    /// It failed (with a cause).
    Failed,
    /// It was given up.
    Canceled,
}

impl Event {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Started => "started",
            Event::Finished => "finished",
            Event::Failed => "failed",
            Event::Canceled => "canceled",
        }
    }

    /// The event named `name`, if any.
    pub fn parse(name: &str) -> Option<Event> {
        Some(match name {
            "started" => Event::Started,
            "finished" => Event::Finished,
            "failed" => Event::Failed,
            "canceled" => Event::Canceled,
            _ => return None,
        })
    }
}

/// One row of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Ascending in the order events were written.
    pub id: i64,
    /// The target.
    pub target: String,
    /// The process.
    pub process: String,
    /// The session that did it (kept after the session is gone).
    pub session_id: Option<i64>,
    /// What happened.
    pub event: Event,
    /// Why it failed (`Failed` only).
    pub cause: Option<String>,
    /// When (the database's clock).
    pub at: SystemTime,
}

/// Writes one event in the caller's transaction.
pub(crate) async fn record(
    tx: &Tx,
    target: &str,
    process: &str,
    event: Event,
    cause: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let statement = tx.prepare_cached(RECORD).await?;
    tx.execute(
        &statement,
        &[&target, &process, &tx.session_id(), &event.as_str(), &cause],
    )
    .await?;
    Ok(())
}

/// The history of `target` (for one `process`, or all), oldest first. Waits for the pool up to
/// its connect timeout.
pub async fn list(pool: &Pool, target: &str, process: Option<&str>) -> Result<Vec<Entry>, Error> {
    let wait = Wait::UpTo(pool.config().connect_timeout);
    let rows = pool
        .run_idempotent(wait, |client| async move {
            client.query(LIST, &[&target, &process]).await
        })
        .await?
        .value;
    rows.iter()
        .map(|row| entry(row, "reading history"))
        .collect()
}

/// One row of `SELECT id, target, process, session_id, event, cause, at` as an [`Entry`];
/// `context` names the read in an error.
pub(crate) fn entry(row: &tokio_postgres::Row, context: &str) -> Result<Entry, Error> {
    let name: String = row.try_get(4).map_err(|e| Error::postgres(context, e))?;
    let event = Event::parse(&name)
        .ok_or_else(|| Error::unexpected(format!("unknown history event {name:?}")))?;
    let read = || -> Result<Entry, tokio_postgres::Error> {
        Ok(Entry {
            id: row.try_get(0)?,
            target: row.try_get(1)?,
            process: row.try_get(2)?,
            session_id: row.try_get(3)?,
            event,
            cause: row.try_get(5)?,
            at: row.try_get(6)?,
        })
    };
    read().map_err(|e| Error::postgres(context, e))
}

/// Deletes history older than `older_than`; returns how many rows. Waits for the pool up to
/// its connect timeout.
pub async fn prune(pool: &Pool, older_than: Duration) -> Result<u64, Error> {
    let wait = Wait::UpTo(pool.config().connect_timeout);
    let n = pool
        .run_idempotent(
            wait,
            |client| async move { prune_on(&client, older_than).await },
        )
        .await?
        .value;
    Ok(n)
}

/// Deletes history older than `older_than` with `client`.
pub(crate) async fn prune_on(
    client: &tokio_postgres::Client,
    older_than: Duration,
) -> Result<u64, tokio_postgres::Error> {
    let n = client.execute(PRUNE, &[&older_than.as_secs_f64()]).await?;
    if n > 0 {
        ::metrics::counter!(crate::telemetry::HISTORY_PRUNED).increment(n);
    }
    Ok(n)
}
