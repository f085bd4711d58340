//! `pgkeel work migrate`: creates or upgrades the `pgkeel_work` schema and says which
//! migrations it applied (text, or one JSON object).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::cmd::work::MigrateArgs;

/// `pgkeel work migrate`.
pub(crate) async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let mut client = args.db.connect("pgkeel work migrate").await?;
    let migrated = pgkeel_work::migrate(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot migrate the pgkeel_work schema")?;
    let names: Vec<&str> = migrated
        .applied
        .iter()
        .filter_map(|v| {
            pgkeel_work::migrate::MIGRATIONS
                .iter()
                .find(|m| m.0 == *v)
                .map(|m| m.1)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "version": migrated.version,
            "applied": migrated.applied,
            "names": names,
        });
        writeln!(out, "{value}")?;
    } else if migrated.applied.is_empty() {
        writeln!(
            out,
            "pgkeel_work schema at version {}: up to date, nothing applied",
            migrated.version
        )?;
    } else {
        let list: Vec<String> = migrated
            .applied
            .iter()
            .zip(&names)
            .map(|(v, n)| format!("{v} ({n})"))
            .collect();
        writeln!(
            out,
            "pgkeel_work schema at version {}: applied {}",
            migrated.version,
            list.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
