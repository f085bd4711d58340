//! `pgkeel stream drop`: removes the replication slot (so the server stops keeping WAL for
//! it) and the publication.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cmd::stream::TargetArgs;

pub(crate) async fn run(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let client = super::connect(&args.database_url).await?;
    let slot = client
        .query_opt(
            "SELECT active, active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&args.slot],
        )
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
        .context("cannot read pg_replication_slots")?;
    let mut out = std::io::stdout().lock();
    match slot {
        Some(row) if row.get::<_, bool>(0) => bail!(
            "the slot {:?} is in use by process {} (a running `pgkeel stream`?); stop that \
             first, then drop",
            args.slot,
            row.get::<_, Option<i32>>(1).unwrap_or(0)
        ),
        Some(_) => {
            client
                .execute("SELECT pg_drop_replication_slot($1)", &[&args.slot])
                .await
                .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
                .context("cannot drop the slot")?;
            writeln!(out, "dropped slot {}", args.slot)?;
        }
        None => writeln!(out, "no slot {} (nothing to drop)", args.slot)?,
    }
    let existed = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&args.publication],
        )
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))?
        .is_some();
    if existed {
        let sql = format!(
            "DROP PUBLICATION IF EXISTS {}",
            pgkeel_stream::setup::quote_ident(&args.publication)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
            .context("cannot drop the publication")?;
        writeln!(out, "dropped publication {}", args.publication)?;
    } else {
        writeln!(out, "no publication {} (nothing to drop)", args.publication)?;
    }
    Ok(ExitCode::SUCCESS)
}
