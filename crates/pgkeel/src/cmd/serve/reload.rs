//! Single-flight reloads: requests set a dirty bit and wake one worker; a request that arrives
//! while a reload runs causes exactly one more reload afterwards — never a lost change, never a
//! pile-up (PostgREST #2791).

use std::sync::Mutex;

use tokio::sync::Notify;

/// What needs reloading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) config: bool,
    pub(crate) schema: bool,
}

/// The dirty bits and the wake-up.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Requests {
    /// Asks for a schema reload.
    pub(crate) fn schema(&self) {
        self.lock().schema = true;
        self.wake.notify_one();
    }

    /// Asks for a config reload (which is followed by a schema reload).
    pub(crate) fn config(&self) {
        let mut pending = self.lock();
        pending.config = true;
        pending.schema = true;
        drop(pending);
        self.wake.notify_one();
    }

    /// Waits until something is pending and takes it (clearing the bits).
    pub(crate) async fn next(&self) -> Pending {
        loop {
            let taken = std::mem::take(&mut *self.lock());
            if taken != Pending::default() {
                return taken;
            }
            self.wake.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_during_a_reload_coalesce_into_one_more() {
        let r = Requests::default();
        r.schema();
        r.schema();
        assert_eq!(
            r.next().await,
            Pending {
                config: false,
                schema: true
            }
        );
        // "During the reload": three more requests.
        r.schema();
        r.config();
        r.schema();
        assert_eq!(
            r.next().await,
            Pending {
                config: true,
                schema: true
            }
        );
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), r.next()).await;
        assert!(
            nothing.is_err(),
            "no reload pending after the coalesced one"
        );
    }
}
