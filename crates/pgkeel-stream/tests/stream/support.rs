//! Running a stream into a channel sink and collecting its events in tests.

use std::sync::Arc;
use std::time::Duration;

use pgkeel_stream::{ChannelSink, Delivery, Error, Event, Progress, StreamConfig, Tables};
use pgkeel_testkit::{LIVENESS, eventually};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) use pgkeel_testkit::connect as client;

/// A stream running in the background into a channel sink.
pub(crate) struct Running {
    pub(crate) deliveries: mpsc::Receiver<Delivery>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) cancel: CancellationToken,
    pub(crate) task: JoinHandle<Result<(), Error>>,
}

/// A config for `url` that creates publication `slot` for `tables` and slot `slot`, with a
/// short status interval so tests see confirmations quickly.
pub(crate) fn config(url: &str, slot: &str, tables: &[&str]) -> StreamConfig {
    let mut config = StreamConfig::new(url, slot, slot).unwrap();
    config.spec.tables = Tables::List(tables.iter().map(|t| (*t).to_owned()).collect());
    config.spec.create = true;
    config.status_interval = Duration::from_millis(200);
    config.heartbeat = None;
    config
}

/// Starts a stream (sink: a channel of capacity 16).
pub(crate) fn start(config: StreamConfig) -> Running {
    let (sink, deliveries) = ChannelSink::new(16);
    let progress = Arc::new(Progress::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pgkeel_stream::run(
        config,
        Box::new(sink),
        Arc::clone(&progress),
        cancel.clone(),
    ));
    Running {
        deliveries,
        progress,
        cancel,
        task,
    }
}

impl Running {
    /// Acknowledges and collects events until `done` says the collection is complete.
    pub(crate) async fn collect_until(&mut self, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + LIVENESS;
        while !done(&events) {
            let delivery = tokio::time::timeout_at(deadline, self.deliveries.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out; got so far: {events:#?}"))
                .expect("the stream ended");
            events.extend(delivery.batch.events.iter().cloned());
            delivery.ack();
        }
        events
    }

    /// Collects exactly `n` events, then checks that nothing more arrives for a moment.
    pub(crate) async fn collect(&mut self, n: usize) -> Vec<Event> {
        let events = self.collect_until(|e| e.len() >= n).await;
        assert_eq!(events.len(), n, "more events than expected: {events:#?}");
        events
    }

    /// Stops the stream and returns its result.
    pub(crate) async fn stop(mut self) -> Result<(), Error> {
        self.cancel.cancel();
        // Keep acknowledging while it drains.
        let drain = async {
            while let Some(d) = self.deliveries.recv().await {
                d.ack();
            }
        };
        let task = self.task;
        let (result, ()) = tokio::join!(async { task.await.unwrap() }, drain);
        result
    }
}

/// Waits until the slot's confirmed position is at least `lsn`.
pub(crate) async fn wait_confirmed(
    client: &tokio_postgres::Client,
    slot: &str,
    lsn: pgkeel_stream::Lsn,
) {
    let what = format!("confirmed_flush_lsn of {slot} reaches {lsn}");
    eventually(&what, || async { confirmed(client, slot).await >= lsn }).await;
}

/// The slot's confirmed_flush_lsn.
pub(crate) async fn confirmed(client: &tokio_postgres::Client, slot: &str) -> pgkeel_stream::Lsn {
    let text: Option<String> = client
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .unwrap()
        .get(0);
    text.map_or(pgkeel_stream::Lsn::ZERO, |t| t.parse().unwrap())
}

/// Drops the slot once it is inactive (the stream has stopped and its walsender let go).
pub(crate) async fn drop_slot(client: &tokio_postgres::Client, slot: &str) {
    let what = format!("the slot {slot} can be dropped");
    eventually(&what, || async {
        client
            .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
            .await
            .is_ok()
    })
    .await;
}

/// The value of column `name` in the event's new row.
pub(crate) fn new_value<'e>(event: &'e Event, name: &str) -> &'e serde_json::Value {
    &event.new.as_ref().expect("a new row")[name]
}
