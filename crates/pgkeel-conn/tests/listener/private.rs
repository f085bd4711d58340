//! Tests with a cluster of their own: the server stopped and started, crashed and restarted;
//! a wrong password.

use std::collections::BTreeSet;

use pgkeel_conn::listener::{Event, Listener};
use pgkeel_embedded::harness::private_cluster;
use pgkeel_testkit::{connect, listener_config, proxy_to, until, within};
use tokio_util::sync::CancellationToken;

use super::support::{next, next_listening, next_notification, notify};

async fn expect_reconnect_gap(listener: &mut Listener) {
    match next(listener).await {
        Event::Gap {
            reconnected: true, ..
        } => {}
        other => panic!("expected a Gap after a reconnect, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_resume_after_the_server_stops_and_starts_or_crashes() {
    let cluster = private_cluster().start().unwrap();
    let url = cluster.url();
    let mut listener = Listener::start(
        listener_config(&url).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);

    tokio::task::block_in_place(|| cluster.stop()).unwrap();
    until("the listener noticed the shutdown", || {
        !listener.stats().listening
    })
    .await;
    tokio::task::block_in_place(|| cluster.start()).unwrap();
    assert_eq!(next_listening(&mut listener).await, 2);
    expect_reconnect_gap(&mut listener).await;
    let sender = connect(&url).await;
    notify(&sender, "jobs", "after restart").await;
    assert_eq!(
        next_notification(&mut listener).await.payload,
        "after restart"
    );
    drop(sender);

    tokio::task::block_in_place(|| cluster.kill()).unwrap();
    tokio::task::block_in_place(|| cluster.start()).unwrap();
    assert_eq!(next_listening(&mut listener).await, 3);
    expect_reconnect_gap(&mut listener).await;
    let sender = connect(&url).await;
    notify(&sender, "jobs", "after crash").await;
    assert_eq!(
        next_notification(&mut listener).await.payload,
        "after crash"
    );
    assert_eq!(listener.stats().losses, 2);
}

#[tokio::test]
async fn a_wrong_password_is_fatal_after_one_attempt() {
    let cluster = private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    let proxy = proxy_to(cluster.port()).await;
    let url = format!(
        "postgres://app:wrong@127.0.0.1:{}/postgres",
        proxy.port().unwrap()
    );
    let mut listener = Listener::start(
        listener_config(&url).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    let err = within("the fatal error", listener.recv())
        .await
        .unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert_eq!(err.code(), Some("28P01"));
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("check the user name and password"), "{text}");
    assert!(!text.contains("wrong"), "the password leaked: {text}");
    // The task is gone (the events ended), after exactly one connection attempt.
    let attempts: BTreeSet<u64> = proxy.recording().iter().map(|r| r.conn).collect();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(listener.stats().epoch, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_while_listening_is_fatal_at_the_reconnect() {
    let cluster = private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    let url = format!(
        "postgres://app:secret@127.0.0.1:{}/postgres?application_name=listener",
        cluster.port()
    );
    let mut listener = Listener::start(
        listener_config(&url).channel("jobs"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(next_listening(&mut listener).await, 1);
    tokio::task::block_in_place(|| {
        cluster.admin_query(
            "ALTER ROLE app PASSWORD 'rotated'; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'listener'",
        )
    })
    .unwrap();
    let err = within("the fatal error", listener.recv())
        .await
        .unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert_eq!(err.code(), Some("28P01"));
    let stats = listener.stats();
    assert_eq!((stats.epoch, stats.losses, stats.listening), (1, 1, false));
}
