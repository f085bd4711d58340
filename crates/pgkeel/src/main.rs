//! The `pgkeel` command line: parses arguments, sets up logging and signal handling, and runs one
//! subcommand (each lives in `cmd/<name>.rs`, or `cmd/<name>/` when it has parts; argument
//! groups shared between them in `args/`).

mod args;
mod cli;
mod cmd;
mod http_client;
mod logging;
mod shutdown;
mod time_format;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let quiet = matches!(&cli.command, cli::Command::Demo(args) if cmd::demo::is_conductor(args));
    logging::init(cli.log_format, quiet);
    let threads = match &cli.command {
        cli::Command::Proxy(args) => Some(args.threads),
        _ => None,
    };
    let runtime = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .thread_name("pgkeel")
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("pgkeel")
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pgkeel: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = shutdown::on_signals()?;
        cmd::run(cli.command, shutdown).await
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgkeel: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
