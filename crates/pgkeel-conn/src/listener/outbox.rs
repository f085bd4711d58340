//! Delivery to the consumer through a bounded channel. Notifications never wait for room: when
//! the buffer is full they are dropped and counted. The markers (Listening, Gap) wait until
//! there is room, merged so they take constant memory, and every notification after them waits
//! behind them — so the consumer always learns, in order, that something may have been missed.

use std::future::Future;
use std::time::SystemTime;

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::mpsc::{OwnedPermit, Sender};

use super::event::{Event, Notification};

/// The sending side of a listener's events.
#[derive(Debug)]
pub(super) struct Outbox {
    tx: Sender<Event>,
    listening: Option<(u64, SystemTime)>,
    gap: Option<GapMark>,
    deaf: Option<DeafMark>,
}

/// A deafness not yet delivered (one per episode).
#[derive(Debug, Clone)]
struct DeafMark {
    /// When it was noticed (orders it against a pending Listening).
    noticed: SystemTime,
    since: SystemTime,
    reason: String,
    hint: String,
}

/// A gap not yet delivered; several merge into one.
#[derive(Debug, Clone, Copy)]
struct GapMark {
    lost_at: SystemTime,
    relistened_at: SystemTime,
    dropped: u64,
    reconnected: bool,
}

impl GapMark {
    fn merge(self, other: GapMark) -> GapMark {
        GapMark {
            lost_at: self.lost_at.min(other.lost_at),
            relistened_at: self.relistened_at.max(other.relistened_at),
            dropped: self.dropped.saturating_add(other.dropped),
            reconnected: self.reconnected || other.reconnected,
        }
    }
}

impl Outbox {
    pub(super) fn new(tx: Sender<Event>) -> Self {
        Outbox {
            tx,
            listening: None,
            gap: None,
            deaf: None,
        }
    }

    /// True while a marker waits for room.
    pub(super) fn has_pending(&self) -> bool {
        self.listening.is_some() || self.gap.is_some() || self.deaf.is_some()
    }

    /// Delivery stopped (see [`Event::Deaf`]); noticed now.
    pub(super) fn deaf(&mut self, since: SystemTime, reason: String, hint: &str) {
        self.deaf = Some(DeafMark {
            noticed: SystemTime::now(),
            since,
            reason,
            hint: hint.to_owned(),
        });
        self.try_flush();
    }

    /// LISTEN took effect at `at` for `epoch`; after a loss noticed at `lost_at`, a Gap follows.
    pub(super) fn listening(&mut self, epoch: u64, at: SystemTime, lost_at: Option<SystemTime>) {
        self.listening = Some((epoch, at));
        if let Some(lost_at) = lost_at {
            self.add_gap(GapMark {
                lost_at,
                relistened_at: at,
                dropped: 0,
                reconnected: true,
            });
        }
        self.try_flush();
    }

    /// Delivers a notification, or drops it when the consumer is behind. True when dropped.
    pub(super) fn notification(&mut self, notification: Notification) -> bool {
        self.try_flush();
        let at = notification.at;
        if !self.has_pending() {
            match self.tx.try_send(Event::Notification(notification)) {
                Ok(()) => return false,
                Err(TrySendError::Closed(_)) => return false,
                Err(TrySendError::Full(_)) => {}
            }
        }
        self.dropped(at);
        true
    }

    /// Records a notification received at `at` and dropped; the next Gap reports it.
    pub(super) fn dropped(&mut self, at: SystemTime) {
        self.add_gap(GapMark {
            lost_at: at,
            relistened_at: at,
            dropped: 1,
            reconnected: false,
        });
    }

    /// Waits for room for one event (the consumer's end may be gone: `Err`).
    pub(super) fn reserve(
        &self,
    ) -> impl Future<Output = Result<OwnedPermit<Event>, SendError<()>>> + Send + use<> {
        self.tx.clone().reserve_owned()
    }

    /// Sends the next marker into the room `permit` holds.
    pub(super) fn send_pending(&mut self, permit: OwnedPermit<Event>) {
        if let Some(event) = take_next(&mut self.listening, &mut self.gap, &mut self.deaf) {
            permit.send(event);
        }
    }

    /// Sends markers while there is room.
    fn try_flush(&mut self) {
        while self.has_pending() {
            let Ok(permit) = self.tx.try_reserve() else {
                return;
            };
            if let Some(event) = take_next(&mut self.listening, &mut self.gap, &mut self.deaf) {
                permit.send(event);
            }
        }
    }

    fn add_gap(&mut self, mark: GapMark) {
        self.gap = Some(match self.gap {
            Some(gap) => gap.merge(mark),
            None => mark,
        });
    }
}

/// Listening first (it opens the epoch the gap is reported in), then the gap; a deafness
/// noticed before the pending Listening goes before it, one noticed after it goes last.
fn take_next(
    listening: &mut Option<(u64, SystemTime)>,
    gap: &mut Option<GapMark>,
    deaf: &mut Option<DeafMark>,
) -> Option<Event> {
    let deaf_first = match (&*deaf, &*listening) {
        (Some(d), Some((_, at))) => d.noticed <= *at,
        (Some(_), None) => gap.is_none(),
        (None, _) => false,
    };
    if deaf_first && let Some(d) = deaf.take() {
        return Some(Event::Deaf {
            since: d.since,
            reason: d.reason,
            hint: d.hint,
        });
    }
    if let Some((epoch, at)) = listening.take() {
        return Some(Event::Listening { epoch, at });
    }
    if let Some(g) = gap.take() {
        return Some(Event::Gap {
            lost_at: g.lost_at,
            relistened_at: g.relistened_at,
            dropped: g.dropped,
            reconnected: g.reconnected,
        });
    }
    deaf.take().map(|d| Event::Deaf {
        since: d.since,
        reason: d.reason,
        hint: d.hint,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    fn note(payload: &str, at: SystemTime) -> Notification {
        Notification {
            channel: "c".into(),
            payload: payload.into(),
            pid: 1,
            at,
        }
    }

    #[test]
    fn a_full_buffer_drops_then_reports_one_gap_before_anything_newer() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut outbox = Outbox::new(tx);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let at = |s: u64| t0 + Duration::from_secs(s);
        outbox.listening(1, at(0), None);
        assert!(!outbox.notification(note("a", at(1))));
        assert!(outbox.notification(note("b", at(2))));
        assert!(outbox.notification(note("c", at(3))));
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::Listening { epoch: 1, .. })
        ));
        assert!(matches!(rx.try_recv(), Ok(Event::Notification(n)) if n.payload == "a"));
        // Room again: the gap goes first, the notification arriving now is kept.
        assert!(!outbox.notification(note("d", at(4))));
        assert_eq!(
            rx.try_recv().ok(),
            Some(Event::Gap {
                lost_at: at(2),
                relistened_at: at(3),
                dropped: 2,
                reconnected: false
            })
        );
        assert!(matches!(rx.try_recv(), Ok(Event::Notification(n)) if n.payload == "d"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn markers_of_several_losses_merge_while_the_consumer_is_behind() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = Outbox::new(tx);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let at = |s: u64| t0 + Duration::from_secs(s);
        outbox.listening(1, at(0), None);
        outbox.listening(2, at(5), Some(at(4)));
        assert!(outbox.notification(note("x", at(6))));
        outbox.listening(3, at(9), Some(at(8)));
        assert!(outbox.has_pending());
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::Listening { epoch: 1, .. })
        ));
        outbox.try_flush();
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::Listening { epoch: 3, .. })
        ));
        outbox.try_flush();
        assert_eq!(
            rx.try_recv().ok(),
            Some(Event::Gap {
                lost_at: at(4),
                relistened_at: at(9),
                dropped: 1,
                reconnected: true
            })
        );
        assert!(!outbox.has_pending());
    }
}
