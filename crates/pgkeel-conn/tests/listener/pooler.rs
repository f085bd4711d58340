//! The listener behind a real pgbouncer: in session mode notifications are delivered and it is
//! never deaf; in transaction mode LISTEN "succeeds" and nothing is delivered, which the
//! delivery probe reports as deafness instead of a silent, healthy-looking listener.

use std::time::Duration;

use pgkeel_conn::listener::{DEAF_HINT, Event, Listener};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{Pgbouncer, PoolMode, connect, listener_config, proxy_to, until};
use tokio_util::sync::CancellationToken;

use super::support::{next, next_listening, next_notification, notify};

const KEEPALIVE: Duration = Duration::from_millis(500);

#[tokio::test]
async fn session_mode_delivers_and_is_never_deaf() {
    let db = TestDatabase::new();
    let bouncer = Pgbouncer::start(db.cluster().port(), PoolMode::Session);
    let mut config = listener_config(&bouncer.url(db.name())).channel("jobs");
    config.connection.keepalive = KEEPALIVE;
    let mut listener = Listener::start(config, &CancellationToken::new()).unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    let sender = connect(&db.url()).await;
    notify(&sender, "jobs", "through pgbouncer").await;
    assert_eq!(
        next_notification(&mut listener).await.payload,
        "through pgbouncer"
    );
    // Several probe rounds later: still no other event, never deaf.
    until("probes came back", || listener.stats().probes >= 4).await;
    assert_eq!(listener.try_recv().unwrap(), None);
    let stats = listener.stats();
    assert!(stats.listening && !stats.deaf, "{stats:?}");
    assert_eq!((stats.deaf_episodes, stats.notifications), (0, 1));
}

#[tokio::test]
async fn transaction_mode_is_reported_deaf_and_never_listening() {
    let db = TestDatabase::new();
    let bouncer = Pgbouncer::start(db.cluster().port(), PoolMode::Transaction);
    let mut config = listener_config(&bouncer.url(db.name())).channel("jobs");
    config.connection.keepalive = KEEPALIVE;
    let mut listener = Listener::start(config, &CancellationToken::new()).unwrap();
    match next(&mut listener).await {
        Event::Deaf { reason, hint, .. } => {
            assert!(reason.contains("did not arrive"), "{reason}");
            assert_eq!(hint, DEAF_HINT);
            assert!(hint.contains("pool_mode = session"), "{hint}");
        }
        other => panic!("expected Deaf first, got {other:?}"),
    }
    let stats = listener.stats();
    assert!(stats.deaf && !stats.listening, "{stats:?}");
    assert_eq!((stats.epoch, stats.deaf_episodes), (0, 1));
    let sender = connect(&db.url()).await;
    notify(&sender, "jobs", "unheard").await;
    assert_eq!(listener.try_recv().unwrap(), None);
}

/// A listener that worked and then stops hearing (the proxy swallows every notification) is
/// reported deaf; once delivery works again it says so with Listening and a Gap.
#[tokio::test]
async fn deafness_later_is_noticed_and_its_end_is_a_gap() {
    let db = TestDatabase::new();
    let proxy = proxy_to(db.cluster().port()).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?application_name=listener",
        proxy.port().unwrap(),
        db.name()
    );
    let mut config = listener_config(&url).channel("jobs");
    config.connection.keepalive = KEEPALIVE;
    let mut listener = Listener::start(config, &CancellationToken::new()).unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);

    proxy
        .set_rules("conn.onNotificationResponse().drop()")
        .unwrap();
    let since = match next(&mut listener).await {
        Event::Deaf { since, .. } => since,
        other => panic!("expected Deaf, got {other:?}"),
    };
    assert!(listener.stats().deaf);
    let sender = connect(&db.url()).await;
    notify(&sender, "jobs", "missed").await;

    proxy.set_rules("conn.allow()").unwrap();
    assert_eq!(next_listening(&mut listener).await, 2);
    match next(&mut listener).await {
        Event::Gap {
            lost_at,
            reconnected: true,
            ..
        } => assert_eq!(lost_at, since),
        other => panic!("expected a Gap from the deafness, got {other:?}"),
    }
    let stats = listener.stats();
    assert!(!stats.deaf && stats.listening, "{stats:?}");
    notify(&sender, "jobs", "heard").await;
    assert_eq!(next_notification(&mut listener).await.payload, "heard");
}
