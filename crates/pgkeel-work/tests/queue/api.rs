//! The queue's statements one by one: enqueue (one, batch, in a transaction), claim order,
//! `run_at`, unique keys, complete, fail with backoff and quarantine, expired sessions.

use std::time::{Duration, SystemTime};

use pgkeel_conn::Backoff;
use pgkeel_work::queue::{NewJob, Queue};
use serde_json::json;

use pgkeel_testkit::{connect, within};

use super::support::{scalar, session, setup};

#[tokio::test]
async fn enqueue_claim_complete() {
    let db = setup().await;
    let c = &db.client;
    let owner = session(c, 3600.0).await;
    let other = session(c, 3600.0).await;
    let queue = Queue::new();
    let id = queue
        .enqueue(
            c,
            &NewJob::new("resize", json!({"image": 7})).queue("media"),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        queue
            .claim(c, owner, "default", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let jobs = queue.claim(c, owner, "media", 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (job.id, job.kind.as_str(), job.queue.as_str()),
        (id, "resize", "media")
    );
    assert_eq!(job.payload, json!({"image": 7}));
    assert_eq!((job.attempts, job.max_attempts), (1, 25));
    let row = c
        .query_one(
            "SELECT state, locked_by, locked_at IS NOT NULL FROM pgkeel_work.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "running");
    assert_eq!(row.get::<_, Option<i64>>(1), Some(owner));
    assert!(row.get::<_, bool>(2));
    // Nothing more to claim while it runs; another session cannot complete it.
    assert!(queue.claim(c, other, "media", 10).await.unwrap().is_empty());
    assert_eq!(queue.complete(c, other, &[id]).await.unwrap(), 0);
    assert_eq!(queue.complete(c, owner, &[id]).await.unwrap(), 1);
    assert_eq!(
        scalar::<i64>(c, "SELECT count(*) FROM pgkeel_work.jobs").await,
        0
    );
    assert_eq!(queue.complete(c, owner, &[id]).await.unwrap(), 0);
}

#[tokio::test]
async fn claim_order_is_priority_then_run_at_then_id() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let queue = Queue::new();
    let ago = |secs| SystemTime::now() - Duration::from_secs(secs);
    let mut ids = Vec::new();
    for (name, priority, run_at) in [
        ("a", 0, ago(10)),
        ("b", 5, ago(1)),
        ("c", 5, ago(5)),
        ("d", -1, ago(20)),
        ("e", 5, ago(5)),
    ] {
        let job = NewJob::new(name, json!(null))
            .priority(priority)
            .run_at(run_at);
        ids.push(queue.enqueue(c, &job).await.unwrap().unwrap());
    }
    let first_two: Vec<String> = queue
        .claim(c, s, "default", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(first_two, ["c", "e"]);
    let mut rest = Vec::new();
    while let Some(job) = queue.claim(c, s, "default", 1).await.unwrap().pop() {
        rest.push(job.kind);
    }
    assert_eq!(rest, ["b", "a", "d"]);
}

#[tokio::test]
async fn a_future_run_at_is_not_claimed_until_due() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let queue = Queue::new();
    let later = SystemTime::now() + Duration::from_secs(3600);
    let id = queue
        .enqueue(c, &NewJob::new("later", json!(null)).run_at(later))
        .await
        .unwrap()
        .unwrap();
    assert!(queue.claim(c, s, "default", 10).await.unwrap().is_empty());
    c.execute(
        "UPDATE pgkeel_work.jobs SET run_at = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    let jobs = queue.claim(c, s, "default", 10).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);
}

#[tokio::test]
async fn a_unique_key_dedups_while_available_or_running() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let queue = Queue::new();
    let keyed = |key: &str| NewJob::new("sync", json!({"key": key})).unique_key(key);
    let first = queue.enqueue(c, &keyed("k")).await.unwrap().unwrap();
    assert_eq!(queue.enqueue(c, &keyed("k")).await.unwrap(), None);
    // Another queue has keys of its own.
    assert!(
        queue
            .enqueue(c, &keyed("k").queue("other"))
            .await
            .unwrap()
            .is_some()
    );
    let claimed = queue.claim(c, s, "default", 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        queue.enqueue(c, &keyed("k")).await.unwrap(),
        None,
        "running"
    );
    queue.complete(c, s, &[first]).await.unwrap();
    let second = queue.enqueue(c, &keyed("k")).await.unwrap().unwrap();
    assert_ne!(second, first);
    // A quarantined job does not hold its key.
    let poison = queue
        .enqueue(c, &keyed("poison").queue("p").max_attempts(1))
        .await
        .unwrap()
        .unwrap();
    queue.claim(c, s, "p", 1).await.unwrap();
    let failed = queue.fail(c, s, &[(poison, "bad".into())]).await.unwrap();
    assert_eq!(failed.quarantined, [poison]);
    assert!(
        queue
            .enqueue(c, &keyed("poison").queue("p"))
            .await
            .unwrap()
            .is_some()
    );
    // In a batch: the first job with a key wins, a key already queued is refused.
    let ids = queue
        .enqueue_batch(
            c,
            &[
                keyed("k2"),
                keyed("k2"),
                NewJob::new("plain", json!(null)),
                keyed("k"),
            ],
        )
        .await
        .unwrap();
    assert!(ids[0].is_some() && ids[1].is_none() && ids[2].is_some() && ids[3].is_none());
    let in_db: i64 = c
        .query_one(
            "SELECT count(*) FROM pgkeel_work.jobs WHERE id = ANY($1)",
            &[&ids.iter().flatten().copied().collect::<Vec<i64>>()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_db, 2);
}

#[tokio::test]
async fn a_failed_job_is_retried_after_backoff_then_quarantined() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let queue = Queue::with_retry(Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        jitter: 0.0,
    });
    let id = queue
        .enqueue(c, &NewJob::new("flaky", json!(null)).max_attempts(2))
        .await
        .unwrap()
        .unwrap();
    let job = queue
        .claim(c, s, "default", 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((job.attempts, job.is_last_attempt()), (1, false));
    let failed = queue.fail(c, s, &[(id, "boom 1".into())]).await.unwrap();
    assert_eq!(failed.retried.len(), 1);
    assert!(failed.quarantined.is_empty());
    assert_eq!(
        job_row(c, id).await,
        ("available".to_owned(), 1, Some("boom 1".to_owned()), None)
    );
    let job = within("the failed job is due again", async {
        loop {
            if let Some(job) = queue.claim(c, s, "default", 1).await.unwrap().pop() {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!((job.id, job.attempts, job.is_last_attempt()), (id, 2, true));
    assert_eq!(job.last_error.as_deref(), Some("boom 1"));
    let failed = queue.fail(c, s, &[(id, "boom 2".into())]).await.unwrap();
    assert_eq!(failed.quarantined, [id]);
    assert_eq!(
        job_row(c, id).await,
        ("quarantined".to_owned(), 2, Some("boom 2".to_owned()), None)
    );
    assert!(queue.claim(c, s, "default", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_backoff_doubles_up_to_its_cap_with_jitter_below() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let queue = Queue::with_retry(Backoff {
        base: Duration::from_secs(100),
        cap: Duration::from_secs(250),
        jitter: 0.5,
    });
    let id = queue
        .enqueue(c, &NewJob::new("slow", json!(null)))
        .await
        .unwrap()
        .unwrap();
    for (attempt, full) in [(1, 100.0), (2, 200.0), (3, 250.0), (4, 250.0)] {
        c.execute(
            "UPDATE pgkeel_work.jobs SET run_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
        let job = queue
            .claim(c, s, "default", 1)
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(job.attempts, attempt);
        queue
            .fail(c, s, &[(id, format!("try {attempt}"))])
            .await
            .unwrap();
        let delay: f64 = scalar(
            c,
            "SELECT extract(epoch FROM run_at - now())::float8 FROM pgkeel_work.jobs",
        )
        .await;
        // Drawn from [full × (1 − jitter), full]; a second of slack for the statements between.
        assert!(
            (full * 0.5 - 1.0..=full).contains(&delay),
            "attempt {attempt}: retry in {delay} s, expected {} to {full}",
            full * 0.5
        );
    }
}

#[tokio::test]
async fn an_expired_session_claims_nothing() {
    let db = setup().await;
    let c = &db.client;
    let expired = session(c, -1.0).await;
    let queue = Queue::new();
    queue
        .enqueue(c, &NewJob::new("x", json!(null)))
        .await
        .unwrap();
    let error = queue.claim(c, expired, "default", 10).await.unwrap_err();
    assert!(error.is_session_expired(), "{error}");
    let error = queue.claim(c, 987_654, "default", 10).await.unwrap_err();
    assert!(error.is_session_expired(), "{error}");
    let row = c
        .query_one("SELECT state, attempts FROM pgkeel_work.jobs", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "available");
    assert_eq!(row.get::<_, i32>(1), 0);
}

#[tokio::test]
async fn a_batch_is_enqueued_in_order_and_a_transaction_decides() {
    let db = setup().await;
    let queue = Queue::new();
    assert!(
        queue
            .enqueue_batch(&db.client, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let jobs: Vec<NewJob> = (0..500)
        .map(|n| NewJob::new("n", json!({"n": n})).priority((n % 3) as i16))
        .collect();
    let ids = queue.enqueue_batch(&db.client, &jobs).await.unwrap();
    assert_eq!(ids.len(), 500);
    for (n, id) in ids.iter().enumerate() {
        let stored: i64 = db
            .client
            .query_one(
                "SELECT (payload->>'n')::int8 FROM pgkeel_work.jobs WHERE id = $1",
                &[&id.unwrap()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, n as i64);
    }
    // Enqueued in a transaction: there only if it commits.
    let mut client = connect(&db.url).await;
    let tx = client.transaction().await.unwrap();
    queue
        .enqueue(&tx, &NewJob::new("rolled_back", json!(null)))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let tx = client.transaction().await.unwrap();
    queue
        .enqueue(&tx, &NewJob::new("committed", json!(null)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let kinds: Vec<String> = db
        .client
        .query(
            "SELECT kind FROM pgkeel_work.jobs WHERE kind <> 'n' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["committed"]);
    // Refused before reaching the database.
    let error = queue
        .enqueue(&db.client, &NewJob::new("bad", json!(null)).max_attempts(0))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("max_attempts"), "{error}");
}

/// A job's (state, attempts, last_error, locked_by) as stored.
async fn job_row(
    c: &tokio_postgres::Client,
    id: i64,
) -> (String, i32, Option<String>, Option<i64>) {
    let row = c
        .query_one(
            "SELECT state, attempts, last_error, locked_by FROM pgkeel_work.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}
