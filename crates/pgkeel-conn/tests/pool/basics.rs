//! The pool on a healthy database: outcomes, statement errors, pool protection, fatal errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pgkeel_conn::{ErrorClass, Pool, Wait};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{LIVENESS, connect, eventually, pool_config, simple_scalar};

use super::support::until_health;

#[tokio::test]
async fn run_returns_the_value_and_how_it_went() {
    let db = TestDatabase::new();
    let pool = Pool::start(pool_config(&db.url())).unwrap();
    assert_eq!(pool.ready(LIVENESS).await.unwrap(), 1);
    let outcome = pool
        .run(Wait::No, |c| async move {
            c.query_one("SELECT 40 + 2", &[])
                .await
                .map(|r| r.get::<_, i32>(0))
        })
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.value,
            outcome.recovered,
            outcome.epoch,
            outcome.attempts
        ),
        (42, false, 1, 1)
    );
}

#[tokio::test]
async fn a_statement_error_is_the_callers_and_leaves_the_pool_alone() {
    let db = TestDatabase::new();
    let pool = Pool::start(pool_config(&db.url())).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    let err = pool
        .run(Wait::No, |c| async move {
            c.execute("SELECT * FROM no_such_table", &[]).await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    assert_eq!(err.class(), ErrorClass::Statement);
    assert!(pool.health().is_ready());
    assert_eq!(pool.stats().losses, 0);
}

#[tokio::test]
async fn terminated_pool_connections_are_replaced_and_reported_as_recovered() {
    let db = TestDatabase::new();
    let mut cfg = pool_config(&db.url());
    cfg.database = cfg.database.with_application_name("terminated-pool");
    let pool = Pool::start(cfg).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    // Open several pooled connections, then terminate all of them (not the sentinel: it has
    // the same application_name, so spare the one that is not idle in the pool).
    let held: Vec<_> = futures_join(&pool, 3).await;
    assert_eq!(held.len(), 3);
    let admin = db.cluster();
    let rows = admin
        .admin_query(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' \
             AND application_name = 'terminated-pool' AND state = 'idle' AND pid IN ({})",
            db.name(),
            held.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ))
        .unwrap();
    assert_eq!(rows.len(), 3);
    let outcome = pool
        .run_idempotent(Wait::UpTo(LIVENESS), |c| async move {
            c.query_one("SELECT pg_backend_pid()", &[])
                .await
                .map(|r| r.get::<_, i32>(0))
        })
        .await
        .unwrap();
    assert!(outcome.recovered, "{outcome:?}");
    assert!(
        !held.contains(&outcome.value),
        "a terminated connection was handed out"
    );
}

/// Checks out `n` connections at once (so the pool opens `n`) and returns their backend pids.
async fn futures_join(pool: &Pool, n: usize) -> Vec<i32> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let pool = pool.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            pool.run(Wait::No, |c| {
                let barrier = Arc::clone(&barrier);
                async move {
                    barrier.wait().await;
                    c.query_one("SELECT pg_backend_pid()", &[])
                        .await
                        .map(|r| r.get::<_, i32>(0))
                }
            })
            .await
            .unwrap()
            .value
        }));
    }
    let mut pids = Vec::new();
    for t in tasks {
        pids.push(t.await.unwrap());
    }
    pids
}

#[tokio::test]
async fn a_pinned_pool_fails_callers_with_its_own_timeout() {
    let db = TestDatabase::new();
    let mut cfg = pool_config(&db.url());
    cfg.max_size = 1;
    cfg.acquire_timeout = Duration::from_millis(300);
    let pool = Pool::start(cfg).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    let pinning = pool.clone();
    let sleeper = tokio::spawn(async move {
        pinning
            .run(Wait::No, |c| async move {
                c.batch_execute("SELECT pg_sleep(3)").await
            })
            .await
    });
    // The sleeper's statement runs on the server, so it holds the only connection.
    let observer = connect(&db.url()).await;
    eventually("the sleeper holds the only connection", || async {
        simple_scalar(
            &observer,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query = 'SELECT pg_sleep(3)'",
        )
        .await
        .unwrap()
            == "1"
    })
    .await;
    let err = pool
        .run(Wait::UpTo(LIVENESS), |c| async move {
            c.batch_execute("SELECT 1").await
        })
        .await
        .unwrap_err();
    assert!(err.is_pool_timeout(), "{err}");
    assert!(err.to_string().contains("raise the pool size"), "{err}");
    assert!(
        pool.health().is_ready(),
        "an exhausted pool is not a lost database"
    );
    sleeper.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_database_is_fatal_without_retrying() {
    let db = TestDatabase::new();
    let url = db.cluster().url_for("no_such_database");
    let pool = Pool::start(pool_config(&url)).unwrap();
    let err = pool.ready(LIVENESS).await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("no_such_database"), "{err}");
    // Proves that something does not happen, so it waits a window: longer than the backoff
    // cap (200 ms), after which a retry would have run. No later event can be waited for
    // instead: after a fatal error the supervisor only waits for the pool to close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pool.stats().attempt_failures,
        1,
        "a fatal error must not be retried"
    );
    let err = pool
        .run(Wait::UpTo(LIVENESS), |c| async move {
            c.batch_execute("SELECT 1").await
        })
        .await
        .unwrap_err();
    assert!(err.is_fatal());
    let _ = until_health(&pool, "fatal", |h| h.state() == "fatal").await;
}

#[tokio::test]
async fn reconnect_hooks_run_before_ready_and_failures_are_retried() {
    let db = TestDatabase::new();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let pool = Pool::builder(pool_config(&db.url()))
        .on_reconnect("flaky-cache", move |client| {
            let seen = Arc::clone(&seen);
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                client.batch_execute("SELECT 1").await?;
                if n < 2 {
                    return Err(format!("cache load {n} failed").into());
                }
                Ok(())
            }
        })
        .start()
        .unwrap();
    pool.ready(LIVENESS).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "Ready only after the hook succeeded"
    );
    let stats = pool.stats();
    assert_eq!((stats.hook_failures, stats.attempt_failures), (2, 2));
}

#[tokio::test]
async fn wait_no_fails_fast_while_starting() {
    let pool = Pool::start(pool_config("postgres://postgres@127.0.0.1:1/postgres")).unwrap();
    let err = pool
        .run(
            Wait::No,
            |c| async move { c.batch_execute("SELECT 1").await },
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("Wait::No"), "{err}");
    let health = until_health(&pool, "retrying", |h| h.attempt() >= 2).await;
    assert_eq!(health.state(), "starting");
    assert!(
        health.last_error().unwrap().contains("refused"),
        "{health:?}"
    );
    pool.close();
}
