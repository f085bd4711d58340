//! `pgkeel work status`: sessions, work in progress, backoffs, recent history and queue depth,
//! read from the `pgkeel_work` tables in one snapshot, as tables or one JSON object.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio_postgres::Row;

use crate::cmd::work::StatusArgs;
use crate::time_format::rfc3339;

const SESSIONS: &str = "SELECT id, component, deadline, deadline > now(), started_at, \
    interval_ms, runtime_info FROM pgkeel_work.sessions ORDER BY id";
const WORK: &str = "SELECT target, process, session_id, started_at FROM pgkeel_work.work \
    ORDER BY started_at, target, process";
const BACKOFFS: &str = "SELECT target, process, until, cause, last_interval_s, until > now() \
    FROM pgkeel_work.backoffs ORDER BY until, target, process";
const HISTORY: &str = "SELECT id, target, process, session_id, event, cause, at \
    FROM pgkeel_work.history ORDER BY id DESC LIMIT 20";
const QUEUES: &str = "SELECT queue, state, count(*), \
    count(*) FILTER (WHERE state = 'available' AND run_at > now()), \
    extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now()))::float8 \
    FROM pgkeel_work.jobs GROUP BY queue, state ORDER BY queue, state";

pub(crate) async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut client = args.db.connect("pgkeel work status").await?;
    let pg = |e: tokio_postgres::Error| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e));
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg)?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('pgkeel_work.jobs') IS NOT NULL \
             AND to_regclass('pgkeel_work.migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    if !exists {
        bail!(
            "the pgkeel_work schema does not exist in this database; create it with \
             `pgkeel work migrate`"
        );
    }
    let version: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM pgkeel_work.migrations",
            &[],
        )
        .await
        .map_err(pg)
        .context("cannot read the schema version")?
        .get(0);
    let read = async |sql: &str, what: &str| {
        tx.query(sql, &[])
            .await
            .map_err(pg)
            .with_context(|| format!("cannot read {what}"))
    };
    let sessions: Vec<Value> = rows(read(SESSIONS, "the sessions").await?, |r| {
        Ok(json!({
            "id": r.try_get::<_, i64>(0)?,
            "component": r.try_get::<_, String>(1)?,
            "deadline": rfc3339(r.try_get(2)?),
            "alive": r.try_get::<_, bool>(3)?,
            "started_at": rfc3339(r.try_get(4)?),
            "interval_ms": r.try_get::<_, i32>(5)?,
            "runtime_info": r.try_get::<_, Value>(6)?,
        }))
    })?;
    let work: Vec<Value> = rows(read(WORK, "the work in progress").await?, |r| {
        Ok(json!({
            "target": r.try_get::<_, String>(0)?,
            "process": r.try_get::<_, String>(1)?,
            "session": r.try_get::<_, i64>(2)?,
            "since": rfc3339(r.try_get(3)?),
        }))
    })?;
    let backoffs: Vec<Value> = rows(read(BACKOFFS, "the backoffs").await?, |r| {
        Ok(json!({
            "target": r.try_get::<_, String>(0)?,
            "process": r.try_get::<_, String>(1)?,
            "until": rfc3339(r.try_get(2)?),
            "cause": r.try_get::<_, String>(3)?,
            "interval_s": r.try_get::<_, i64>(4)?,
            "active": r.try_get::<_, bool>(5)?,
        }))
    })?;
    let history: Vec<Value> = rows(read(HISTORY, "the history").await?, |r| {
        Ok(json!({
            "id": r.try_get::<_, i64>(0)?,
            "target": r.try_get::<_, String>(1)?,
            "process": r.try_get::<_, String>(2)?,
            "session": r.try_get::<_, Option<i64>>(3)?,
            "event": r.try_get::<_, String>(4)?,
            "cause": r.try_get::<_, Option<String>>(5)?,
            "at": rfc3339(r.try_get(6)?),
        }))
    })?;
    let queues: Vec<Value> = rows(read(QUEUES, "the job queue").await?, |r| {
        Ok(json!({
            "queue": r.try_get::<_, String>(0)?,
            "state": r.try_get::<_, String>(1)?,
            "jobs": r.try_get::<_, i64>(2)?,
            "scheduled": r.try_get::<_, i64>(3)?,
            "oldest_due_age_s": r.try_get::<_, Option<f64>>(4)?,
        }))
    })?;
    tx.commit().await.map_err(pg)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "at": rfc3339(SystemTime::now()),
            "schema_version": version,
            "sessions": sessions,
            "work": work,
            "backoffs": backoffs,
            "history": history,
            "queues": queues,
        });
        writeln!(out, "{value}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "pgkeel_work schema version {version}")?;
    section(
        &mut out,
        "sessions",
        &["id", "component", "alive", "deadline", "started"],
        &sessions,
        &["id", "component", "alive", "deadline", "started_at"],
    )?;
    section(
        &mut out,
        "work in progress",
        &["target", "process", "session", "since"],
        &work,
        &["target", "process", "session", "since"],
    )?;
    section(
        &mut out,
        "backoffs",
        &["target", "process", "until", "cause"],
        &backoffs,
        &["target", "process", "until", "cause"],
    )?;
    section(
        &mut out,
        "recent history, newest first",
        &["at", "event", "target", "process", "session", "cause"],
        &history,
        &["at", "event", "target", "process", "session", "cause"],
    )?;
    section(
        &mut out,
        "job queue",
        &[
            "queue",
            "state",
            "jobs",
            "not yet due",
            "oldest due job waits (s)",
        ],
        &queues,
        &["queue", "state", "jobs", "scheduled", "oldest_due_age_s"],
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Maps rows, naming the table in the error.
fn rows(
    rows: Vec<Row>,
    map: impl Fn(&Row) -> Result<Value, tokio_postgres::Error>,
) -> anyhow::Result<Vec<Value>> {
    rows.iter()
        .map(|r| map(r).map_err(|e| anyhow::anyhow!("unexpected column type: {e}")))
        .collect()
}

/// A titled table of `keys` from each object; "none" when empty.
fn section(
    out: &mut impl Write,
    title: &str,
    headers: &[&str],
    items: &[Value],
    keys: &[&str],
) -> std::io::Result<()> {
    writeln!(out)?;
    if items.is_empty() {
        return writeln!(out, "{title}: none");
    }
    writeln!(out, "{title} ({}):", items.len())?;
    let cells: Vec<Vec<String>> = items
        .iter()
        .map(|item| keys.iter().map(|k| cell(&item[*k])).collect())
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    writeln!(out, "{}", line(headers.to_vec()))?;
    for row in &cells {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
