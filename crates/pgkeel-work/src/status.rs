//! What the `pgkeel_work` schema holds right now, read in one repeatable-read snapshot:
//! sessions, work in progress, backoffs, the newest history and the job queue's depth (what
//! `pgkeel work status` prints).

use std::time::SystemTime;

use tokio_postgres::{Client, IsolationLevel, Row};

use crate::error::Error;
use crate::history::{self, Entry};

const EXISTS: &str = "SELECT to_regclass('pgkeel_work.jobs') IS NOT NULL \
    AND to_regclass('pgkeel_work.migrations') IS NOT NULL";
const VERSION: &str = "SELECT coalesce(max(version), 0) FROM pgkeel_work.migrations";
const SESSIONS: &str = "SELECT id, component, deadline, deadline > now(), started_at, \
    interval_ms, runtime_info FROM pgkeel_work.sessions ORDER BY id";
const WORK: &str = "SELECT target, process, session_id, started_at FROM pgkeel_work.work \
    ORDER BY started_at, target, process";
const BACKOFFS: &str = "SELECT target, process, until, cause, last_interval_s, until > now() \
    FROM pgkeel_work.backoffs ORDER BY until, target, process";
const HISTORY: &str = "SELECT id, target, process, session_id, event, cause, at \
    FROM pgkeel_work.history ORDER BY id DESC LIMIT $1";
const QUEUES: &str = "SELECT queue, state, count(*), \
    count(*) FILTER (WHERE state = 'available' AND run_at > now()), \
    extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8 \
    FROM pgkeel_work.jobs GROUP BY queue, state ORDER BY queue, state";

/// How many history events [`status`] reads, newest first.
pub const STATUS_HISTORY: i64 = 20;

/// The schema's contents at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The newest migration applied.
    pub schema_version: i32,
    /// Every session, by id.
    pub sessions: Vec<SessionStatus>,
    /// Work in progress, oldest first.
    pub work: Vec<WorkStatus>,
    /// Backoffs, the soonest to end first (ended ones too, until they are replaced).
    pub backoffs: Vec<BackoffStatus>,
    /// The newest [`STATUS_HISTORY`] history events, newest first.
    pub history: Vec<Entry>,
    /// Jobs by queue and state.
    pub queues: Vec<QueueDepth>,
}

/// One session row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStatus {
    /// The session id.
    pub id: i64,
    /// Who runs it.
    pub component: String,
    /// Until when it lives without another heartbeat.
    pub deadline: SystemTime,
    /// The deadline is ahead (by the database's clock).
    pub alive: bool,
    /// When it started.
    pub started_at: SystemTime,
    /// Its heartbeat interval.
    pub interval_ms: i32,
    /// What the process said about itself.
    pub runtime_info: serde_json::Value,
}

/// One piece of work in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkStatus {
    /// The target.
    pub target: String,
    /// The process.
    pub process: String,
    /// The session holding it.
    pub session_id: i64,
    /// Since when.
    pub started_at: SystemTime,
}

/// One backoff row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffStatus {
    /// The target.
    pub target: String,
    /// The process.
    pub process: String,
    /// Until when the (target, process) waits.
    pub until: SystemTime,
    /// Why (the last failure's cause).
    pub cause: String,
    /// The interval that set `until`, in seconds.
    pub last_interval_s: i64,
    /// `until` is ahead (by the database's clock).
    pub active: bool,
}

/// The jobs of one queue in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDepth {
    /// The queue.
    pub queue: String,
    /// The state (`available`, `running`, `quarantined`, ...).
    pub state: String,
    /// How many jobs.
    pub jobs: i64,
    /// Of those, available but not yet due.
    pub scheduled: i64,
    /// How long the oldest due available job has waited, in seconds (`None`: none is due).
    pub oldest_due_age_s: Option<f64>,
}

/// Reads the schema's contents in one read-only, repeatable-read transaction. Fails with
/// [`Error::is_schema_missing`] when the schema was never migrated.
pub async fn status(client: &mut Client) -> Result<Status, Error> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| Error::postgres("cannot start the status snapshot", e))?;
    let exists: bool = tx
        .query_one(EXISTS, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| Error::postgres("cannot look for the pgkeel_work schema", e))?;
    if !exists {
        return Err(Error::schema_missing());
    }
    let schema_version: i32 = tx
        .query_one(VERSION, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| Error::postgres("cannot read the schema version", e))?;
    let sessions = read(&tx, SESSIONS, &[], "the sessions", |r| {
        Ok(SessionStatus {
            id: r.try_get(0)?,
            component: r.try_get(1)?,
            deadline: r.try_get(2)?,
            alive: r.try_get(3)?,
            started_at: r.try_get(4)?,
            interval_ms: r.try_get(5)?,
            runtime_info: r.try_get(6)?,
        })
    })
    .await?;
    let work = read(&tx, WORK, &[], "the work in progress", |r| {
        Ok(WorkStatus {
            target: r.try_get(0)?,
            process: r.try_get(1)?,
            session_id: r.try_get(2)?,
            started_at: r.try_get(3)?,
        })
    })
    .await?;
    let backoffs = read(&tx, BACKOFFS, &[], "the backoffs", |r| {
        Ok(BackoffStatus {
            target: r.try_get(0)?,
            process: r.try_get(1)?,
            until: r.try_get(2)?,
            cause: r.try_get(3)?,
            last_interval_s: r.try_get(4)?,
            active: r.try_get(5)?,
        })
    })
    .await?;
    let history = tx
        .query(HISTORY, &[&STATUS_HISTORY])
        .await
        .map_err(|e| Error::postgres("cannot read the history", e))?
        .iter()
        .map(|row| history::entry(row, "cannot read the history"))
        .collect::<Result<Vec<_>, _>>()?;
    let queues = read(&tx, QUEUES, &[], "the job queue", |r| {
        Ok(QueueDepth {
            queue: r.try_get(0)?,
            state: r.try_get(1)?,
            jobs: r.try_get(2)?,
            scheduled: r.try_get(3)?,
            oldest_due_age_s: r.try_get(4)?,
        })
    })
    .await?;
    tx.commit()
        .await
        .map_err(|e| Error::postgres("cannot end the status snapshot", e))?;
    Ok(Status {
        schema_version,
        sessions,
        work,
        backoffs,
        history,
        queues,
    })
}

/// Runs `sql` and maps its rows; an error names `what` ("cannot read the sessions: ...").
async fn read<T>(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    what: &str,
    map: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, Error> {
    let context = || format!("cannot read {what}");
    tx.query(sql, params)
        .await
        .map_err(|e| Error::postgres(context(), e))?
        .iter()
        .map(|row| map(row).map_err(|e| Error::postgres(context(), e)))
        .collect()
}
