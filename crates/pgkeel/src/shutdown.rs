//! Process-wide shutdown: SIGINT or SIGTERM cancels one token that every long-running task
//! watches; a second signal exits at once.

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit code after a second signal (128 + SIGINT), as shells report an interrupted command.
const FORCED_EXIT: i32 = 130;

/// Registers the signal handlers and returns the token they cancel.
pub(crate) fn on_signals() -> anyhow::Result<CancellationToken> {
    let mut interrupt = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(
            signal = name,
            "shutting down (send the signal again to exit at once)"
        );
        cancel.cancel();
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        eprintln!("pgkeel: second signal, exiting without cleanup");
        std::process::exit(FORCED_EXIT);
    });
    Ok(token)
}
