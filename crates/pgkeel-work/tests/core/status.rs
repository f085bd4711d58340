//! `status`: one snapshot of sessions, work, backoffs, history and queue depth, typed; a
//! database that was never migrated is told apart from other errors.

use std::time::Duration;

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::connect;
use pgkeel_work::WorkBackoff;
use pgkeel_work::history::Event;
use pgkeel_work::queue::{NewJob, Queue};

use super::support::{session, setup, these};

#[tokio::test]
async fn a_database_without_the_schema_says_so() {
    let db = TestDatabase::new();
    let mut client = connect(&db.url()).await;
    let error = pgkeel_work::status(&mut client).await.unwrap_err();
    assert!(error.is_schema_missing(), "{error}");
    assert!(error.to_string().contains("pgkeel work migrate"), "{error}");
}

#[tokio::test]
async fn status_shows_what_the_tables_hold() {
    let db = TestDatabase::new();
    let (pool, mut client) = setup(&db).await;
    let empty = pgkeel_work::status(&mut client).await.unwrap();
    assert_eq!(
        empty.schema_version,
        pgkeel_work::migrate::MIGRATIONS.last().unwrap().0
    );
    assert!(empty.sessions.is_empty() && empty.work.is_empty() && empty.queues.is_empty());

    let worker = session(&pool, "status-test", Duration::from_secs(30)).await;
    let held = worker
        .work("install", these(&["m1"]))
        .await
        .unwrap()
        .unwrap();
    let failed = worker
        .work("install", these(&["m2"]))
        .await
        .unwrap()
        .unwrap();
    let backoff = WorkBackoff::new(Duration::from_secs(60), Duration::from_secs(600), 2.0);
    failed.fail(Some(&backoff), "disk full").await.unwrap();
    Queue::new()
        .enqueue(
            &client,
            &NewJob::new("send", serde_json::json!({})).queue("mail"),
        )
        .await
        .unwrap();

    let status = pgkeel_work::status(&mut client).await.unwrap();
    assert_eq!(status.sessions.len(), 1);
    let s = &status.sessions[0];
    assert_eq!(
        (s.id, s.component.as_str(), s.alive),
        (worker.id(), "status-test", true)
    );
    assert!(s.deadline > s.started_at);
    assert_eq!(status.work.len(), 1);
    assert_eq!(
        (status.work[0].target.as_str(), status.work[0].session_id),
        (held.target(), worker.id())
    );
    assert_eq!(status.backoffs.len(), 1);
    let b = &status.backoffs[0];
    assert_eq!(
        (
            b.target.as_str(),
            b.cause.as_str(),
            b.last_interval_s,
            b.active
        ),
        ("m2", "disk full", 60, true)
    );
    let events: Vec<(Event, &str)> = status
        .history
        .iter()
        .map(|h| (h.event, h.target.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            (Event::Failed, "m2"),
            (Event::Started, "m2"),
            (Event::Started, "m1")
        ],
        "newest first"
    );
    assert_eq!(status.queues.len(), 1);
    let q = &status.queues[0];
    assert_eq!(
        (q.queue.as_str(), q.state.as_str(), q.jobs, q.scheduled),
        ("mail", "available", 1, 0)
    );
    assert!(q.oldest_due_age_s.is_some_and(|age| age >= 0.0), "{q:?}");
}
