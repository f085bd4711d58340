//! `pgkeel work`: the `pgkeel_work` schema — `migrate` creates or upgrades it, `status` shows
//! sessions, work, backoffs, history and queue depth, `bench` measures the job queue.

mod bench;
mod migrate;
mod status;

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::args::{DatabaseArgs, parse_duration};

/// Work coordination on Postgres: schema, status, and a benchmark of the job queue.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Work coordination on Postgres: sessions kept alive by heartbeats, exclusive \
        work with persisted backoff and history, and a job queue, all in the pgkeel_work \
        schema.\n\n\
        The job queue: jobs are rows of pgkeel_work.jobs. Enqueueing inserts the row and \
        sends NOTIFY pgkeel_work_jobs with the queue name in the same transaction, so idle \
        workers wake at once (and only if it commits); workers also poll, so a lost \
        notification only delays a job. A worker claims up to its free concurrency in one \
        statement (highest priority first, then earliest run_at; rows other workers are \
        claiming are skipped), runs the handlers concurrently, and records results in \
        batches: a completed job is deleted, a failed one comes back after an exponential \
        backoff with jitter, and after max_attempts it is quarantined with its last error. \
        A claimed job names the worker's session; when that session expires, its running \
        jobs are made available again, so every job runs at least once.\n\n\
        migrate   create or upgrade the schema (idempotent; safe to run from many processes)\n\
        status    sessions, work in progress, backoffs, recent history, queue depth\n\
        bench     drain N jobs with W workers, or measure pickup latency at a steady rate",
    after_help = "Examples:\n  \
        pgkeel work migrate --database-url postgres://app@127.0.0.1/app\n  \
        pgkeel work status --json | jq '.queues'\n  \
        pgkeel work bench --jobs 20000 --workers 4\n  \
        pgkeel work bench --rate 100 --seconds 10 --workers 2 --json"
)]
pub(crate) struct WorkArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create the pgkeel_work schema or bring it to this build's version.
    Migrate(MigrateArgs),
    /// Show sessions, work in progress, backoffs, recent history and queue depth.
    Status(StatusArgs),
    /// Measure the job queue: jobs/s drained and pickup latency.
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArgs,

    /// Print one JSON object: {"version":..,"applied":[..]}.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Show what the pgkeel_work schema holds right now: sessions (alive while \
        their deadline is ahead), work in progress (target, process, session, since when), \
        backoffs (until when a target/process waits, and why), the last 20 history events, \
        and the job queue's depth by queue and state with the age of the oldest due job.",
    after_help = "Examples:\n  \
        pgkeel work status --database-url postgres://app@127.0.0.1/app\n  \
        pgkeel work status --json | jq '.queues[] | select(.state == \"quarantined\")'"
)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArgs,

    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    long_about = "Measure the job queue against a real database (it migrates the schema, \
        uses a queue of its own and removes its sessions and jobs afterwards).\n\n\
        Drain mode (default): enqueue --jobs no-op jobs in batches, then start --workers \
        workers, each with a session of its own, and measure jobs/s from the first claim to \
        the last recorded completion.\n\n\
        Rate mode (--rate R): start the workers first, then enqueue R jobs per second one at \
        a time for --seconds, and measure how long each job waited from being enqueued to \
        being claimed (pickup latency).\n\n\
        Both report pickup latency p50/p99 (from max(run_at, created_at) to the claim) and \
        how many jobs ran more than once (every execution is recorded; it should be 0). \
        For numbers worth comparing, use a release build and a server without fsync: \
        `pgkeel postgres --no-fsync`.",
    after_help = "Examples:\n  \
        pgkeel work bench --jobs 20000 --workers 4\n  \
        pgkeel work bench --jobs 50000 --workers 4 --batch 200 --json\n  \
        pgkeel work bench --rate 100 --seconds 10 --workers 2\n\n\
        --json prints one object: {\"jobs\":N,\"workers\":W,\"seconds\":S,\"jobs_per_s\":X,\
        \"pickup_p50_ms\":..,\"pickup_p99_ms\":..,\"executed_more_than_once\":0}"
)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArgs,

    /// Jobs to drain (drain mode).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) jobs: u64,

    /// Workers, each with a session and a listening connection of its own.
    #[arg(long, value_name = "W", default_value_t = 4)]
    pub(crate) workers: usize,

    /// Jobs claimed per statement by a worker (and results recorded per statement).
    #[arg(long, value_name = "B", default_value_t = 100)]
    pub(crate) batch: usize,

    /// Jobs running at once per worker [default: twice the batch].
    #[arg(long, value_name = "C")]
    pub(crate) concurrency: Option<usize>,

    /// Enqueue this many jobs per second, one at a time, while the workers run (rate mode).
    #[arg(long, value_name = "R")]
    pub(crate) rate: Option<f64>,

    /// How long to enqueue in rate mode.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub(crate) seconds: f64,

    /// How often idle workers look for jobs without a notification.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub(crate) poll: Duration,

    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(args: WorkArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Migrate(args) => migrate::run(args).await,
        Action::Status(args) => status::run(args).await,
        Action::Bench(args) => bench::run(args, shutdown).await,
    }
}
