//! The `Listener` handle: start the task, receive its events, add or remove channels at run
//! time, read its counters; dropping it stops the task.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::command::{Command, Op};
use super::config::{ListenerConfig, check_channel};
use super::event::Event;
use super::outbox::Outbox;
use super::stats::{ListenerStats, Shared};
use super::task::{self, Ctx};
use crate::error::{Error, Kind};

/// Requests waiting for the task (LISTEN/UNLISTEN at run time).
const COMMAND_QUEUE: usize = 16;

/// LISTEN on a connection of its own that notices loss by itself (closed connection, or no
/// answer within the keepalive), reconnects with backoff and jitter, listens again and says
/// when notifications may have been missed — or cannot arrive at all (`Deaf`, e.g. behind a
/// transaction-pooling pgbouncer).
///
/// ```no_run
/// # async fn demo() -> Result<(), pgkeel_conn::Error> {
/// use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
/// use tokio_util::sync::CancellationToken;
///
/// let config = ListenerConfig::from_url("postgres://app@db/app")?.channel("jobs");
/// let mut listener = Listener::start(config, &CancellationToken::new())?;
/// loop {
///     match listener.recv().await? {
///         Event::Listening { epoch, .. } => println!("listening (epoch {epoch})"),
///         Event::Notification(n) => println!("{}: {}", n.channel, n.payload),
///         Event::Gap { .. } => println!("notifications may have been missed: reload"),
///         Event::Deaf { hint, .. } => println!("notifications cannot arrive: {hint}"),
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Listener {
    /// Checks `config` and starts listening in a task of the current tokio runtime. The first
    /// event is [`Event::Listening`] with epoch 1 once LISTEN took effect (or, from
    /// [`Listener::recv`], the fatal error that stopped it). The task stops when `shutdown` is
    /// cancelled, on [`Listener::stop`], or when the handle is dropped.
    pub fn start(config: ListenerConfig, shutdown: &CancellationToken) -> Result<Listener, Error> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config("Listener::start must be called from within a tokio runtime")
        })?;
        let (events_tx, events) = mpsc::channel(config.buffer);
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let stop = shutdown.child_token();
        let shared = Arc::new(Shared::new(&config.connection.name));
        let channels: BTreeSet<String> = config.channels.into_iter().collect();
        let ctx = Ctx::new(
            config.connection,
            channels,
            Outbox::new(events_tx),
            commands_rx,
            Arc::clone(&shared),
            stop.clone(),
            config.buffer,
        );
        runtime.spawn(task::run(ctx));
        Ok(Listener {
            events,
            commands,
            shared,
            stop,
        })
    }

    /// The next event. After the last one: the fatal error that stopped the listener
    /// ([`Error::is_fatal`]), or an error for which [`Error::is_stopped`] is true when it was
    /// stopped. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Event, Error> {
        match self.events.recv().await {
            Some(event) => Ok(event),
            None => Err(self.end()),
        }
    }

    /// The next event if one is waiting; `Ok(None)` when none is; the error as in
    /// [`Listener::recv`] once the listener has stopped and every event was received.
    pub fn try_recv(&mut self) -> Result<Option<Event>, Error> {
        match self.events.try_recv() {
            Ok(event) => Ok(Some(event)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(self.end()),
        }
    }

    /// Listens to `channel` as well, on this connection and every later one. When it returns,
    /// every notification on `channel` is delivered, or a later [`Event::Gap`] says it may
    /// have been missed.
    pub async fn listen(&self, channel: &str) -> Result<(), Error> {
        self.request(Op::Listen, channel).await
    }

    /// Stops listening to `channel`.
    pub async fn unlisten(&self, channel: &str) -> Result<(), Error> {
        self.request(Op::Unlisten, channel).await
    }

    /// How many events are buffered for the consumer at most.
    pub fn capacity(&self) -> usize {
        self.events.max_capacity()
    }

    /// The listener's counters.
    pub fn stats(&self) -> ListenerStats {
        self.shared.snapshot()
    }

    /// Stops the listener (as dropping it does); events already buffered can still be
    /// received.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    async fn request(&self, op: Op, channel: &str) -> Result<(), Error> {
        check_channel(channel)?;
        let (reply, answer) = oneshot::channel();
        let command = Command {
            op,
            channel: channel.to_owned(),
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return Err(self.end());
        }
        answer.await.unwrap_or_else(|_| Err(self.end()))
    }

    fn end(&self) -> Error {
        self.shared
            .failure()
            .unwrap_or_else(|| Error::new(Kind::ListenerStopped))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
