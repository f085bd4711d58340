//! `pgkeel stream drop`: removes the replication slot (so the server stops keeping WAL for
//! it) and the publication (through `pgkeel_stream::drop_slot` and `drop_publication`); with
//! `--json`, one object saying what was dropped.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use crate::cmd::stream::TargetArgs;

pub(crate) async fn run(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let client = args.db.connect("pgkeel stream drop").await?;
    let mut out = std::io::stdout().lock();
    let slot = pgkeel_stream::drop_slot(&client, &args.slot).await?;
    if !args.json {
        if slot {
            writeln!(out, "dropped slot {}", args.slot)?;
        } else {
            writeln!(out, "no slot {} (nothing to drop)", args.slot)?;
        }
    }
    let publication = pgkeel_stream::drop_publication(&client, &args.publication).await?;
    if args.json {
        let value = json!({
            "slot": { "name": args.slot, "dropped": slot },
            "publication": { "name": args.publication, "dropped": publication },
        });
        writeln!(out, "{value}")?;
    } else if publication {
        writeln!(out, "dropped publication {}", args.publication)?;
    } else {
        writeln!(out, "no publication {} (nothing to drop)", args.publication)?;
    }
    Ok(ExitCode::SUCCESS)
}
