//! One module per subcommand (`<name>.rs`, or `<name>/mod.rs` with its parts beside it);
//! `run` dispatches.

pub(crate) mod demo;
pub(crate) mod fault;
pub(crate) mod listen;
pub(crate) mod postgres;
pub(crate) mod proxy;
pub(crate) mod serve;
pub(crate) mod stream;
pub(crate) mod work;

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::Command;

/// Runs `command` until it finishes or `shutdown` is cancelled.
pub(crate) async fn run(command: Command, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args, shutdown).await,
        Command::Postgres(args) => postgres::run(args, shutdown).await,
        Command::Proxy(args) => proxy::run(args, shutdown).await,
        Command::Fault(args) => fault::run(args, shutdown).await,
        Command::Listen(args) => listen::run(args, shutdown).await,
        Command::Serve(args) => serve::run(args, shutdown).await,
        Command::Stream(args) => stream::run(args, shutdown).await,
        Command::Work(args) => work::run(args, shutdown).await,
    }
}
