//! How an idle worker learns of new jobs: NOTIFY (polling set to a minute, so only the
//! notification can wake it in time), polling when no notification comes, and a timer for a
//! job whose `run_at` is ahead.

use std::time::{Duration, SystemTime};

use pgkeel_work::queue::{NewJob, Queue, Worker, WorkerStats};
use serde_json::json;
use tokio::time::timeout;

use pgkeel_testkit::within;

use super::support::{Runs, pool, session, setup, worker_config};

/// The liveness bound of a pickup (the polling interval of these workers is far longer).
const PROMPTLY: Duration = Duration::from_secs(10);

async fn idle(worker: &Worker) -> WorkerStats {
    within("the worker is idle", async {
        loop {
            let stats = worker.stats();
            if stats.idle && (stats.listening || stats.claims > 0) {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Waits until the worker is idle and its listener listens (which needs the listener's
/// delivery probe to have come back). Sleeps between looks: a loop over `idle()` alone would
/// spin without yielding once the worker is idle but not yet listening, and starve the runtime.
async fn listening_and_idle(worker: &Worker) -> WorkerStats {
    within("the worker is idle and listening", async {
        loop {
            let stats = worker.stats();
            if stats.idle && stats.listening {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn recording(
    runs: &Runs,
) -> impl Fn(pgkeel_work::queue::Job) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static
{
    let runs = runs.clone();
    move |job| {
        runs.record(job.id);
        std::future::ready(Ok(()))
    }
}

async fn ran(runs: &Runs, id: i64) -> bool {
    timeout(PROMPTLY, async {
        while runs.of(id) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_notification_wakes_an_idle_worker() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let mut config = worker_config("default");
    config.poll = Duration::from_secs(60);
    let runs = Runs::default();
    let worker = Worker::start(pool(&db.url), s, config, recording(&runs)).unwrap();
    let before = listening_and_idle(&worker).await;
    assert_eq!(before.notifications, 0);
    let id = Queue::new()
        .enqueue(c, &NewJob::new("ping", json!(null)))
        .await
        .unwrap()
        .unwrap();
    assert!(ran(&runs, id).await, "not picked up within {PROMPTLY:?}");
    assert!(worker.stats().notifications >= 1);
    worker.shutdown().await.unwrap();
}

#[tokio::test]
async fn polling_finds_a_job_inserted_without_notification() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let mut config = worker_config("default");
    config.poll = Duration::from_millis(200);
    let runs = Runs::default();
    let worker = Worker::start(pool(&db.url), s, config, recording(&runs)).unwrap();
    idle(&worker).await;
    let id: i64 = c
        .query_one(
            "INSERT INTO pgkeel_work.jobs (kind) VALUES ('silent') RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ran(&runs, id).await, "not picked up within {PROMPTLY:?}");
    assert_eq!(worker.stats().notifications, 0);
    worker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_job_due_later_runs_when_due_without_polling() {
    let db = setup().await;
    let c = &db.client;
    let s = session(c, 3600.0).await;
    let mut config = worker_config("default");
    config.poll = Duration::from_secs(60);
    let runs = Runs::default();
    let due = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&due);
    let recorded = runs.clone();
    let worker = Worker::start(pool(&db.url), s, config, move |job| {
        seen.lock().unwrap().push((job.run_at, SystemTime::now()));
        recorded.record(job.id);
        std::future::ready(Ok(()))
    })
    .unwrap();
    listening_and_idle(&worker).await;
    let run_at = SystemTime::now() + Duration::from_millis(1500);
    let id = Queue::new()
        .enqueue(c, &NewJob::new("later", json!(null)).run_at(run_at))
        .await
        .unwrap()
        .unwrap();
    assert!(ran(&runs, id).await, "not run within {PROMPTLY:?}");
    let (job_run_at, ran_at) = due.lock().unwrap()[0];
    assert!(ran_at >= job_run_at, "ran before it was due");
    worker.shutdown().await.unwrap();
}
