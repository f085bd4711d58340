//! `pgkeel demo`: the whole system under faults, with a verdict. An embedded cluster, the
//! fault proxy in front of it, and a small control plane behind the proxy — a workload writer
//! and two cache instances in this process, a change stream and two job workers as child
//! processes — run while a seeded schedule injects faults; then a referee compares what was
//! committed with what was delivered, executed and cached. Exit 0 only if every invariant held.
//!
//! | file | concept |
//! |---|---|
//! | `system.rs` | cluster, proxy, run directory; cleanup |
//! | `setup.rs` | the demo's tables |
//! | `children.rs` | child processes that die with us: start, kill -9, restart, stop |
//! | `writer.rs` | the workload: orders, jobs, config changes, each with its ledger row |
//! | `caches.rs` | two cache instances kept in sync (LISTEN/NOTIFY + poll) |
//! | `schedule.rs` | the fault schedule drawn from the seed |
//! | `faults.rs` | injecting each fault kind and measuring recovery |
//! | `conductor.rs` | the run: phases, faults, drain, shutdown |
//! | `referee.rs` | counting: committed vs delivered, enqueued vs executed, caches |
//! | `report.rs` | the verdict: table or JSON |
//! | `progress.rs` | live progress: bars on a terminal, plain lines otherwise |
//! | `worker.rs` | the hidden `pgkeel demo worker` child: a job worker process |

mod caches;
mod children;
mod conductor;
mod faults;
mod progress;
mod referee;
mod report;
mod schedule;
mod setup;
mod system;
mod worker;
mod writer;

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::args::parse_duration;

/// Run the whole system under injected faults and print a verdict.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    long_about = "Run a small control plane on Postgres under injected faults, and check that \
        it stayed correct.\n\n\
        It starts a throwaway cluster (like `pgkeel postgres`) and the fault proxy in front \
        of it; every component connects through the proxy: a workload writer (orders \
        inserted and updated, jobs enqueued, a config value changed now and then, each with \
        a ledger row in the same transaction), two instances keeping a config cache in sync \
        (LISTEN/NOTIFY with a polling fallback), a change stream (`pgkeel stream` to a file) \
        and two job worker processes.\n\n\
        Meanwhile a schedule drawn from --seed injects faults: every connection killed, a \
        stall (blackhole), injected 40001 and 57P01 errors, added latency, a Postgres \
        restart, kill -9 of a worker and of the stream (the demo restarts them). The same \
        seed gives the same schedule.\n\n\
        The verdict: every committed change delivered by the stream (duplicates are \
        allowed and counted, losses are not), every enqueued job executed exactly once in \
        effect, both caches at the database's version, and recovery time per fault kind. \
        Exit code 0 only when every invariant held, 1 otherwise.\n\n\
        Takes --duration plus a few seconds (start, drain). Ctrl-C stops it and cleans up; a second Ctrl-C \
        exits at once (the cluster and child processes still die with it).",
    after_help = "Examples:\n  \
        pgkeel demo                          # 60 s, seed 1\n  \
        pgkeel demo --duration 20s --seed 7\n  \
        pgkeel demo --json | jq .invariants\n  \
        pgkeel demo --keep                   # leave the cluster's data and the event file"
)]
pub(crate) struct DemoArgs {
    #[command(subcommand)]
    role: Option<Role>,

    /// How long the workload runs under faults (the drain and the verdict come after).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    duration: Duration,

    /// Seed of the fault schedule: the same seed injects the same faults at the same times.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,

    /// Print the report as one JSON object on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,

    /// Leave the cluster's data directory, the event file and the logs for inspection.
    #[arg(long)]
    keep: bool,

    /// Serve the proxy's web view and print its URL (not built yet: says so and goes on).
    #[arg(long)]
    ui: bool,

    /// Break an invariant on purpose, to show the verdict catches it. `ack-early`: the stream
    /// acknowledges WAL before its sink holds the events.
    #[arg(long, value_enum, hide = true)]
    sabotage: Option<Sabotage>,
}

/// What `--sabotage` breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Sabotage {
    /// The stream confirms WAL before the file holds the events.
    AckEarly,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// A job worker process of the demo (started by the demo itself).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

/// The options of a run, as the conductor needs them.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) seed: u64,
    pub(crate) json: bool,
    pub(crate) keep: bool,
    pub(crate) ui: bool,
    pub(crate) sabotage: Option<Sabotage>,
}

/// Whether these arguments run the demo itself (not one of its child processes): its own
/// logs are off unless RUST_LOG asks, so the progress display stays readable.
pub(crate) fn is_conductor(args: &DemoArgs) -> bool {
    args.role.is_none()
}

pub(crate) async fn run(args: DemoArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    if let Some(Role::Worker(worker)) = args.role {
        return worker::run(worker, shutdown).await;
    }
    anyhow::ensure!(
        args.duration >= Duration::from_secs(5),
        "--duration must be at least 5s, to leave room for one fault of each kind"
    );
    let options = Options {
        duration: args.duration,
        seed: args.seed,
        json: args.json,
        keep: args.keep,
        ui: args.ui,
        sabotage: args.sabotage,
    };
    conductor::run(options, shutdown).await
}
