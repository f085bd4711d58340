//! `pgkeel stream status`: the slot's position, lag, retained WAL, `wal_status` and
//! `safe_wal_size`, and the publication's tables, as text or JSON (read by
//! `pgkeel_stream::slot_status` and `publication_status`); `--max-lag` turns it into an alarm
//! (exit 2) for cron and monitoring.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use crate::cmd::stream::StatusArgs;

pub(crate) async fn run(status_args: StatusArgs) -> anyhow::Result<ExitCode> {
    let args = status_args.target;
    let client = args.db.connect("pgkeel stream status").await?;
    let slot = pgkeel_stream::slot_status(&client, &args.slot).await?;
    let publication = pgkeel_stream::publication_status(&client, &args.publication).await?;
    let slot_json = slot.as_ref().map(serde_json::to_value).transpose()?;
    let publication_json = publication.as_ref().map(serde_json::to_value).transpose()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({ "slot": slot_json, "publication": publication_json });
        writeln!(out, "{value}")?;
    } else {
        match &slot_json {
            None => writeln!(out, "slot {}: does not exist", args.slot)?,
            Some(s) => {
                writeln!(
                    out,
                    "slot {}: {}{}",
                    args.slot,
                    if s["active"] == true {
                        "active, pid "
                    } else {
                        "inactive"
                    },
                    s["active_pid"]
                        .as_i64()
                        .map(|p| p.to_string())
                        .unwrap_or_default()
                )?;
                for (label, key) in [
                    ("  confirmed flush", "confirmed_flush_lsn"),
                    ("  server WAL at", "server_wal_lsn"),
                    ("  lag bytes", "lag_bytes"),
                    ("  retained WAL bytes", "retained_wal_bytes"),
                    ("  wal status", "wal_status"),
                    ("  safe WAL size", "safe_wal_size"),
                    ("  two-phase", "two_phase"),
                ] {
                    writeln!(out, "{label}: {}", plain(&s[key]))?;
                }
            }
        }
        match &publication {
            None => writeln!(out, "publication {}: does not exist", args.publication)?,
            Some(p) if p.all_tables => {
                writeln!(out, "publication {}: all tables", args.publication)?;
            }
            Some(p) => writeln!(
                out,
                "publication {}: {}",
                args.publication,
                if p.tables.is_empty() {
                    "no tables".to_owned()
                } else {
                    p.tables.join(", ")
                }
            )?,
        }
    }
    drop(out);
    if let Some(max) = status_args.max_lag {
        let alarm = match &slot {
            None => Some(format!("slot {} does not exist", args.slot)),
            Some(s) if s.wal_status.as_deref() == Some("lost") => Some(format!(
                "slot {} is lost (the server removed WAL it needed): drop it, create it again \
                 and backfill",
                args.slot
            )),
            Some(s) if s.lag_bytes.unwrap_or(0) > i64::try_from(max).unwrap_or(i64::MAX) => {
                Some(format!(
                    "slot {} lags {} bytes behind the server's WAL, more than --max-lag {max}",
                    args.slot,
                    s.lag_bytes.unwrap_or(0)
                ))
            }
            Some(_) => None,
        };
        if let Some(alarm) = alarm {
            eprintln!("pgkeel: {alarm}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
