//! `pgkeel stream`: the WAL of chosen tables as JSON lines, delivered at least once to a
//! sink, with the slot confirmed only after the sink holds the events; `status` and `drop`.

mod ack_early;
mod drop;
mod metrics;
mod status;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pgkeel_stream::{Progress, StreamConfig, Tables};
use tokio_util::sync::CancellationToken;

use crate::args::{DatabaseArgs, parse_duration};

/// Stream row changes from the WAL to a sink, at least once.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    long_about = "Stream the changes of chosen tables from the write-ahead log (logical \
        replication, pgoutput) and deliver them as JSON, one object per change, to a sink.\n\n\
        Delivery is at least once: the replication slot is told a position only after the \
        sink holds every event up to it durably (stdout flushed, file fsynced, webhook \
        answered 2xx). A lost connection reconnects with backoff and resumes from the last \
        durable position; a restarted process resumes from the slot. An event may therefore \
        arrive twice, never not at all: (commit_lsn, ordinal) identifies it, drop duplicates \
        by it. Transactions arrive whole and in commit order; aborted ones never arrive.\n\n\
        First run: --create makes the publication (--tables a,b or --all-tables) and the \
        slot. A missing or invalidated slot later is an error, never a silent restart from \
        \"now\" (which would skip changes). A slot keeps WAL on the server until it is \
        consumed: drop it with `pgkeel stream drop` when you stop streaming for good.\n\n\
        Event fields: commit_lsn, lsn, xid, commit_time (ISO 8601 UTC), ordinal, schema, \
        table, op (insert|update|delete|truncate|message), key, new, old, unchanged_toast \
        (columns whose large value did not change and was not sent), cascade and \
        restart_identity (truncate), prefix, content and transactional (logical messages).",
    after_help = "Examples:\n  \
        pgkeel stream --database-url postgres://app@127.0.0.1/app --slot app_cdc \\\n      \
        --publication app_cdc --tables public.orders,public.items --create\n  \
        pgkeel stream --slot app_cdc --publication app_cdc --sink file:/var/lib/cdc/events.jsonl\n  \
        pgkeel stream --slot app_cdc --publication app_cdc --sink http://127.0.0.1:8080/events\n  \
        pgkeel stream status --slot app_cdc --publication app_cdc\n  \
        pgkeel stream drop --slot app_cdc --publication app_cdc\n\n\
        The user needs the REPLICATION attribute (or superuser), and wal_level = logical on \
        the server."
)]
pub(crate) struct StreamArgs {
    #[command(subcommand)]
    action: Option<Action>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show the slot (position, lag, retained WAL, wal_status, safe_wal_size) and the
    /// publication's tables; with --max-lag, exit 2 when the slot lags more (for cron and
    /// monitoring).
    Status(StatusArgs),
    /// Drop the replication slot and the publication (stop the stream first).
    Drop(TargetArgs),
}

/// Where to find slot and publication.
#[derive(Debug, clap::Args)]
pub(crate) struct TargetArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArgs,

    /// The replication slot.
    #[arg(long, value_name = "NAME")]
    pub(crate) slot: String,

    /// The publication.
    #[arg(long, value_name = "NAME")]
    pub(crate) publication: String,

    /// Print JSON instead of text: the slot and the publication (status), or what was
    /// dropped (drop).
    #[arg(long)]
    pub(crate) json: bool,
}

/// `stream status`: the target, and an alarm threshold.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    /// Exit 2 (after printing) when the slot lags the server's WAL by more than this many
    /// bytes, or is missing or lost — the server keeps that WAL on its disk.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_lag: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    // `None` only when a subcommand (status, drop) is given: it has a --database-url of its own.
    #[command(flatten)]
    db: Option<DatabaseArgs>,

    /// The replication slot (lower-case letters, digits, underscores).
    #[arg(long, value_name = "NAME", required = true)]
    slot: Option<String>,

    /// The publication naming the tables.
    #[arg(long, value_name = "NAME", required = true)]
    publication: Option<String>,

    /// Tables to publish, `table` or `schema.table`, comma-separated (with --create: create
    /// or change the publication to exactly these).
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        conflicts_with = "all_tables"
    )]
    tables: Vec<String>,

    /// Publish every table (needs superuser to create).
    #[arg(long)]
    all_tables: bool,

    /// Create the publication and the slot if missing (first run).
    #[arg(long)]
    create: bool,

    /// Where events go: stdout, file:PATH (appended, fsynced) or http://HOST:PORT/PATH (POST
    /// of a JSON array per batch; retried until 2xx).
    #[arg(long, value_name = "SINK", default_value = "stdout")]
    sink: String,

    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,

    /// Deliver prepared transactions only after COMMIT PREPARED, decoding them at PREPARE
    /// (creates a two-phase slot; PostgreSQL 15+).
    #[arg(long)]
    two_phase: bool,

    /// Do not let the server stream large transactions before they commit.
    #[arg(long)]
    no_streaming: bool,

    /// Write a heartbeat message this often so the slot advances on a quiet database; 0
    /// turns it off.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    heartbeat: Duration,

    /// Send a status update to the server at least this often.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    status_interval: Duration,

    /// Warn (log line, once per episode) when the slot lags the server's WAL by more than
    /// this many bytes, and whenever its WAL becomes unreserved; 0 turns the lag warning off.
    /// The figures are also on --metrics-listen.
    #[arg(long, value_name = "BYTES", default_value_t = pgkeel_stream::DEFAULT_LAG_WARNING_BYTES)]
    warn_lag: u64,

    /// Most events per sink delivery.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    batch: usize,

    /// Most events buffered between server and sink before reading pauses.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    buffer: usize,

    /// Exit (code 0) once everything up to this WAL position is delivered and confirmed,
    /// like pg_recvlogical --endpos; e.g. the output of SELECT pg_current_wal_lsn().
    #[arg(long, value_name = "LSN")]
    stop_at: Option<pgkeel_stream::Lsn>,

    /// Test-only sabotage for `pgkeel demo --sabotage ack-early`: acknowledge batches before
    /// the sink holds them. Loses events when the process dies; never use it otherwise.
    #[arg(long, hide = true)]
    unsafe_ack_before_write: bool,
}

pub(crate) async fn run(args: StreamArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(Action::Status(target)) => status::run(target).await,
        Some(Action::Drop(target)) => drop::run(target).await,
        None => stream(args.run, shutdown).await,
    }
}

async fn stream(args: RunArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let Some(db) = args.db else {
        bail!("no database: pass --database-url or set DATABASE_URL");
    };
    let (Some(slot), Some(publication)) = (args.slot, args.publication) else {
        bail!("--slot and --publication are required");
    };
    if args.batch == 0 || args.buffer == 0 {
        bail!("--batch and --buffer must be at least 1");
    }
    let mut config = StreamConfig::for_database(db.database, &slot, &publication)?;
    config.spec.tables = if args.all_tables {
        Tables::All
    } else if args.tables.is_empty() {
        Tables::Existing
    } else {
        Tables::List(args.tables)
    };
    config.spec.create = args.create;
    config.spec.two_phase = args.two_phase;
    config.streaming = !args.no_streaming;
    config.heartbeat = Some(args.heartbeat).filter(|d| !d.is_zero());
    config.status_interval = args.status_interval.max(Duration::from_millis(100));
    config.lag_warning_bytes = Some(args.warn_lag).filter(|b| *b > 0);
    config.max_batch_events = args.batch;
    config.max_buffered_events = args.buffer.max(args.batch);
    config.stop_at = args.stop_at;
    if let Some(addr) = args.metrics_listen {
        metrics::serve(addr, shutdown.clone()).await?;
    }
    let mut sink = pgkeel_stream::sink_from_spec(&args.sink, shutdown.clone())
        .with_context(|| format!("--sink {}", args.sink))?;
    if args.unsafe_ack_before_write {
        tracing::warn!(
            "--unsafe-ack-before-write: events can be lost, as the demo's sabotage shows"
        );
        sink = Box::new(ack_early::AckBeforeWriteSink::wrap(sink));
    }
    tracing::info!(sink = %sink.describe(), %slot, %publication, "starting the stream");
    let progress = Arc::new(Progress::default());
    match pgkeel_stream::run(config, sink, Arc::clone(&progress), shutdown).await {
        Ok(()) => {
            let done = progress.snapshot();
            tracing::info!(events = done.events, transactions = done.transactions, confirmed = %done.confirmed, "done");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(anyhow::Error::new(error).context("pgkeel stream failed")),
    }
}
