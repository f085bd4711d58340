//! `pgkeel work status`: sessions, work in progress, backoffs, recent history and queue depth,
//! as `pgkeel_work::status` reads them in one snapshot, printed as tables or one JSON object.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::cmd::work::StatusArgs;
use crate::time_format::rfc3339;

pub(crate) async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut client = args.db.connect("pgkeel work status").await?;
    // The message names what failed and what to do; it is not repeated as a chain of causes.
    let status = pgkeel_work::status(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let version = status.schema_version;
    let sessions: Vec<Value> = status
        .sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "component": s.component,
                "deadline": rfc3339(s.deadline),
                "alive": s.alive,
                "started_at": rfc3339(s.started_at),
                "interval_ms": s.interval_ms,
                "runtime_info": s.runtime_info,
            })
        })
        .collect();
    let work: Vec<Value> = status
        .work
        .iter()
        .map(|w| {
            json!({
                "target": w.target,
                "process": w.process,
                "session": w.session_id,
                "since": rfc3339(w.started_at),
            })
        })
        .collect();
    let backoffs: Vec<Value> = status
        .backoffs
        .iter()
        .map(|b| {
            json!({
                "target": b.target,
                "process": b.process,
                "until": rfc3339(b.until),
                "cause": b.cause,
                "interval_s": b.last_interval_s,
                "active": b.active,
            })
        })
        .collect();
    let history: Vec<Value> = status
        .history
        .iter()
        .map(|h| {
            json!({
                "id": h.id,
                "target": h.target,
                "process": h.process,
                "session": h.session_id,
                "event": h.event.as_str(),
                "cause": h.cause,
                "at": rfc3339(h.at),
            })
        })
        .collect();
    let queues: Vec<Value> = status
        .queues
        .iter()
        .map(|q| {
            json!({
                "queue": q.queue,
                "state": q.state,
                "jobs": q.jobs,
                "scheduled": q.scheduled,
                "oldest_due_age_s": q.oldest_due_age_s,
            })
        })
        .collect();
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
