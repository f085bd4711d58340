//! Sessions: start, heartbeat, local expiry (never revived), close.

use std::time::{Duration, SystemTime};

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_work::{Session, SessionConfig};

use pgkeel_testkit::{eventually, within};

use super::support::{expire_in_db, nothing, session, setup, setup_on, these, work_rows};

async fn db_deadline(client: &tokio_postgres::Client, id: i64) -> Option<(SystemTime, bool)> {
    client
        .query_opt(
            "SELECT deadline, deadline > clock_timestamp() FROM pgkeel_work.sessions WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

#[tokio::test]
async fn a_session_is_stored_with_its_component_and_runtime_info() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let mut config = SessionConfig::new("provisioner", Duration::from_secs(10));
    config.runtime_info = serde_json::json!({"host": "a", "pid": 7});
    let s = Session::start(&pool, config).await.unwrap();
    let row = client
        .query_one(
            "SELECT component, runtime_info, interval_ms, deadline > clock_timestamp() \
             FROM pgkeel_work.sessions WHERE id = $1",
            &[&s.id()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "provisioner");
    assert_eq!(
        row.get::<_, serde_json::Value>(1),
        serde_json::json!({"host": "a", "pid": 7})
    );
    assert_eq!(row.get::<_, i32>(2), 10_000);
    assert!(row.get::<_, bool>(3));
    assert!(!s.expired());
    assert!(s.remaining().is_some());
}

#[tokio::test]
async fn a_bad_config_is_refused() {
    let db = TestDatabase::new();
    let (pool, _client) = setup(&db).await;
    let err = Session::start(&pool, SessionConfig::new("x", Duration::from_millis(5)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
    let mut config = SessionConfig::new("x", Duration::from_secs(1));
    config.safety_margin = Some(Duration::from_millis(500));
    let err = Session::start(&pool, config).await.unwrap_err();
    assert!(err.to_string().contains("margin"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn the_heartbeat_keeps_a_session_alive_across_several_intervals() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let interval = Duration::from_secs(2);
    let s = session(&pool, "alive", interval).await;
    let (first, _) = db_deadline(&client, s.id()).await.unwrap();
    // A deadline three intervals past the first one was set by a renewal more than three
    // intervals after the start: the session lived through several intervals.
    eventually("the deadline was renewed three intervals on", || async {
        db_deadline(&client, s.id())
            .await
            .is_some_and(|(later, _)| later > first + interval * 3)
    })
    .await;
    assert!(!s.expired(), "the heartbeat did not keep the session alive");
    let (later, alive) = db_deadline(&client, s.id()).await.unwrap();
    assert!(alive);
    assert!(later > first, "the deadline was not renewed");
    let one: i32 = s
        .transact(|tx| async move { tx.query_one("SELECT 1", &[]).await.map(|r| r.get(0)) })
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[tokio::test]
async fn a_session_gone_from_the_database_fails_with_session_expired_and_stays_expired() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    // A long interval: the local deadline is far; only the database knows.
    let s = session(&pool, "gone", Duration::from_secs(20)).await;
    let expiry = s.expiry();
    expire_in_db(&client, &s).await;
    let err = s
        .transact(|tx| async move { tx.execute("SELECT 1", &[]).await })
        .await
        .unwrap_err();
    assert!(err.is_session_expired(), "{err}");
    assert!(s.expired());
    assert!(s.remaining().is_none());
    assert!(expiry.is_cancelled());
    // Every later call fails the same way, without asking the database.
    let err = s.work("p", these(&["t"])).await.unwrap_err();
    assert!(err.is_session_expired(), "{err}");
}

#[tokio::test]
async fn a_heartbeat_finding_its_session_past_the_deadline_expires_it_and_never_revives_it() {
    let db = TestDatabase::new();
    // The pool's application name marks the heartbeat's connection (made from its settings).
    let (pool, client) = setup_on(&db, &format!("{}?application_name=late", db.url())).await;
    let s = session(&pool, "late", Duration::from_secs(1)).await;
    let heartbeat_connections = || async {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'late' AND query LIKE '%pgkeel_work.sessions%'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(
        heartbeat_connections().await,
        1,
        "the heartbeat's connection"
    );
    let expiry = s.expiry();
    expire_in_db(&client, &s).await;
    within("the session noticed it expired", expiry.cancelled()).await;
    assert!(s.expired());
    let (_, alive) = db_deadline(&client, s.id()).await.unwrap();
    assert!(!alive, "the heartbeat revived an expired session");
    // And it stays so: the heartbeat stopped, its connection (the only one of the pool's
    // settings that touched the sessions table) is gone, and nothing renews the session.
    eventually("the heartbeat's connection closed", || async {
        heartbeat_connections().await == 0
    })
    .await;
    assert!(s.expired());
    let (_, alive) = db_deadline(&client, s.id()).await.unwrap();
    assert!(!alive, "the heartbeat revived an expired session");
    let err = s
        .transact(|tx| async move { tx.execute("SELECT 1", &[]).await })
        .await
        .unwrap_err();
    assert!(err.is_session_expired(), "{err}");
}

#[tokio::test]
async fn close_deletes_the_session_and_releases_its_work() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let a = session(&pool, "a", Duration::from_secs(10)).await;
    let b = session(&pool, "b", Duration::from_secs(10)).await;
    let work = a.work("p", these(&["t"])).await.unwrap().unwrap();
    assert!(
        b.work("p", these(&["t"]))
            .await
            .unwrap_err()
            .is_work_conflict()
    );
    a.close().await.unwrap();
    assert!(a.expired());
    assert!(db_deadline(&client, a.id()).await.is_none());
    assert!(work_rows(&client, "p").await.is_empty());
    let err = work.finish(nothing).await.unwrap_err();
    assert!(err.is_not_owner(), "{err}");
    let err = a
        .transact(|tx| async move { tx.execute("SELECT 1", &[]).await })
        .await
        .unwrap_err();
    assert!(err.is_session_expired(), "{err}");
    let taken = b.work("p", these(&["t"])).await.unwrap().unwrap();
    assert_eq!(taken.target(), "t");
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(b.id(), "t".to_owned())]
    );
}
