//! Enqueueing wakes workers with one notification per queue and transaction, sent on commit.

use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
use pgkeel_work::queue::{CHANNEL, NewJob, Queue};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use pgkeel_testkit::{connect, within};

use super::support::setup;

#[tokio::test]
async fn one_notification_per_queue_and_transaction_on_commit() {
    let db = setup().await;
    let stop = CancellationToken::new();
    let config = ListenerConfig::from_url(&db.url).unwrap().channel(CHANNEL);
    let mut listener = Listener::start(config, &stop).unwrap();
    within("listening", async {
        loop {
            if let Event::Listening { .. } = listener.recv().await.unwrap() {
                break;
            }
        }
    })
    .await;
    let queue = Queue::new();
    let mut client = connect(&db.url).await;
    // Rolled back: no notification.
    let tx = client.transaction().await.unwrap();
    queue
        .enqueue(&tx, &NewJob::new("x", json!(null)).queue("gone"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // Committed: five jobs on two queues, in one transaction.
    let tx = client.transaction().await.unwrap();
    for _ in 0..3 {
        queue
            .enqueue(&tx, &NewJob::new("x", json!(null)).queue("q"))
            .await
            .unwrap();
    }
    queue
        .enqueue_batch(
            &tx,
            &[
                NewJob::new("x", json!(null)).queue("q"),
                NewJob::new("x", json!(null)).queue("r"),
            ],
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    client
        .execute("SELECT pg_notify($1, 'end')", &[&CHANNEL])
        .await
        .unwrap();
    let mut payloads = Vec::new();
    within("the end marker", async {
        loop {
            match listener.recv().await.unwrap() {
                Event::Notification(n) if n.payload == "end" => break,
                Event::Notification(n) => payloads.push(n.payload),
                other => panic!("unexpected event {other:?}"),
            }
        }
    })
    .await;
    payloads.sort();
    assert_eq!(payloads, ["q", "r"]);
    // A plain enqueue outside a transaction notifies too.
    queue
        .enqueue(&db.client, &NewJob::new("x", json!(null)).queue("s"))
        .await
        .unwrap();
    let n = within("the notification of a plain enqueue", async {
        loop {
            if let Event::Notification(n) = listener.recv().await.unwrap() {
                break n;
            }
        }
    })
    .await;
    assert_eq!(n.payload, "s");
}
