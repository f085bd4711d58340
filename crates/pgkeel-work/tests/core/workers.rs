//! Three workers on six targets: every target is worked exactly once per round and no two runs
//! of a target overlap in time (BMDB's concurrency test, ported in spirit).

use std::time::Duration;

use pgkeel_conn::Jitter;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_work::Session;

use pgkeel_testkit::LIVENESS;

use super::support::{session, setup};

const ROUNDS: i32 = 3;
const TARGETS: usize = 6;

/// One worker: claims the next target that still needs a round, records its run, finishes it.
/// Returns how many runs it made and how many claims conflicted.
async fn worker(s: Session, client: std::sync::Arc<tokio_postgres::Client>) -> (usize, usize) {
    let mut jitter = Jitter::new();
    let (mut runs, mut conflicts) = (0, 0);
    loop {
        let claimed = s
            .work("sweep", |tx| async move {
                // Locks what it reads: a target whose round was finished meanwhile is read
                // again, so it is not offered twice for one round.
                let rows = tx
                    .query(
                        "SELECT name FROM targets t WHERE rounds_done < $1 \
                         AND NOT EXISTS (SELECT 1 FROM pgkeel_work.work w \
                                         WHERE w.target = t.name AND w.process = 'sweep') \
                         ORDER BY rounds_done, name FOR UPDATE SKIP LOCKED LIMIT 1",
                        &[&ROUNDS],
                    )
                    .await?;
                Ok::<_, tokio_postgres::Error>(rows.iter().map(|r| r.get(0)).collect())
            })
            .await;
        match claimed {
            Ok(Some(work)) => {
                let target = work.target().to_owned();
                let (t, id) = (target.as_str(), s.id());
                s.transact(|tx| async move {
                    tx.execute(
                        "INSERT INTO runs (target, round, session_id, started) \
                         SELECT name, rounds_done + 1, $2, clock_timestamp() FROM targets \
                         WHERE name = $1",
                        &[&t, &id],
                    )
                    .await
                })
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(5 + (jitter.next() * 30.0) as u64)).await;
                work.finish(|tx| async move {
                    tx.execute(
                        "UPDATE runs SET ended = clock_timestamp() \
                         WHERE target = $1 AND ended IS NULL",
                        &[&t],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE targets SET rounds_done = rounds_done + 1 WHERE name = $1",
                        &[&t],
                    )
                    .await
                })
                .await
                .unwrap();
                runs += 1;
            }
            Ok(None) => {
                let left: i64 = client
                    .query_one(
                        "SELECT count(*) FROM targets WHERE rounds_done < $1",
                        &[&ROUNDS],
                    )
                    .await
                    .unwrap()
                    .get(0);
                if left == 0 {
                    return (runs, conflicts);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) if e.is_work_conflict() => {
                conflicts += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("worker {}: {e}", s.id()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_work_six_targets_once_per_round_without_overlap() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute(&format!(
            "CREATE TABLE targets (name text PRIMARY KEY, rounds_done int NOT NULL DEFAULT 0); \
             INSERT INTO targets (name) SELECT 'm' || i FROM generate_series(1, {TARGETS}) i; \
             CREATE TABLE runs (target text NOT NULL, round int NOT NULL, \
                 session_id bigint NOT NULL, started timestamptz NOT NULL, ended timestamptz, \
                 PRIMARY KEY (target, round))"
        ))
        .await
        .unwrap();
    let client = std::sync::Arc::new(client);
    let mut workers = Vec::new();
    for i in 0..3 {
        let s = session(&pool, &format!("worker{i}"), Duration::from_secs(30)).await;
        workers.push(tokio::spawn(worker(s, std::sync::Arc::clone(&client))));
    }
    let mut total = 0;
    for w in workers {
        let (runs, conflicts) = tokio::time::timeout(LIVENESS * 2, w)
            .await
            .expect("the workers did not finish")
            .unwrap();
        println!("worker: {runs} runs, {conflicts} conflicts");
        total += runs;
    }
    assert_eq!(total, TARGETS * ROUNDS as usize);

    // Every target, every round, exactly once (the primary key refused any second run).
    let rounds: Vec<(String, Vec<i32>)> = client
        .query(
            "SELECT target, array_agg(round ORDER BY round) FROM runs GROUP BY target ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rounds.len(), TARGETS);
    assert!(rounds.iter().all(|(_, r)| r == &[1, 2, 3]), "{rounds:?}");
    // No two runs of a target overlap in time.
    let overlaps: i64 = client
        .query_one(
            "SELECT count(*) FROM runs a JOIN runs b ON a.target = b.target AND a.round <> b.round \
             WHERE a.ended IS NULL OR (a.started < b.started AND b.started < a.ended)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(overlaps, 0);
    let events: Vec<(String, i64)> = client
        .query(
            "SELECT event, count(*) FROM pgkeel_work.history GROUP BY event ORDER BY event",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let n = (TARGETS * ROUNDS as usize) as i64;
    assert_eq!(
        events,
        vec![("finished".to_owned(), n), ("started".to_owned(), n)]
    );
    let left: i64 = client
        .query_one("SELECT count(*) FROM pgkeel_work.work", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
