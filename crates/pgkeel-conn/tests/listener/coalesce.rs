//! The coalescer: one "changed" per burst with a count, a gap bit that is never lost, and no
//! change missed while the consumer was busy.

use pgkeel_conn::listener::{Change, Coalescer, Listener};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{connect, listener_config, until, within};
use tokio_util::sync::CancellationToken;

use super::support::notify;

async fn changed(coalescer: &mut Coalescer) -> Change {
    within("a change", coalescer.changed())
        .await
        .expect("the listener runs")
}

#[tokio::test]
async fn the_first_change_is_a_gap_and_a_burst_coalesces_with_its_gap() {
    let db = TestDatabase::new();
    let listener = Listener::start(
        listener_config(&db.url()).channel("cache").buffer(4),
        &CancellationToken::new(),
    )
    .unwrap();
    let mut coalescer = Coalescer::new(listener);
    // LISTEN took effect: nothing is known about earlier changes.
    let first = changed(&mut coalescer).await;
    assert_eq!((first.gap, first.count, first.latest), (true, 0, None));

    let sender = connect(&db.url()).await;
    sender
        .batch_execute("SELECT pg_notify('cache', i::text) FROM generate_series(1, 50) i")
        .await
        .unwrap();
    until("the listener received all 50", || {
        coalescer.listener().stats().notifications == 50
    })
    .await;
    // Four fit in the buffer, 46 were dropped: the consumer must still learn it missed some.
    let mut total = 0;
    let mut gap = false;
    let mut latest = None;
    while !gap {
        let change = changed(&mut coalescer).await;
        total += change.count;
        gap = change.gap;
        latest = change.latest.or(latest);
    }
    assert_eq!(total, 4);
    assert_eq!(latest.unwrap().payload, "4");
    assert_eq!(coalescer.listener().stats().dropped, 46);

    // Nothing else is pending: the next change is exactly the next notification.
    notify(&sender, "cache", "next").await;
    let change = changed(&mut coalescer).await;
    assert_eq!((change.count, change.gap), (1, false));
    assert_eq!(change.latest.unwrap().payload, "next");
}

#[tokio::test]
async fn changes_made_while_the_consumer_is_busy_are_never_missed() {
    let db = TestDatabase::new();
    let listener = Listener::start(
        listener_config(&db.url()).channel("cache"),
        &CancellationToken::new(),
    )
    .unwrap();
    let mut coalescer = Coalescer::new(listener);
    assert!(changed(&mut coalescer).await.gap);
    let sender = connect(&db.url()).await;

    for round in 0..3 {
        // The consumer is "reloading" while these are made.
        for i in 0..3 {
            notify(&sender, "cache", &format!("r{round}-{i}")).await;
        }
        until("the listener received the round", || {
            coalescer.listener().stats().notifications == (round + 1) * 3
        })
        .await;
        let change = changed(&mut coalescer).await;
        assert_eq!((change.count, change.gap), (3, false), "round {round}");
        assert_eq!(change.latest.unwrap().payload, format!("r{round}-2"));
    }

    // A change made while nobody waits makes the next call return with it.
    notify(&sender, "cache", "late").await;
    let change = changed(&mut coalescer).await;
    assert_eq!(change.latest.unwrap().payload, "late");
}
