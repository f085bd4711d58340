//! Helpers for listener tests: a notifying client, bounded waits for the next event.

use pgkeel_conn::listener::{Event, Listener, Notification};
use pgkeel_testkit::LIVENESS;

/// Sends a notification; returns the sender's backend pid.
pub(crate) async fn notify(client: &tokio_postgres::Client, channel: &str, payload: &str) -> i32 {
    client
        .query_one(
            "SELECT pg_notify($1, $2), pg_backend_pid()",
            &[&channel, &payload],
        )
        .await
        .unwrap()
        .get(1)
}

/// The next event (the listener's task must produce it).
pub(crate) async fn next(listener: &mut Listener) -> Event {
    match tokio::time::timeout(LIVENESS, listener.recv()).await {
        Ok(Ok(event)) => event,
        Ok(Err(e)) => panic!("the listener stopped: {e}"),
        Err(_) => panic!("no event: {:?}", listener.stats()),
    }
}

/// The next event, which must be a notification.
pub(crate) async fn next_notification(listener: &mut Listener) -> Notification {
    match next(listener).await {
        Event::Notification(n) => n,
        other => panic!("expected a notification, got {other:?}"),
    }
}

/// The next event, which must be Listening; returns its epoch.
pub(crate) async fn next_listening(listener: &mut Listener) -> u64 {
    match next(listener).await {
        Event::Listening { epoch, .. } => epoch,
        other => panic!("expected Listening, got {other:?}"),
    }
}
