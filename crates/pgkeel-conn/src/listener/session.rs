//! One connection's life: LISTEN to every channel, then read notifications, ping within the
//! keepalive, probe delivery with a notification sent to itself every keepalive, run
//! LISTEN/UNLISTEN requests and hand markers to the consumer when it has room — until the
//! connection is lost or deaf, the listener is stopped, or LISTEN fails for good.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, SimpleQueryMessage};

use pgkeel_wire::sql::quote_ident;

use super::command::{Command, Op};
use super::event::Notification;
use super::self_notify::Sending;
use super::task::Ctx;
use crate::class::ErrorClass;
use pgkeel_net::{PgConnection, describe_postgres};

use crate::error::{Error, Kind};

/// How a session ended.
#[derive(Debug)]
pub(super) enum End {
    /// Cancelled, or the consumer is gone.
    Stopped,
    /// The connection failed; `listened` when Listening was announced on it.
    Lost { cause: String, listened: bool },
    /// LISTEN is in force but the probe did not come back: nothing is delivered since `since`.
    Deaf { reason: String, since: SystemTime },
    /// LISTEN failed in a way retrying cannot fix.
    Fatal(Error),
}

type Request<'a> = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send + 'a>>;

/// Runs one connection until it ends. Listening is announced only once a probe came back.
pub(super) async fn run(ctx: &mut Ctx, client: Client, mut connection: PgConnection) -> End {
    let mut early = Vec::new();
    let backend_pid = match listen_all(ctx, &client, &mut connection, &mut early).await {
        Ok(pid) => pid,
        Err(end) => return end,
    };
    let listened_at = SystemTime::now();
    let mut heard = Heard {
        listened_at,
        backend_pid,
        early: Some(early),
    };
    let (end, last_alive) = serve(ctx, &client, &mut connection, &mut heard).await;
    let announced = heard.early.is_none();
    match end {
        End::Lost { .. } if announced => {
            ctx.lost_at = Some(last_alive);
            ctx.shared.lost();
        }
        End::Deaf { .. } => {}
        _ => ctx.shared.not_listening(),
    }
    end
}

/// What a connection holds until its first probe comes back.
struct Heard {
    /// When LISTEN took effect.
    listened_at: SystemTime,
    backend_pid: Option<i32>,
    /// Notifications received before the first probe came back; `None` once announced.
    early: Option<Vec<Notification>>,
}

/// The first probe came back: Listening (and the Gap since a loss or deafness), then what
/// arrived meanwhile.
fn announce(ctx: &mut Ctx, heard: &mut Heard) {
    let Some(early) = heard.early.take() else {
        return;
    };
    ctx.epoch += 1;
    let lost_at = ctx.lost_at.take();
    ctx.outbox.listening(ctx.epoch, heard.listened_at, lost_at);
    ctx.shared.listening(ctx.epoch);
    let was_deaf = ctx.shared.heard();
    match lost_at {
        None => tracing::info!(
            listener = %ctx.config.name,
            epoch = ctx.epoch,
            backend_pid = heard.backend_pid,
            channels = ctx.channels.len(),
            "listening (a probe notification came back)"
        ),
        Some(lost_at) => tracing::info!(
            listener = %ctx.config.name,
            epoch = ctx.epoch,
            backend_pid = heard.backend_pid,
            channels = ctx.channels.len(),
            gap_ms = heard.listened_at.duration_since(lost_at).unwrap_or_default().as_millis() as u64,
            "{}",
            if was_deaf {
                "notifications are delivered again; those sent while deaf were missed"
            } else {
                "relistening; notifications sent during the gap may have been missed"
            }
        ),
    }
    for notification in early {
        deliver(ctx, notification);
    }
}

/// Sends LISTEN for every channel and the probe's (and asks the backend's pid, for logs),
/// polling the connection meanwhile; notifications arriving before it completes are kept in
/// `early`.
async fn listen_all(
    ctx: &mut Ctx,
    client: &Client,
    connection: &mut PgConnection,
    early: &mut Vec<Notification>,
) -> Result<Option<i32>, End> {
    let keepalive = ctx.config.keepalive;
    let mut sql: String = ctx
        .channels
        .iter()
        .map(|c| format!("LISTEN {}; ", quote_ident(c)))
        .collect();
    sql.push_str(&format!("LISTEN {}; ", quote_ident(ctx.prober.channel())));
    sql.push_str("SELECT pg_backend_pid()");
    let query = client.simple_query(&sql);
    tokio::pin!(query);
    let deadline = tokio::time::sleep(keepalive);
    tokio::pin!(deadline);
    let result = loop {
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Err(End::Stopped),
            message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.channel() == ctx.prober.channel() {
                        continue;
                    }
                    let notification = convert(n);
                    if early.len() < ctx.buffer {
                        early.push(notification);
                    } else {
                        ctx.shared.received(true);
                        ctx.outbox.dropped(notification.at);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(lost(describe_postgres(&e), false)),
                None => return Err(lost(closed(), false)),
            },
            result = &mut query => break result,
            () = &mut deadline => {
                return Err(lost(Error::new(Kind::Stalled(keepalive)).to_string(), false));
            }
        }
    };
    match result {
        Ok(messages) => Ok(backend_pid(&messages)),
        Err(e) => match ctx.config.classifier.classify(&e) {
            ErrorClass::Statement | ErrorClass::Fatal => Err(End::Fatal(Error::postgres(
                ErrorClass::Fatal,
                format!(
                    "LISTEN failed on {}; retrying cannot help (check the channel names and the \
                     server's log)",
                    ctx.database.describe()
                ),
                e,
            ))),
            _ => Err(lost(describe_postgres(&e), false)),
        },
    }
}

/// A probe waiting to come back.
struct Awaiting {
    payload: String,
    sent_at: SystemTime,
    deadline: Instant,
    /// Why sending it failed, if it did.
    failed: Option<String>,
    /// Sent a second time after the first sending failed.
    resent: bool,
}

/// The main loop of a listening connection. Returns how it ended and its last sign of life.
async fn serve(
    ctx: &mut Ctx,
    client: &Client,
    connection: &mut PgConnection,
    heard: &mut Heard,
) -> (End, SystemTime) {
    let keepalive = ctx.config.keepalive;
    let mut last_alive = heard.listened_at;
    // A ping every half keepalive, and half a keepalive of silence while it is unanswered
    // means the link is lost: a link that goes silent right after a ping is noticed within
    // one keepalive.
    let interval = (keepalive / 2).max(Duration::from_millis(1));
    let mut next_ping = Instant::now() + interval;
    let mut ping: Option<Request<'_>> = None;
    let mut ping_deadline = Instant::now();
    // A probe at once, then one keepalive after each one sent; each must come back within a
    // keepalive, so deafness is noticed within two keepalives of its start.
    let mut next_probe = Instant::now();
    let mut sending: Option<Sending> = None;
    let mut awaiting: Option<Awaiting> = None;
    // Notifications are delivered since this moment (the send time of the last probe back).
    let mut heard_since = heard.listened_at;
    let mut request: Option<Request<'_>> = None;
    let mut requested: Option<Command> = None;
    let end = loop {
        let probe_deadline = awaiting.as_ref().map(|a| a.deadline);
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => break End::Stopped,
            message = poll_fn(|cx| connection.poll_message(cx)) => {
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => break lost(describe_postgres(&e), heard.early.is_none()),
                    None => break lost(closed(), heard.early.is_none()),
                };
                // The link is not silent: a ping stuck behind a flood of notifications gets
                // more time (a stall is silence, not a slow answer).
                last_alive = SystemTime::now();
                if ping.is_some() {
                    ping_deadline = Instant::now() + interval;
                }
                match message {
                    AsyncMessage::Notification(n) => {
                        // Behind a flood the probe queues up too: notifications arriving are
                        // not deafness.
                        if let Some(a) = awaiting.as_mut() {
                            a.deadline = a.deadline.max(Instant::now() + interval);
                        }
                        if n.channel() == ctx.prober.channel() {
                            if awaiting.as_ref().is_some_and(|a| a.payload == n.payload())
                                && let Some(a) = awaiting.take()
                            {
                                heard_since = a.sent_at;
                                ctx.shared.probed();
                                announce(ctx, heard);
                            }
                            continue;
                        }
                        let notification = convert(n);
                        match heard.early.as_mut() {
                            None => deliver(ctx, notification),
                            Some(early) if early.len() < ctx.buffer => early.push(notification),
                            Some(_) => {
                                ctx.shared.received(true);
                                ctx.outbox.dropped(notification.at);
                            }
                        }
                    }
                    AsyncMessage::Notice(notice) => tracing::debug!(
                        listener = %ctx.config.name,
                        severity = notice.severity(),
                        message = notice.message(),
                        "notice from the server"
                    ),
                    _ => {}
                }
            }
            result = maybe(&mut ping) => {
                ping = None;
                match result {
                    Ok(()) => {
                        last_alive = SystemTime::now();
                        next_ping = Instant::now() + interval;
                    }
                    Err(e) => break lost(describe_postgres(&e), heard.early.is_none()),
                }
            }
            () = tokio::time::sleep_until(ping_deadline), if ping.is_some() => {
                break lost(Error::new(Kind::Stalled(keepalive)).to_string(), heard.early.is_none());
            }
            () = tokio::time::sleep_until(next_ping), if ping.is_none() => {
                ping = Some(Box::pin(async move { client.simple_query("SELECT 1").await.map(|_| ()) }));
                ping_deadline = Instant::now() + interval;
            }
            result = maybe(&mut sending) => {
                sending = None;
                if let (Err(why), Some(a)) = (result, awaiting.as_mut()) {
                    tracing::debug!(listener = %ctx.config.name, cause = %why, "probe not sent");
                    // The sending connection may just have died with the server this
                    // connection replaced: one fresh attempt within the same deadline.
                    if !a.resent {
                        let (payload, send) = ctx.prober.send();
                        a.payload = payload;
                        a.resent = true;
                        sending = Some(send);
                    } else {
                        a.failed = Some(why);
                    }
                }
            }
            () = sleep_until_some(probe_deadline) => {
                // An unanswered ping decides first: silence is a lost link, not deafness.
                if ping.is_some() {
                    if let Some(a) = awaiting.as_mut() {
                        a.deadline = ping_deadline + Duration::from_millis(1);
                    }
                    continue;
                }
                let failed = awaiting.take().and_then(|a| a.failed);
                let reason = failed.unwrap_or_else(|| format!(
                    "LISTEN succeeded, but a notification sent to this listener through another \
                     connection did not arrive within {} ms: notifications are not delivered \
                     (a pooler in transaction mode?)",
                    keepalive.as_millis()
                ));
                break End::Deaf { reason, since: heard_since };
            }
            () = tokio::time::sleep_until(next_probe), if awaiting.is_none() => {
                let (payload, send) = ctx.prober.send();
                sending = Some(send);
                awaiting = Some(Awaiting {
                    payload,
                    sent_at: SystemTime::now(),
                    deadline: Instant::now() + keepalive,
                    failed: None,
                    resent: false,
                });
                next_probe = Instant::now() + keepalive;
            }
            result = maybe(&mut request) => {
                request = None;
                let Some(command) = requested.take() else { continue };
                match result {
                    Ok(()) => {
                        last_alive = SystemTime::now();
                        command.answer(Ok(()));
                    }
                    Err(e) => match ctx.config.classifier.classify(&e) {
                        ErrorClass::Statement | ErrorClass::Fatal => {
                            revert(ctx, &command);
                            let error = Error::postgres(
                                ErrorClass::Statement,
                                format!("{} {} failed", command.op.sql(), quote_ident(&command.channel)),
                                e,
                            );
                            command.answer(Err(error));
                        }
                        _ => {
                            // The set already holds the change: the next connection applies it,
                            // and the Gap after it covers anything sent meanwhile.
                            command.answer(Ok(()));
                            break lost(describe_postgres(&e), heard.early.is_none());
                        }
                    },
                }
            }
            command = ctx.commands.recv(), if request.is_none() && ctx.commands_open => match command {
                Some(command) => {
                    if let Some(sql) = apply(ctx, &command) {
                        request = Some(Box::pin(async move { client.batch_execute(&sql).await }));
                        requested = Some(command);
                    } else {
                        command.answer(Ok(()));
                    }
                }
                None => ctx.commands_open = false,
            },
            permit = ctx.outbox.reserve(), if ctx.outbox.has_pending() => match permit {
                Ok(permit) => ctx.outbox.send_pending(permit),
                Err(_) => break End::Stopped,
            },
        }
    };
    if let Some(command) = requested {
        match end {
            End::Lost { .. } | End::Deaf { .. } => command.answer(Ok(())),
            _ => command.answer(Err(Error::new(Kind::ListenerStopped))),
        }
    }
    (end, last_alive)
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Updates the channel set; returns the SQL to run, or `None` when nothing changes.
fn apply(ctx: &mut Ctx, command: &Command) -> Option<String> {
    let changed = match command.op {
        Op::Listen => ctx.channels.insert(command.channel.clone()),
        Op::Unlisten => ctx.channels.remove(&command.channel),
    };
    changed.then(|| format!("{} {}", command.op.sql(), quote_ident(&command.channel)))
}

/// Undoes [`apply`] after the server refused the request.
fn revert(ctx: &mut Ctx, command: &Command) {
    match command.op {
        Op::Listen => ctx.channels.remove(&command.channel),
        Op::Unlisten => ctx.channels.insert(command.channel.clone()),
    };
}

fn deliver(ctx: &mut Ctx, notification: Notification) {
    let dropped = ctx.outbox.notification(notification);
    ctx.shared.received(dropped);
}

fn convert(n: tokio_postgres::Notification) -> Notification {
    Notification {
        channel: n.channel().to_owned(),
        payload: n.payload().to_owned(),
        pid: n.process_id(),
        at: SystemTime::now(),
    }
}

fn lost(cause: String, listened: bool) -> End {
    End::Lost { cause, listened }
}

fn closed() -> String {
    "the server closed the connection".to_owned()
}

fn backend_pid(messages: &[SimpleQueryMessage]) -> Option<i32> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
        _ => None,
    })
}

/// The output of the request in `slot`, or never when there is none.
async fn maybe<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}
