//! `pgkeel stream status`: the slot's position, lag and retained WAL, and the publication's
//! tables, as text or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::cmd::stream::TargetArgs;

pub(crate) async fn run(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let client = super::connect(&args.database_url).await?;
    let pg = |e: tokio_postgres::Error| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e));
    let slot = client
        .query_opt(
            "SELECT active, active_pid, confirmed_flush_lsn::text, restart_lsn::text, \
                    (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, \
                    (pg_current_wal_lsn() - restart_lsn)::bigint, wal_status, two_phase, \
                    pg_current_wal_lsn()::text \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&args.slot],
        )
        .await
        .map_err(pg)
        .context("cannot read pg_replication_slots")?;
    let publication = client
        .query_opt(
            "SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&args.publication],
        )
        .await
        .map_err(pg)?;
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_publication_tables \
             WHERE pubname = $1 ORDER BY 1",
            &[&args.publication],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let slot_json = slot.as_ref().map(|r| {
        json!({
            "name": args.slot,
            "active": r.get::<_, bool>(0),
            "active_pid": r.get::<_, Option<i32>>(1),
            "confirmed_flush_lsn": r.get::<_, Option<String>>(2),
            "restart_lsn": r.get::<_, Option<String>>(3),
            "lag_bytes": r.get::<_, Option<i64>>(4),
            "retained_wal_bytes": r.get::<_, Option<i64>>(5),
            "wal_status": r.get::<_, Option<String>>(6),
            "two_phase": r.get::<_, bool>(7),
            "server_wal_lsn": r.get::<_, Option<String>>(8),
        })
    });
    let publication_json = publication.as_ref().map(|r| {
        json!({
            "name": args.publication,
            "all_tables": r.get::<_, bool>(0),
            "tables": tables,
        })
    });
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
                    ("  two-phase", "two_phase"),
                ] {
                    writeln!(out, "{label}: {}", plain(&s[key]))?;
                }
            }
        }
        match &publication_json {
            None => writeln!(out, "publication {}: does not exist", args.publication)?,
            Some(p) if p["all_tables"] == true => {
                writeln!(out, "publication {}: all tables", args.publication)?;
            }
            Some(_) => writeln!(
                out,
                "publication {}: {}",
                args.publication,
                if tables.is_empty() {
                    "no tables".to_owned()
                } else {
                    tables.join(", ")
                }
            )?,
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
