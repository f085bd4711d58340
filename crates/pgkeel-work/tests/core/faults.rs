//! Faults from an in-process proxy in front of the shared cluster: a stalled session expires
//! locally before its database deadline and its work goes to another session only after that;
//! injected serialization failures are retried a bounded number of times.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pgkeel_conn::Pool;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{LIVENESS, eventually, proxied};
use pgkeel_work::history::{self, Event};
use pgkeel_work::{Session, SessionConfig};

use super::support::{history_events, nothing, pool_config, session, setup_on, these, work_rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_session_expires_and_its_work_goes_to_another_only_after_the_deadline() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let (stalled_pool, client) = setup_on(&db, &url).await;
    let direct_pool = Pool::start(pool_config(&db.url())).unwrap();
    direct_pool.ready(LIVENESS).await.unwrap();
    let a = session(&stalled_pool, "a", Duration::from_secs(1)).await;
    let b = session(&direct_pool, "b", Duration::from_secs(30)).await;
    let stale = a.work("p", these(&["t"])).await.unwrap().unwrap();
    let expiry = a.expiry();

    proxy.set_rules("conn.stall()").unwrap();
    // B asks until it gets the work; when it does, A must have expired locally already.
    let conflicts = Cell::new(0);
    let taken = Mutex::new(None);
    eventually("B got the work", || async {
        match b.work("p", these(&["t"])).await {
            Ok(Some(work)) => {
                *taken.lock().unwrap() = Some(work);
                true
            }
            Err(e) if e.is_work_conflict() => {
                conflicts.set(conflicts.get() + 1);
                false
            }
            other => panic!("unexpected: {other:?}"),
        }
    })
    .await;
    let (taken, conflicts) = (taken.into_inner().unwrap().unwrap(), conflicts.get());
    assert!(
        a.expired(),
        "another session got the work while its owner still believed it held it"
    );
    assert!(expiry.is_cancelled());
    println!("B saw {conflicts} conflicts before the deadline");

    // In the database, too, A is past its deadline, and B claimed after it.
    let a_deadline: SystemTime = client
        .query_one(
            "SELECT deadline FROM pgkeel_work.sessions WHERE id = $1 AND deadline < clock_timestamp()",
            &[&a.id()],
        )
        .await
        .unwrap()
        .get(0);
    let claims = history::list(&direct_pool, "t", Some("p")).await.unwrap();
    let b_started = claims
        .iter()
        .find(|e| e.event == Event::Started && e.session_id == Some(b.id()))
        .unwrap();
    assert!(b_started.at >= a_deadline, "B claimed before A's deadline");

    // The stalled owner's finish is rejected, during the stall and after it.
    let err = stale.finish(nothing).await.unwrap_err();
    assert!(err.is_not_owner() && err.is_session_expired(), "{err}");
    proxy.set_rules("").unwrap();
    let err = stale.finish(nothing).await.unwrap_err();
    assert!(err.is_not_owner(), "{err}");
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(b.id(), "t".to_owned())]
    );
    taken.finish(nothing).await.unwrap();
    assert_eq!(
        history_events(&direct_pool, "t", "p").await,
        vec![
            (Event::Started, Some(a.id())),
            (Event::Started, Some(b.id())),
            (Event::Finished, Some(b.id())),
        ]
    );
}

#[tokio::test]
async fn injected_serialization_failures_are_retried_a_bounded_number_of_times() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let (pool, client) = setup_on(&db, &url).await;
    client
        .batch_execute("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)")
        .await
        .unwrap();
    let count = || async {
        client
            .query_one("SELECT n FROM counter", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    };
    let s = session(&pool, "retry", Duration::from_secs(30)).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let bump = |s: Session| {
        let attempts = Arc::clone(&attempts);
        async move {
            s.transact(|tx| {
                attempts.fetch_add(1, Ordering::SeqCst);
                async move { tx.execute("UPDATE counter SET n = n + 1", &[]).await }
            })
            .await
        }
    };

    proxy
        .set_rules(r#"conn.onParse(query="^UPDATE counter").times(2).error(code="40001", message="could not serialize access")"#)
        .unwrap();
    assert_eq!(bump(s.clone()).await.unwrap(), 1);
    assert_eq!(attempts.swap(0, Ordering::SeqCst), 3);
    assert_eq!(count().await, 1);

    let mut config = SessionConfig::new("retry-less", Duration::from_secs(30));
    config.max_retries = 2;
    let few = Session::start(&pool, config).await.unwrap();
    proxy
        .set_rules(r#"conn.onParse(query="^UPDATE counter").error(code="40001", message="could not serialize access")"#)
        .unwrap();
    let err = bump(few).await.unwrap_err();
    assert!(err.is_retryable_conflict(), "{err}");
    assert_eq!(err.code(), Some("40001"));
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
    assert_eq!(count().await, 1);

    // A deadlock reported by the server is retried the same way.
    attempts.store(0, Ordering::SeqCst);
    proxy
        .set_rules(r#"conn.onParse(query="^UPDATE counter").times(1).error(code="40P01", message="deadlock detected")"#)
        .unwrap();
    assert_eq!(bump(s).await.unwrap(), 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(count().await, 2);
}

#[tokio::test]
async fn a_heartbeat_whose_connection_is_killed_reconnects_and_renews_before_the_deadline() {
    let db = TestDatabase::new();
    let (proxy, url) = proxied(&db).await;
    let (pool, client) = setup_on(&db, &url).await;
    let s = session(&pool, "resilient", Duration::from_secs(2)).await;
    let deadline_now = || async {
        client
            .query_one(
                "SELECT deadline FROM pgkeel_work.sessions WHERE id = $1",
                &[&s.id()],
            )
            .await
            .unwrap()
            .get::<_, SystemTime>(0)
    };
    // BMDB's heartbeat gave up on the first error; this one reconnects and tries again.
    proxy
        .set_rules(r#"conn.onParse(query="^UPDATE pgkeel_work.sessions").times(3).kill()"#)
        .unwrap();
    proxy.wait_fired(None, 3, LIVENESS).await.unwrap();
    let at_kill = deadline_now().await;
    eventually(
        "the heartbeat renewed after its connection was killed",
        || async { deadline_now().await > at_kill },
    )
    .await;
    assert!(
        !s.expired(),
        "the session expired although the heartbeat recovered"
    );
    s.transact(|tx| async move { tx.execute("SELECT 1", &[]).await })
        .await
        .unwrap();
}
