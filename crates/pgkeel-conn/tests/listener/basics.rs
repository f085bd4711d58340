//! The listener on a healthy database: notifications, channels at run time, a slow consumer,
//! a missing database, stopping.

use pgkeel_conn::listener::{Event, Listener};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{connect, eventually, listener_config, until, within};
use tokio_util::sync::CancellationToken;

use super::support::{next, next_listening, next_notification, notify};

#[tokio::test]
async fn notifications_arrive_with_channel_payload_and_pid() {
    let db = TestDatabase::new();
    let odd = "Mixed \"Case\" chan";
    let mut listener = Listener::start(
        listener_config(&db.url()).channel("jobs").channel(odd),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);

    let sender = connect(&db.url()).await;
    let pid = notify(&sender, "jobs", "one").await;
    notify(&sender, "not_listened", "ignored").await;
    notify(&sender, odd, "two").await;
    notify(&sender, "jobs", "").await;

    let got: Vec<(String, String, i32)> = [
        next_notification(&mut listener).await,
        next_notification(&mut listener).await,
        next_notification(&mut listener).await,
    ]
    .into_iter()
    .map(|n| (n.channel, n.payload, n.pid))
    .collect();
    assert_eq!(
        got,
        vec![
            ("jobs".into(), "one".into(), pid),
            (odd.into(), "two".into(), pid),
            ("jobs".into(), "".into(), pid),
        ]
    );
    let stats = listener.stats();
    assert_eq!((stats.epoch, stats.listening), (1, true));
    assert_eq!(
        (stats.notifications, stats.dropped, stats.losses),
        (3, 0, 0)
    );
}

#[tokio::test]
async fn channels_can_be_added_and_removed_at_run_time() {
    let db = TestDatabase::new();
    let mut listener = Listener::start(
        listener_config(&db.url()).channel("a"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    let sender = connect(&db.url()).await;

    listener.listen("b").await.unwrap();
    notify(&sender, "b", "first").await;
    assert_eq!(next_notification(&mut listener).await.payload, "first");

    listener.unlisten("a").await.unwrap();
    notify(&sender, "a", "unheard").await;
    notify(&sender, "b", "second").await;
    let n = next_notification(&mut listener).await;
    assert_eq!((n.channel.as_str(), n.payload.as_str()), ("b", "second"));

    let err = listener.listen("").await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("must not be empty"), "{err}");
}

#[tokio::test]
async fn a_slow_consumer_gets_a_gap_instead_of_unbounded_memory() {
    let db = TestDatabase::new();
    let mut listener = Listener::start(
        listener_config(&db.url()).channel("burst").buffer(4),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    let sender = connect(&db.url()).await;
    sender
        .batch_execute("SELECT pg_notify('burst', i::text) FROM generate_series(1, 20) i")
        .await
        .unwrap();
    until("the listener received all 20", || {
        listener.stats().notifications == 20
    })
    .await;

    for expected in ["1", "2", "3", "4"] {
        assert_eq!(next_notification(&mut listener).await.payload, expected);
    }
    match next(&mut listener).await {
        Event::Gap {
            lost_at,
            relistened_at,
            dropped,
            reconnected,
        } => {
            assert_eq!((dropped, reconnected), (16, false));
            assert!(lost_at <= relistened_at);
        }
        other => panic!("expected a Gap, got {other:?}"),
    }
    assert_eq!(listener.stats().dropped, 16);
    notify(&sender, "burst", "after").await;
    assert_eq!(next_notification(&mut listener).await.payload, "after");
}

#[tokio::test]
async fn a_missing_database_is_fatal_at_once() {
    let db = TestDatabase::new();
    let url = db.cluster().url_for("no_such_database");
    let mut listener = Listener::start(
        listener_config(&url).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    let err = within("the fatal error", listener.recv())
        .await
        .unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert_eq!(err.code(), Some("3D000"));
    assert!(err.to_string().contains("check the database name"), "{err}");
    assert_eq!(listener.stats().epoch, 0);
    // The end is sticky, and requests get the same answer.
    assert_eq!(listener.recv().await.unwrap_err().code(), Some("3D000"));
    assert_eq!(
        listener.listen("x").await.unwrap_err().code(),
        Some("3D000")
    );
}

#[tokio::test]
async fn cancelling_stops_it_and_dropping_closes_its_connection() {
    let db = TestDatabase::new();
    let url = format!("{}?application_name=stopping", db.url());
    let shutdown = CancellationToken::new();
    let mut listener = Listener::start(listener_config(&url).channel("jobs"), &shutdown).unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    shutdown.cancel();
    let err = within("the end after cancelling", listener.recv())
        .await
        .unwrap_err();
    assert!(err.is_stopped(), "{err}");
    assert!(!listener.stats().listening);

    let mut dropped = Listener::start(
        listener_config(&format!("{}?application_name=dropping", db.url())).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut dropped).await, 1);
    let sessions = connect(&db.url()).await;
    let count = |name: &'static str| {
        let sessions = &sessions;
        async move {
            sessions
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&name],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    assert_eq!(count("dropping").await, 1);
    drop(dropped);
    eventually("the listeners' connections are closed", || async {
        count("dropping").await == 0 && count("stopping").await == 0
    })
    .await;
}
