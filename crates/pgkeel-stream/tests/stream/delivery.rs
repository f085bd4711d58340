//! Delivery: the slot is confirmed only after the sink acknowledged; a restart resumes from
//! the slot; a quiet publication still lets the slot advance; setup errors are fatal.

use std::time::Duration;

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::{Lsn, ReplicationConnection};
use pgkeel_testkit::{eventually, until, within};

use super::changes::wait_slot;
use super::support::{client, config, confirmed, drop_slot, start, wait_confirmed};

async fn current_lsn(sql: &tokio_postgres::Client) -> Lsn {
    let text: String = sql
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    text.parse().unwrap()
}

/// The write position of the slot's walsender, as its last status update reported it.
async fn written(sql: &tokio_postgres::Client, slot: &str) -> Lsn {
    let text: Option<String> = sql
        .query_opt(
            "SELECT r.write_lsn::text FROM pg_stat_replication r \
             JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1",
            &[&slot],
        )
        .await
        .unwrap()
        .and_then(|r| r.get(0));
    text.map_or(Lsn::ZERO, |t| t.parse().unwrap())
}

#[tokio::test]
async fn the_slot_is_confirmed_only_after_the_sink_acknowledged() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut stream = start(config(&db.url(), "s_ack", &["t"]));
    wait_slot(&sql, "s_ack").await;
    sql.batch_execute("INSERT INTO t VALUES (1)").await.unwrap();
    let after_insert = current_lsn(&sql).await;
    let delivery = within("the first delivery", stream.deliveries.recv())
        .await
        .unwrap();
    let end = delivery.batch.end_lsn;
    assert!(end <= after_insert && !end.is_zero());
    // Several status updates go out while the sink holds the batch unacknowledged, and the
    // server has processed one sent after the data arrived (it reports having written it).
    let sent = stream.progress.snapshot().status_updates;
    until("three more status updates are sent", || {
        stream.progress.snapshot().status_updates >= sent + 3
    })
    .await;
    eventually(
        "the server has a status update from after the delivery",
        || async { written(&sql, "s_ack").await >= end },
    )
    .await;
    assert!(
        confirmed(&sql, "s_ack").await < end,
        "confirmed before the sink acknowledged"
    );
    assert!(
        stream.progress.snapshot().confirmed < end,
        "reported as flushed before the sink acknowledged"
    );
    delivery.ack();
    wait_confirmed(&sql, "s_ack", end).await;
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_ack").await;
}

#[tokio::test]
async fn a_restarted_stream_resumes_after_what_was_acknowledged() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut stream = start(config(&db.url(), "s_resume", &["t"]));
    wait_slot(&sql, "s_resume").await;
    sql.batch_execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    let first = stream.collect(2).await;
    stream.stop().await.unwrap();
    sql.batch_execute("INSERT INTO t VALUES (3)").await.unwrap();
    // Second run: no --create needed, the slot and publication exist.
    let mut again = config(&db.url(), "s_resume", &["t"]);
    again.spec.create = false;
    let mut stream = start(again);
    let second = stream.collect(1).await;
    assert_eq!(
        second[0].new.as_ref().unwrap()["id"],
        3,
        "{first:#?} then {second:#?}"
    );
    assert!(second[0].commit_lsn > first[1].commit_lsn);
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_resume").await;
}

#[tokio::test]
async fn the_slot_advances_while_the_published_tables_are_quiet() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE watched (id int PRIMARY KEY); CREATE TABLE busy (x int)")
        .await
        .unwrap();
    let mut cfg = config(&db.url(), "s_idle", &["watched"]);
    cfg.heartbeat = Some(Duration::from_millis(200));
    let stream = start(cfg);
    wait_slot(&sql, "s_idle").await;
    sql.batch_execute("INSERT INTO busy SELECT generate_series(1, 10000)")
        .await
        .unwrap();
    let grown = current_lsn(&sql).await;
    wait_confirmed(&sql, "s_idle", grown).await;
    assert_eq!(stream.progress.snapshot().events, 0);
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_idle").await;
}

#[tokio::test]
async fn a_missing_slot_or_publication_is_fatal_without_create() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
        .await
        .unwrap();
    let mut cfg = config(&db.url(), "no_such_slot", &["t"]);
    cfg.spec.publication = "p".to_owned();
    cfg.spec.create = false;
    let error = start(cfg).task.await.unwrap().unwrap_err();
    assert!(error.is_fatal());
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(error.to_string().contains("--create"), "{error}");
    let mut cfg = config(&db.url(), "some_slot", &["t"]);
    cfg.spec.publication = "no_such_publication".to_owned();
    cfg.spec.create = false;
    let error = start(cfg).task.await.unwrap().unwrap_err();
    assert!(
        error.is_fatal() && error.to_string().contains("no_such_publication"),
        "{error}"
    );
}

#[tokio::test]
async fn a_dropped_slot_while_streaming_stops_with_a_fatal_error() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut cfg = config(&db.url(), "s_dropped", &["t"]);
    // Reconnect late enough that the slot is surely gone by then.
    cfg.backoff.base = Duration::from_secs(2);
    cfg.backoff.jitter = 0.0;
    let stream = start(cfg);
    wait_slot(&sql, "s_dropped").await;
    // Terminate the walsender and drop the slot before the stream reconnects: the drop waits
    // for the slot to be released and takes it first (the stream retries only after 2 s).
    let mut dropper = ReplicationConnection::connect(&crate::client::config(&db.url()))
        .await
        .unwrap();
    sql.batch_execute(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 's_dropped'",
    )
    .await
    .unwrap();
    dropper.drop_slot("s_dropped", true).await.unwrap();
    let error = within("the stream stops", stream.task)
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.is_fatal(), "{error}");
    assert!(error.to_string().contains("s_dropped"), "{error}");
}

#[tokio::test]
async fn stop_at_ends_the_stream_once_everything_up_to_it_is_delivered() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    sql.batch_execute("CREATE PUBLICATION s_stop FOR TABLE t")
        .await
        .unwrap();
    sql.batch_execute("SELECT pg_create_logical_replication_slot('s_stop', 'pgoutput')")
        .await
        .unwrap();
    sql.batch_execute("INSERT INTO t SELECT generate_series(1, 1000)")
        .await
        .unwrap();
    let end = current_lsn(&sql).await;
    let mut cfg = config(&db.url(), "s_stop", &["t"]);
    cfg.spec.create = false;
    cfg.stop_at = Some(end);
    let mut stream = start(cfg);
    let events = stream.collect(1000).await;
    assert_eq!(events.len(), 1000);
    // It ends by itself (no cancel), having confirmed at least `end`.
    let result = within("the stream ends at stop_at", &mut stream.task).await;
    result.unwrap().unwrap();
    assert!(confirmed(&sql, "s_stop").await >= end);
    drop_slot(&sql, "s_stop").await;
}
