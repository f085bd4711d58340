//! Jobs of expired sessions: rescued (by `rescue` or by a worker on its own) and run by
//! another session; a worker whose session expires stops.

use std::time::Duration;

use pgkeel_work::queue::{NewJob, Queue, Worker, rescue};
use serde_json::json;

use pgkeel_testkit::{eventually, within};

use super::support::{Runs, pool, scalar, session, setup, worker_config};

async fn expire(c: &tokio_postgres::Client, session: i64) {
    c.execute(
        "UPDATE pgkeel_work.sessions SET deadline = now() - interval '1 second' WHERE id = $1",
        &[&session],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn jobs_of_an_expired_session_are_rescued_and_run_by_another() {
    let db = setup().await;
    let c = &db.client;
    let queue = Queue::new();
    let jobs = [NewJob::new("a", json!(null)), NewJob::new("b", json!(null))];
    let ids: Vec<i64> = queue
        .enqueue_batch(c, &jobs)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let crashed = session(c, 3600.0).await;
    assert_eq!(
        queue.claim(c, crashed, "default", 10).await.unwrap().len(),
        2
    );
    assert_eq!(rescue(c).await.unwrap(), 0, "the session is alive");
    expire(c, crashed).await;
    assert_eq!(rescue(c).await.unwrap(), 2);
    assert_eq!(rescue(c).await.unwrap(), 0);
    let row = c
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'available' AND locked_by IS NULL \
             AND attempts = 1) FROM pgkeel_work.jobs",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    // The crashed session's late results change nothing.
    assert_eq!(queue.complete(c, crashed, &ids).await.unwrap(), 0);
    let runs = Runs::default();
    let recorded = runs.clone();
    let mut config = worker_config("default");
    config.rescue = None;
    let worker = Worker::start(
        pool(&db.url),
        session(c, 3600.0).await,
        config,
        move |job| {
            recorded.record(job.id);
            std::future::ready(if job.attempts == 2 {
                Ok(())
            } else {
                Err(format!("expected the second attempt, got {}", job.attempts))
            })
        },
    )
    .unwrap();
    eventually("the rescued jobs ran", || async {
        scalar::<i64>(c, "SELECT count(*) FROM pgkeel_work.jobs").await == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    assert!(ids.iter().all(|id| runs.of(*id) == 1));
}

#[tokio::test]
async fn a_worker_rescues_jobs_by_itself() {
    let db = setup().await;
    let c = &db.client;
    let queue = Queue::new();
    let id = queue
        .enqueue(c, &NewJob::new("a", json!(null)))
        .await
        .unwrap()
        .unwrap();
    let crashed = session(c, 3600.0).await;
    queue.claim(c, crashed, "default", 1).await.unwrap();
    expire(c, crashed).await;
    let runs = Runs::default();
    let recorded = runs.clone();
    let mut config = worker_config("default");
    config.rescue = Some(Duration::from_millis(100));
    config.poll = Duration::from_millis(100);
    let worker = Worker::start(
        pool(&db.url),
        session(c, 3600.0).await,
        config,
        move |job| {
            recorded.record(job.id);
            std::future::ready(Ok(()))
        },
    )
    .unwrap();
    eventually("the rescued job ran", || async { runs.of(id) == 1 }).await;
    worker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_worker_stops_when_its_session_expires() {
    let db = setup().await;
    let c = &db.client;
    let pool = pool(&db.url);
    // Noticed by the worker itself: its claim finds the session expired.
    let s = session(c, 3600.0).await;
    let worker = Worker::start(pool.clone(), s, worker_config("default"), |_| {
        std::future::ready(Ok(()))
    })
    .unwrap();
    expire(c, s).await;
    Queue::new()
        .enqueue(c, &NewJob::new("a", json!(null)))
        .await
        .unwrap();
    let error = within("the worker stops", worker.join()).await.unwrap_err();
    assert!(error.is_session_expired(), "{error}");
    let state: String = scalar(c, "SELECT state FROM pgkeel_work.jobs").await;
    assert_eq!(state, "available");
    // Told by the session's owner through the token.
    let mut config = worker_config("default");
    config.poll = Duration::from_secs(60);
    let s = session(c, 3600.0).await;
    let expired = config.session_expired.clone();
    let worker = Worker::start(pool, s, config, |_| std::future::ready(Ok(()))).unwrap();
    expired.cancel();
    let error = within("the worker stops", worker.join()).await.unwrap_err();
    assert!(error.is_session_expired(), "{error}");
}
