//! A coalescing consumer for cache reloads: it keeps only the latest notification and a count,
//! but never loses the "something changed" bit — whatever arrives while the consumer is busy
//! makes the next `changed()` return at once (a change during a reload causes one more reload).

use super::event::{Event, Notification};
use super::handle::Listener;
use crate::error::Error;

/// What happened since the previous [`Coalescer::changed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// The newest notification received (with `gap`, newer ones may have been missed).
    pub latest: Option<Notification>,
    /// Notifications received.
    pub count: u64,
    /// Notifications may have been missed: LISTEN took effect (the first time, or again after a
    /// loss), or the consumer fell so far behind that some were dropped. Reload everything.
    pub gap: bool,
}

/// Turns a [`Listener`]'s events into "changed" signals, for cache reloads:
///
/// ```no_run
/// # async fn reload() {}
/// # async fn demo() -> Result<(), pgkeel_conn::Error> {
/// use pgkeel_conn::listener::{Coalescer, Listener, ListenerConfig};
/// use tokio_util::sync::CancellationToken;
///
/// let config = ListenerConfig::from_url("postgres://app@db/app")?.channel("schema_changed");
/// let mut changes = Coalescer::new(Listener::start(config, &CancellationToken::new())?);
/// loop {
///     // The first call returns once LISTEN took effect (gap: true): load the cache then, so
///     // no change can fall between the load and LISTEN.
///     let _change = changes.changed().await?;
///     reload().await; // a change made meanwhile makes the next call return at once
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Coalescer {
    listener: Listener,
}

impl Coalescer {
    /// Coalesces the events of `listener`.
    pub fn new(listener: Listener) -> Self {
        Coalescer { listener }
    }

    /// Waits until something arrived since the previous call (returns at once if it already
    /// has) and sums it up. Errors as [`Listener::recv`] does, once every event was taken.
    /// Cancel-safe.
    pub async fn changed(&mut self) -> Result<Change, Error> {
        let first = self.listener.recv().await?;
        let mut change = Change::default();
        change.absorb(first);
        // At most one buffer's worth, so a steady stream cannot keep the caller here.
        for _ in 0..self.listener.capacity() {
            match self.listener.try_recv() {
                Ok(Some(event)) => change.absorb(event),
                // The end (if any) is reported by the next call.
                Ok(None) | Err(_) => break,
            }
        }
        Ok(change)
    }

    /// The listener (for its counters, or to add channels).
    pub fn listener(&self) -> &Listener {
        &self.listener
    }

    /// The listener back.
    pub fn into_inner(self) -> Listener {
        self.listener
    }
}

impl Change {
    fn absorb(&mut self, event: Event) {
        match event {
            Event::Notification(notification) => {
                self.count += 1;
                self.latest = Some(notification);
            }
            Event::Listening { .. } | Event::Gap { .. } | Event::Deaf { .. } => self.gap = true,
        }
    }
}
