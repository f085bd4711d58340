//! Transactions of a session: deadlocks retried, the closure's own errors returned, nothing
//! committed behind the caller's back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pgkeel_embedded::harness::TestDatabase;
use tokio::sync::Barrier;

use super::support::{session, setup};

#[derive(Debug, thiserror::Error)]
#[error("the caller's own failure")]
struct Mine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_retried_and_both_transactions_commit() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute(
            "CREATE TABLE pair (id int PRIMARY KEY, v int NOT NULL); \
             INSERT INTO pair VALUES (1, 0), (2, 0)",
        )
        .await
        .unwrap();
    let s = session(&pool, "deadlock", Duration::from_secs(30)).await;
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    // Each locks its first row, waits for the other, then wants the other's row: one of the
    // two is chosen as the deadlock victim (40P01), rolled back and run again.
    let run = |first: i32, second: i32| {
        let (s, barrier, attempts) = (s.clone(), Arc::clone(&barrier), Arc::clone(&attempts));
        async move {
            s.transact(|tx| {
                let barrier = Arc::clone(&barrier);
                let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    tx.execute("UPDATE pair SET v = v + 1 WHERE id = $1", &[&first])
                        .await?;
                    if attempt < 2 {
                        barrier.wait().await;
                    }
                    tx.execute("UPDATE pair SET v = v + 1 WHERE id = $1", &[&second])
                        .await
                }
            })
            .await
        }
    };
    let (one, two) = tokio::join!(tokio::spawn(run(1, 2)), tokio::spawn(run(2, 1)));
    one.unwrap().unwrap();
    two.unwrap().unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "exactly one retry");
    let values: Vec<i32> = client
        .query("SELECT v FROM pair ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(values, vec![2, 2]);
}

#[tokio::test]
async fn the_closures_own_error_is_returned_and_nothing_commits() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute("CREATE TABLE marks (n int)")
        .await
        .unwrap();
    let s = session(&pool, "errors", Duration::from_secs(30)).await;
    let err = s
        .transact(|tx| async move {
            tx.execute("INSERT INTO marks VALUES (1)", &[]).await?;
            Err::<(), Box<dyn std::error::Error + Send + Sync>>(Box::new(Mine))
        })
        .await
        .unwrap_err();
    assert!(err.closure_error().is_some_and(|e| e.is::<Mine>()), "{err}");
    // A database error keeps its SQLSTATE.
    let err = s
        .transact(|tx| async move {
            tx.execute("INSERT INTO marks VALUES (2)", &[]).await?;
            tx.execute("INSERT INTO marks VALUES ('x')", &[]).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("22P02"), "{err}");
    // An error swallowed inside the closure does not let COMMIT roll back silently.
    let err = s
        .transact(|tx| async move {
            tx.execute("INSERT INTO marks VALUES (3)", &[]).await?;
            let _ignored = tx.execute("SELECT 1/0", &[]).await;
            Ok::<_, tokio_postgres::Error>(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("25P02"), "{err}");
    let n: i64 = client
        .query_one("SELECT count(*) FROM marks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The connections went back to the pool clean: a later transaction commits.
    for _ in 0..8 {
        s.transact(|tx| async move { tx.execute("INSERT INTO marks VALUES (4)", &[]).await })
            .await
            .unwrap();
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM marks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 8);
}

#[tokio::test]
async fn a_transaction_holds_off_the_reaper_until_it_ends() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let s = session(&pool, "busy", Duration::from_secs(30)).await;
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release) = tokio::sync::oneshot::channel::<()>();
    let mut started_tx = Some(started_tx);
    let mut release = Some(release);
    let busy = {
        let s = s.clone();
        tokio::spawn(async move {
            s.transact(|tx| {
                let started = started_tx.take();
                let release = release.take();
                async move {
                    tx.execute("SELECT 1", &[]).await?;
                    if let (Some(started), Some(release)) = (started, release) {
                        let _ = started.send(());
                        let _ = release.await;
                    }
                    Ok::<_, tokio_postgres::Error>(())
                }
            })
            .await
        })
    };
    started.await.unwrap();
    super::support::expire_in_db(&client, &s).await;
    let report = pgkeel_work::reap_once(&client, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        report.sessions, 0,
        "the reaper deleted a session in a transaction"
    );
    release_tx.send(()).unwrap();
    busy.await.unwrap().unwrap();
    let report = pgkeel_work::reap_once(&client, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.sessions, 1);
}
