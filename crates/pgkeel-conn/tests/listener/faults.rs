//! Faults on the listener's own connection: killed by the proxy, terminated by the server,
//! stalled (a blackhole) until the rules change.

use std::time::{Duration, SystemTime};

use pgkeel_conn::listener::{Event, Listener};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_proxy::Proxy;
use pgkeel_testkit::{connect, listener_config, proxy_to, until};
use tokio_util::sync::CancellationToken;

use super::support::{next, next_listening, next_notification, notify};

/// The proxy's id of the listener's connection (application_name `listener`).
fn listener_connection(proxy: &Proxy) -> Option<u64> {
    proxy
        .connections()
        .into_iter()
        .find(|c| c.application_name.as_deref() == Some("listener"))
        .map(|c| c.id)
}

/// The next event must be a Gap after a reconnect; returns its window.
async fn next_gap(listener: &mut Listener) -> (SystemTime, SystemTime) {
    match next(listener).await {
        Event::Gap {
            lost_at,
            relistened_at,
            reconnected: true,
            dropped: 0,
        } => {
            assert!(lost_at <= relistened_at);
            (lost_at, relistened_at)
        }
        other => panic!("expected a Gap after a reconnect, got {other:?}"),
    }
}

#[tokio::test]
async fn a_killed_connection_is_relistened_with_a_gap() {
    let db = TestDatabase::new();
    let proxy = proxy_to(db.cluster().port()).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?application_name=listener",
        proxy.port().unwrap(),
        db.name()
    );
    let mut listener = Listener::start(
        listener_config(&url).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    let sender = connect(&db.url()).await;
    notify(&sender, "jobs", "before").await;
    assert_eq!(next_notification(&mut listener).await.payload, "before");

    // Closed under it by the proxy (both sides).
    let id = listener_connection(&proxy).unwrap();
    assert!(proxy.kill_connection(id));
    assert_eq!(next_listening(&mut listener).await, 2);
    next_gap(&mut listener).await;
    notify(&sender, "jobs", "after kill").await;
    assert_eq!(next_notification(&mut listener).await.payload, "after kill");

    // Terminated by the server (FATAL 57P01, then closed).
    let terminated: bool = sender
        .query_one(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'listener' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(terminated);
    assert_eq!(next_listening(&mut listener).await, 3);
    next_gap(&mut listener).await;
    notify(&sender, "jobs", "after terminate").await;
    assert_eq!(
        next_notification(&mut listener).await.payload,
        "after terminate"
    );
    let stats = listener.stats();
    assert_eq!((stats.epoch, stats.losses, stats.dropped), (3, 2, 0));
}

#[tokio::test]
async fn a_stalled_link_is_noticed_and_relistened_when_it_clears() {
    let db = TestDatabase::new();
    let proxy = proxy_to(db.cluster().port()).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?application_name=listener",
        proxy.port().unwrap(),
        db.name()
    );
    // Silence is noticed without a closed socket, within the keepalive.
    let mut config = listener_config(&url).channel("jobs");
    config.connection.keepalive = Duration::from_secs(1);
    let mut listener = Listener::start(config, &CancellationToken::new()).unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    let sender = connect(&db.url()).await;

    proxy
        .set_rules(r#"conn.where(application_name="^listener$").fromServer().stall()"#)
        .unwrap();
    until("the listener noticed the stall", || {
        listener.stats().losses == 1
    })
    .await;
    assert!(!listener.stats().listening);
    // Sent while the listener cannot hear: missed, and inside the Gap's window.
    let missed_at = SystemTime::now();
    notify(&sender, "jobs", "missed").await;

    proxy.set_rules("conn.allow()").unwrap();
    assert_eq!(next_listening(&mut listener).await, 2);
    let (lost_at, relistened_at) = next_gap(&mut listener).await;
    assert!(lost_at <= missed_at && missed_at <= relistened_at);
    notify(&sender, "jobs", "heard").await;
    assert_eq!(next_notification(&mut listener).await.payload, "heard");
}
