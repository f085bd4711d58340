//! What a listener delivers: notifications, the start of each listening epoch, gaps where
//! notifications may have been missed, and deafness (LISTEN in force, nothing delivered).

use std::time::SystemTime;

/// A notification received on a channel the listener listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel it was sent on.
    pub channel: String,
    /// The payload (empty when none was given).
    pub payload: String,
    /// The process id of the backend that sent it.
    pub pid: i32,
    /// When the listener received it.
    pub at: SystemTime,
}

/// One event of a [`Listener`](super::Listener), in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// LISTEN is in force (again) for every channel and delivery was verified — a probe
    /// notification sent through another connection came back on this one — so every
    /// notification sent from now on is delivered, or a later [`Event::Gap`] or
    /// [`Event::Deaf`] says it may have been missed. `epoch` is 1 after the
    /// first connection and grows by one on every re-listen; when the consumer falls behind
    /// while the connection is lost more than once, only the newest epoch is reported.
    Listening {
        /// 1, 2, 3, ...
        epoch: u64,
        /// When LISTEN took effect (the probe was sent after it).
        at: SystemTime,
    },
    /// A notification.
    Notification(Notification),
    /// Notifications sent between `lost_at` and `relistened_at` may have been missed: the
    /// connection was lost and re-established (`reconnected`), or the consumer fell behind and
    /// the event buffer was full (`dropped` counts what was thrown away). Comes right after the
    /// [`Event::Listening`] of a re-listen, or as soon as the consumer has room again. Treat it
    /// as "anything may have changed" (reload what the notifications stand for).
    Gap {
        /// Notifications sent after this moment may be missing: the last sign of life of the
        /// lost connection, or when the first notification had to be dropped.
        lost_at: SystemTime,
        /// Delivery is complete again from this moment on.
        relistened_at: SystemTime,
        /// Notifications received but dropped because the consumer was behind.
        dropped: u64,
        /// The connection was lost and LISTEN re-established in between.
        reconnected: bool,
    },
    /// LISTEN "succeeded" but notifications do not arrive: a probe notification the listener
    /// sent itself (on a private channel, through another connection) did not come back
    /// within the keepalive. Typical cause: a pooler in transaction mode (pgbouncer
    /// `pool_mode = transaction`) runs LISTEN on a server connection that goes back to its
    /// pool. Treat it like a [`Event::Gap`] that is still open: notifications are being
    /// missed now (reload, and rely on polling). The listener keeps reconnecting and probing;
    /// when delivery works again, [`Event::Listening`] and a [`Event::Gap`] from `since`
    /// follow. Reported once per episode, within two keepalives of the delivery stopping.
    Deaf {
        /// Notifications sent after this moment may be missing: the send time of the last
        /// probe that came back, or when LISTEN took effect on a connection never heard.
        since: SystemTime,
        /// What the probe saw.
        reason: String,
        /// What to do about it.
        hint: String,
    },
}

/// What [`Event::Deaf`] suggests.
pub const DEAF_HINT: &str = "LISTEN needs a session: use pgbouncer pool_mode = session for this \
    user/database (or a session-mode pool for listeners), or connect the listener directly to \
    PostgreSQL";
