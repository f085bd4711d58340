//! `kill -9` of a worker process: the work it held is free for another session within two
//! session intervals, and the job it was running is rescued and run by another worker. The
//! worker is this test binary run again as a child (the `#[ignore]`d `child_worker` test).

use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_work::queue::{NewJob, Queue, rescue};
use tokio::io::{AsyncBufReadExt, BufReader};

use pgkeel_testkit::{LIVENESS, connect, eventually, within};

use super::support::{session, setup, these};

/// The child's session interval.
const INTERVAL: Duration = Duration::from_secs(2);

/// Run only as the child of `a_killed_worker_process_loses_its_work_within_two_intervals`:
/// holds work on t1 and a running job, prints `HOLDING`, and waits to be killed.
#[tokio::test]
#[ignore = "run as a child process by the kill -9 test"]
async fn child_worker() {
    let Ok(url) = std::env::var("PGKEEL_WORK_CHILD_URL") else {
        return;
    };
    let pool = pgkeel_conn::Pool::start(super::support::pool_config(&url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    let child = session(&pool, "child", INTERVAL).await;
    let _held = child.work("p", these(&["t1"])).await.unwrap().unwrap();
    let client = connect(&url).await;
    let jobs = Queue::new()
        .claim(&client, child.id(), "kill9", 1)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    println!("HOLDING {}", child.id());
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_killed_worker_process_loses_its_work_within_two_intervals() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    Queue::new()
        .enqueue(
            &client,
            &NewJob::new("noop", serde_json::json!({})).queue("kill9"),
        )
        .await
        .unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "core::kill9::child_worker",
            "--ignored",
            "--nocapture",
        ])
        .env("PGKEEL_WORK_CHILD_URL", db.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let holding = within("the child holds work", async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("HOLDING") {
                return line;
            }
        }
        panic!("the child ended without holding work");
    })
    .await;
    let other = session(&pool, "other", INTERVAL).await;
    // While the child lives, the work is its own.
    assert!(
        other
            .work("p", these(&["t1"]))
            .await
            .unwrap_err()
            .is_work_conflict(),
        "{holding}"
    );

    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let killed = Instant::now();
    let taken = Mutex::new(None);
    eventually("the work was freed", || async {
        match other.work("p", these(&["t1"])).await {
            Ok(Some(work)) => {
                *taken.lock().unwrap() = Some(work);
                true
            }
            Err(e) if e.is_work_conflict() => false,
            other => panic!("unexpected: {other:?}"),
        }
    })
    .await;
    let freed_after = killed.elapsed();
    let taken = taken.into_inner().unwrap().unwrap();
    assert!(
        freed_after <= INTERVAL * 2,
        "the work was free only {freed_after:?} after kill -9 (interval {INTERVAL:?})"
    );
    taken.finish(super::support::nothing).await.unwrap();
    // The child's running job: rescued (its session is past its deadline) and run again.
    assert_eq!(rescue(&client).await.unwrap(), 1);
    let jobs = Queue::new()
        .claim(&client, other.id(), "kill9", 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 2, "the second attempt");
    Queue::new()
        .complete(&client, other.id(), &[jobs[0].id])
        .await
        .unwrap();
}
