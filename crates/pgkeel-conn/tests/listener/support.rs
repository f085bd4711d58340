//! Helpers for listener tests: configs with short timings, a notifying client, bounded waits
//! for the next event or a condition.

use std::time::Duration;

use pgkeel_conn::Backoff;
use pgkeel_conn::listener::{Event, Listener, ListenerConfig, Notification};
use pgkeel_proxy::{Address, Proxy, ProxyConfig};

/// Bounded waits in tests are liveness guards, never speed checks.
pub(crate) const LIVENESS: Duration = Duration::from_secs(30);

/// A listener config with test-friendly timings. The keepalive stays at its default (5 s) so a
/// busy machine is not mistaken for a stalled link; stall tests shorten it.
pub(crate) fn config(url: &str) -> ListenerConfig {
    let mut config = ListenerConfig::from_url(url).unwrap();
    config.connection.name = "test".into();
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        jitter: 0.3,
    };
    config
}

/// A proxy in front of the cluster listening on `port`.
pub(crate) async fn proxy_to(port: u16) -> Proxy {
    Proxy::start(ProxyConfig::new(Address::tcp("127.0.0.1", port)))
        .await
        .unwrap()
}

/// A client that sends notifications (and runs other SQL) on a direct connection.
pub(crate) async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

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

/// Waits until `pred` holds, checking every 10 ms.
pub(crate) async fn eventually(what: &str, mut pred: impl FnMut() -> bool) {
    let wait = async {
        while !pred() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(LIVENESS, wait).await.is_err() {
        panic!("never happened: {what}");
    }
}
