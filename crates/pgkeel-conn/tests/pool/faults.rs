//! Faults injected by the proxy: a stalled link, a failover-like read-only error, a killed
//! connection in the middle of an operation.

use pgkeel_conn::{Pool, Wait};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{LIVENESS, pool_config, proxied, within};

use super::support::until_health;

#[tokio::test]
async fn a_stalled_link_is_noticed_within_the_keepalive_and_recovers_after_allow() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let pool = Pool::start(pool_config(&url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    // One pooled connection exists, so the next operation runs on it (not on a new one).
    pool.run(
        Wait::No,
        |c| async move { c.batch_execute("SELECT 1").await },
    )
    .await
    .unwrap();
    proxy.set_rules("conn.stall()").unwrap();
    // An operation in flight on the blackholed link is abandoned once the loss is noticed.
    let stuck = pool.run(
        Wait::No,
        |c| async move { c.batch_execute("SELECT 1").await },
    );
    let err = within("the stalled operation ends", stuck)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    // Noticed by the keepalive; later attempts time out while the proxy still stalls.
    let health = until_health(&pool, "recovering", |h| h.state() == "recovering").await;
    let last = health.last_error().unwrap();
    assert!(
        last.contains("no answer within") || last.contains("timed out"),
        "{last}"
    );
    proxy.set_rules("conn.allow()").unwrap();
    let health = until_health(&pool, "ready again", |h| h.is_ready()).await;
    assert_eq!(health.epoch(), Some(2));
    let outcome = pool
        .run(
            Wait::No,
            |c| async move { c.batch_execute("SELECT 1").await },
        )
        .await
        .unwrap();
    assert_eq!(outcome.epoch, 2);
    assert_eq!(pool.stats().recoveries, 1);
}

#[tokio::test]
async fn a_read_only_error_flushes_the_whole_pool() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let pool = Pool::start(pool_config(&url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    proxy
        .set_rules(r#"conn.onQuery(query="^INSERT").times(1).error(code="25006", message="cannot execute INSERT in a read-only transaction")"#)
        .unwrap();
    let err = pool
        .run(Wait::No, |c| async move {
            c.batch_execute("INSERT INTO nowhere VALUES (1)").await
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("25006"));
    let health = until_health(&pool, "ready in a new epoch", |h| h.epoch() == Some(2)).await;
    assert!(health.is_ready());
    assert_eq!(pool.stats().losses, 1);
}

#[tokio::test]
async fn an_idempotent_operation_is_retried_after_its_connection_is_killed() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let pool = Pool::start(pool_config(&url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    proxy
        .set_rules(r#"conn.onQuery(query="^SELECT 'once'").times(1).kill()"#)
        .unwrap();
    let outcome = pool
        .run_idempotent(Wait::UpTo(LIVENESS), |c| async move {
            c.simple_query("SELECT 'once'").await.map(|m| m.len())
        })
        .await
        .unwrap();
    assert!(outcome.recovered);
    assert_eq!(outcome.attempts, 2);

    // Not idempotent: the error is returned, the operation not repeated.
    proxy
        .set_rules(r#"conn.onQuery(query="^SELECT 'twice'").times(1).kill()"#)
        .unwrap();
    let err = pool
        .run(Wait::UpTo(LIVENESS), |c| async move {
            c.simple_query("SELECT 'twice'").await.map(|m| m.len())
        })
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(proxy.rules().fired_counts(), vec![1]);
}
