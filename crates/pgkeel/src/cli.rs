//! Command-line definition: global options and the list of subcommands.

use clap::{Parser, Subcommand};

use crate::cmd::demo::DemoArgs;
use crate::cmd::fault::FaultArgs;
use crate::cmd::listen::ListenArgs;
use crate::cmd::postgres::PostgresArgs;
use crate::cmd::proxy::ProxyArgs;
use crate::cmd::serve::ServeArgs;
use crate::cmd::stream::StreamArgs;
use crate::cmd::work::WorkArgs;
use crate::logging::LogFormat;

/// Keep Postgres-backed services working, and consistent, when the database connection fails —
/// and prove it by injecting the failures.
#[derive(Debug, Parser)]
#[command(name = "pgkeel", version, propagate_version = true)]
#[command(
    after_help = "Logging: set RUST_LOG (e.g. RUST_LOG=debug or RUST_LOG=pgkeel=trace) to \
                        choose what is logged; logs go to stderr."
)]
pub(crate) struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "PGKEEL_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

// Built once per process and matched at once: boxing the variants that hold a parsed
// `Database` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    // The help text lives on DemoArgs, beside the command.
    #[allow(missing_docs)]
    Demo(DemoArgs),
    // The help text lives on PostgresArgs, beside the command.
    #[allow(missing_docs)]
    Postgres(PostgresArgs),
    #[allow(missing_docs)]
    Proxy(ProxyArgs),
    #[allow(missing_docs)]
    Fault(FaultArgs),
    #[allow(missing_docs)]
    Listen(ListenArgs),
    #[allow(missing_docs)]
    Serve(ServeArgs),
    #[allow(missing_docs)]
    Stream(StreamArgs),
    #[allow(missing_docs)]
    Work(WorkArgs),
}
