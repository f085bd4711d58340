//! Workers running jobs: two workers drain 2000 jobs with every job run exactly once;
//! failing and panicking handlers lead to retries and quarantine; a stopped worker finishes
//! what runs.

use pgkeel_testkit::{eventually, until, within};
use pgkeel_work::queue::{NewJob, Queue, Worker};
use serde_json::json;

use super::support::{Runs, pool, scalar, session, setup, worker_config};

#[tokio::test]
async fn two_workers_run_2000_jobs_exactly_once() {
    let db = setup().await;
    let c = &db.client;
    let queue = Queue::new();
    let mut enqueued = Vec::new();
    for chunk in 0..4 {
        let jobs: Vec<NewJob> = (0..500)
            .map(|n| NewJob::new("noop", json!({"n": chunk * 500 + n})).queue("bulk"))
            .collect();
        enqueued.extend(
            queue
                .enqueue_batch(c, &jobs)
                .await
                .unwrap()
                .into_iter()
                .flatten(),
        );
    }
    assert_eq!(enqueued.len(), 2000);
    let pool = pool(&db.url);
    let runs = Runs::default();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let s = session(c, 3600.0).await;
        let mut config = worker_config("bulk");
        config.concurrency = 8;
        config.batch = 20;
        let runs = runs.clone();
        workers.push(
            Worker::start(pool.clone(), s, config, move |job| {
                let runs = runs.clone();
                async move {
                    runs.record(job.id);
                    Ok(())
                }
            })
            .unwrap(),
        );
    }
    eventually("2000 jobs ran and were completed", || async {
        runs.total() >= 2000 && scalar::<i64>(c, "SELECT count(*) FROM pgkeel_work.jobs").await == 0
    })
    .await;
    let mut completed = 0;
    let mut lost = 0;
    for worker in workers {
        let stats = worker.stats();
        completed += stats.completed;
        lost += stats.lost;
        assert_eq!(stats.pickup.count(), stats.claimed);
        worker.shutdown().await.unwrap();
    }
    let ran = runs.ids();
    assert_eq!(ran.len(), 2000);
    assert!(ran.values().all(|n| *n == 1), "some job ran twice");
    assert!(enqueued.iter().all(|id| ran.contains_key(id)));
    assert_eq!((completed, lost), (2000, 0));
}

#[tokio::test]
async fn failing_and_panicking_handlers_retry_then_quarantine() {
    let db = setup().await;
    let c = &db.client;
    let queue = Queue::new();
    let bad = queue
        .enqueue(c, &NewJob::new("bad", json!(null)).max_attempts(3))
        .await
        .unwrap()
        .unwrap();
    let panics = queue
        .enqueue(c, &NewJob::new("panic", json!(null)).max_attempts(1))
        .await
        .unwrap()
        .unwrap();
    let fine = queue
        .enqueue(c, &NewJob::new("fine", json!(null)))
        .await
        .unwrap()
        .unwrap();
    let s = session(c, 3600.0).await;
    let runs = Runs::default();
    let recorded = runs.clone();
    let worker = Worker::start(pool(&db.url), s, worker_config("default"), move |job| {
        let runs = recorded.clone();
        async move {
            runs.record(job.id);
            match job.kind.as_str() {
                "bad" => Err(format!("nope {}", job.attempts)),
                "panic" => panic!("handler exploded"),
                _ => Ok(()),
            }
        }
    })
    .unwrap();
    eventually("both failing jobs are quarantined", || async {
        scalar::<i64>(
            c,
            "SELECT count(*) FROM pgkeel_work.jobs WHERE state = 'quarantined'",
        )
        .await
            == 2
    })
    .await;
    let stats = worker.stats();
    worker.shutdown().await.unwrap();
    assert_eq!((runs.of(bad), runs.of(panics), runs.of(fine)), (3, 1, 1));
    let errors: Vec<(i64, i32, String)> = c
        .query(
            "SELECT id, attempts, last_error FROM pgkeel_work.jobs ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(errors.len(), 2, "the fine job is gone: {errors:?}");
    assert_eq!(
        (errors[0].0, errors[0].1, errors[0].2.as_str()),
        (bad, 3, "nope 3")
    );
    assert_eq!((errors[1].0, errors[1].1), (panics, 1));
    assert!(errors[1].2.contains("handler exploded"), "{}", errors[1].2);
    assert_eq!(
        (stats.failed, stats.quarantined, stats.completed),
        (4, 2, 1)
    );
}

#[tokio::test]
async fn a_stopped_worker_finishes_its_running_jobs() {
    let db = setup().await;
    let c = &db.client;
    let queue = Queue::new();
    let jobs: Vec<NewJob> = (0..6).map(|_| NewJob::new("slow", json!(null))).collect();
    queue.enqueue_batch(c, &jobs).await.unwrap();
    let s = session(c, 3600.0).await;
    let mut config = worker_config("default");
    config.concurrency = 4;
    let (release, released) = tokio::sync::watch::channel(false);
    let runs = Runs::default();
    let recorded = runs.clone();
    let worker = Worker::start(pool(&db.url), s, config, move |job| {
        let runs = recorded.clone();
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|r| *r).await;
            runs.record(job.id);
            Ok(())
        }
    })
    .unwrap();
    until("four jobs running", || worker.stats().running >= 4).await;
    worker.stop();
    release.send_replace(true);
    within("the worker stops", worker.join()).await.unwrap();
    // The four that ran were recorded; the other two were never claimed.
    assert_eq!(runs.total(), 4);
    let left: Vec<(String, i32)> = c
        .query("SELECT state, attempts FROM pgkeel_work.jobs", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        left,
        [("available".to_owned(), 0), ("available".to_owned(), 0)]
    );
}
