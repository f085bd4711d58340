//! The listener's task: connect, hand the connection to a session, and after a loss retry with
//! exponential backoff and jitter (probing quickly while the server refuses connections) until
//! it listens again — or stop on a fatal error or when cancelled.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pgkeel_net::Database;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::command::{Command, Op};
use super::connect::{self, Failure};
use super::event::DEAF_HINT;
use super::outbox::Outbox;
use super::self_notify::Prober;
use super::session::{self, End};
use super::stats::Shared;
use crate::backoff::{Jitter, starting_up_delay};
use crate::config::PoolConfig;
use crate::error::{Error, Kind};
use crate::probe;

/// Everything the task owns.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) config: PoolConfig,
    /// `config.connector()`: the database with the connect timeout applied.
    pub(super) database: Database,
    /// The channels to listen to on the next connection (and on this one, once requests ran).
    pub(super) channels: BTreeSet<String>,
    pub(super) outbox: Outbox,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) commands_open: bool,
    pub(super) shared: Arc<Shared>,
    pub(super) cancel: CancellationToken,
    /// Event buffer size (also caps notifications held while LISTEN runs).
    pub(super) buffer: usize,
    /// The last epoch announced.
    pub(super) epoch: u64,
    /// Set after a listening connection was lost (its last sign of life) or went deaf (since
    /// when). The next Listening is followed by a Gap from there.
    pub(super) lost_at: Option<SystemTime>,
    /// The delivery probe's channel and sending connection.
    pub(super) prober: Prober,
}

impl Ctx {
    pub(super) fn new(
        config: PoolConfig,
        channels: BTreeSet<String>,
        outbox: Outbox,
        commands: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
        cancel: CancellationToken,
        buffer: usize,
    ) -> Self {
        let database = config.connector();
        Ctx {
            prober: Prober::new(&database),
            database,
            config,
            channels,
            outbox,
            commands,
            commands_open: true,
            shared,
            cancel,
            buffer,
            epoch: 0,
            lost_at: None,
        }
    }
}

/// Runs until cancelled or a fatal error; the consumer then sees the end of the events.
pub(super) async fn run(mut ctx: Ctx) {
    let fatal = supervise(&mut ctx).await;
    ctx.shared.not_listening();
    let end = match fatal {
        Some(error) => {
            ctx.shared.fail(error.clone());
            error
        }
        None => Error::new(Kind::ListenerStopped),
    };
    ctx.commands.close();
    while let Ok(command) = ctx.commands.try_recv() {
        command.answer(Err(end.clone()));
    }
    tracing::debug!(listener = %ctx.config.name, "listener stopped");
}

/// Connects, listens, and recovers; returns the fatal error, or `None` when cancelled.
async fn supervise(ctx: &mut Ctx) -> Option<Error> {
    let name = ctx.config.name.clone();
    let mut jitter = Jitter::new();
    let mut attempt: u32 = 0;
    let mut starting_attempt: u32 = 0;
    // Set once an intermediary answered for a stopped server: from then on the listener's
    // connection attempts are hedged (the first attempt of an outage is the one HAProxy holds).
    let mut behind_intermediary = false;
    loop {
        let connecting = async {
            let (database, classifier) = (&ctx.database, &ctx.config.classifier);
            match ctx.config.fast_probe.filter(|_| behind_intermediary) {
                Some(every) => {
                    crate::hedge::first_answer(|| connect::connect(database, classifier), every)
                        .await
                }
                None => connect::connect(database, classifier).await,
            }
        };
        let connected = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return None,
            connected = connecting => connected,
        };
        // Why this round failed, for the retry's log line (`None`: the loss was logged).
        let (cause, refused, starting, upstream_down) = match connected {
            Ok((client, connection)) => match session::run(ctx, client, connection).await {
                End::Stopped => return None,
                End::Fatal(error) => {
                    tracing::error!(listener = %name, error = %error, "listener gives up");
                    return Some(error);
                }
                End::Lost {
                    cause,
                    listened: true,
                } => {
                    attempt = 0;
                    tracing::warn!(
                        listener = %name,
                        epoch = ctx.epoch,
                        cause = %cause,
                        "listener connection lost; notifications may be missed until it listens again"
                    );
                    (None, false, false, false)
                }
                End::Lost {
                    cause,
                    listened: false,
                } => (Some(cause), false, false, false),
                End::Deaf { reason, since } => {
                    ctx.lost_at = Some(ctx.lost_at.map_or(since, |at| at.min(since)));
                    if ctx.shared.deaf() {
                        ctx.outbox.deaf(since, reason.clone(), DEAF_HINT);
                        tracing::error!(
                            listener = %name,
                            epoch = ctx.epoch,
                            cause = %reason,
                            hint = DEAF_HINT,
                            "listener is deaf: notifications are not delivered; reconnecting and \
                             probing until they are"
                        );
                        (None, false, false, false)
                    } else {
                        (Some(format!("still deaf: {reason}")), false, false, false)
                    }
                }
            },
            Err(Failure::Fatal(error)) => {
                tracing::error!(listener = %name, error = %error, "listener gives up");
                return Some(error);
            }
            Err(Failure::Retry {
                cause,
                refused,
                starting,
                upstream_down,
            }) => (Some(cause), refused, starting, upstream_down),
        };
        behind_intermediary |= upstream_down;
        attempt = attempt.saturating_add(1);
        let mut delay = ctx.config.backoff.delay(attempt, jitter.next());
        if starting {
            starting_attempt += 1;
            delay = delay.min(starting_up_delay(starting_attempt));
        } else {
            starting_attempt = 0;
        }
        // A pooler or proxy answering for a stopped server answers at once: ask it again at
        // the fast-probe cadence (a bare TCP probe would always succeed there).
        if let Some(every) = ctx.config.fast_probe.filter(|_| upstream_down) {
            delay = delay.min(every);
        }
        let probing = refused && ctx.config.fast_probe.is_some();
        let delay_ms = delay.as_millis() as u64;
        match cause {
            None => tracing::info!(listener = %name, attempt, delay_ms, "listener retry scheduled"),
            Some(cause) => tracing::warn!(
                listener = %name,
                attempt,
                delay_ms,
                fast_probe = probing,
                cause = %cause,
                "listener cannot connect and listen; retry scheduled"
            ),
        }
        if !wait(ctx, delay, probing).await {
            return None;
        }
    }
}

/// Waits `delay` (or until the fast probe finds the server accepting connections), applying
/// LISTEN/UNLISTEN requests to the channel set meanwhile. False when cancelled.
async fn wait(ctx: &mut Ctx, delay: Duration, probing: bool) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    let database = ctx.database.clone();
    let every = ctx.config.fast_probe.filter(|_| probing);
    let probe = async move {
        match every {
            Some(every) => probe::until_accepting(&database, every).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(probe);
    loop {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return false,
            () = &mut sleep => return true,
            () = &mut probe => {
                tracing::debug!(listener = %ctx.config.name, "the server accepts connections again");
                return true;
            }
            command = ctx.commands.recv(), if ctx.commands_open => match command {
                Some(command) => apply_offline(&mut ctx.channels, command),
                None => ctx.commands_open = false,
            },
        }
    }
}

/// While disconnected a request only changes the set the next connection listens to; the
/// Listening and Gap that follow the reconnect cover anything sent meanwhile.
fn apply_offline(channels: &mut BTreeSet<String>, command: Command) {
    match command.op {
        Op::Listen => channels.insert(command.channel.clone()),
        Op::Unlisten => channels.remove(&command.channel),
    };
    command.answer(Ok(()));
}
