//! The reaper: expired sessions are deleted, their work freed and their running jobs made
//! available, in one statement; a grace period is honoured; old history is pruned.

use std::time::Duration;

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_work::ReapReport;
use pgkeel_work::{Reaper, history, reap_once};
use tokio_postgres::Client;

use pgkeel_testkit::{eventually, until};

use super::support::{expire_in_db, session, setup, these, work_rows};

const LONG: Duration = Duration::from_secs(30);

async fn running_job(client: &Client, session: i64) -> i64 {
    client
        .query_one(
            "INSERT INTO pgkeel_work.jobs (kind, state, locked_by, locked_at, attempts) \
             VALUES ('k', 'running', $1, now(), 1) RETURNING id",
            &[&session],
        )
        .await
        .unwrap()
        .get(0)
}

async fn job_state(client: &Client, id: i64) -> (String, Option<i64>) {
    let row = client
        .query_one(
            "SELECT state, locked_by FROM pgkeel_work.jobs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn session_exists(client: &Client, id: i64) -> bool {
    client
        .query_opt("SELECT 1 FROM pgkeel_work.sessions WHERE id = $1", &[&id])
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn reap_once_deletes_expired_sessions_and_frees_their_work_and_jobs() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let dead = session(&pool, "dead", LONG).await;
    let alive = session(&pool, "alive", LONG).await;
    dead.work("p", these(&["t1"])).await.unwrap().unwrap();
    dead.work("q", these(&["t1"])).await.unwrap().unwrap();
    alive.work("p", these(&["t2"])).await.unwrap().unwrap();
    let dead_job = running_job(&client, dead.id()).await;
    let alive_job = running_job(&client, alive.id()).await;
    expire_in_db(&client, &dead).await;

    // Within the grace period nothing happens.
    let report = reap_once(&client, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report, ReapReport::default());
    assert!(session_exists(&client, dead.id()).await);

    let report = reap_once(&client, Duration::ZERO).await.unwrap();
    assert_eq!(
        report,
        ReapReport {
            sessions: 1,
            work: 2,
            jobs: 1
        }
    );
    assert!(!session_exists(&client, dead.id()).await);
    assert!(session_exists(&client, alive.id()).await);
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(alive.id(), "t2".to_owned())]
    );
    assert!(work_rows(&client, "q").await.is_empty());
    assert_eq!(
        job_state(&client, dead_job).await,
        ("available".to_owned(), None)
    );
    assert_eq!(
        job_state(&client, alive_job).await,
        ("running".to_owned(), Some(alive.id()))
    );
    // The freed work is anyone's.
    assert!(alive.work("p", these(&["t1"])).await.unwrap().is_some());
    assert_eq!(
        reap_once(&client, Duration::ZERO).await.unwrap(),
        ReapReport::default()
    );
}

#[tokio::test]
async fn a_running_reaper_frees_the_work_of_a_session_whose_heartbeat_stopped() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute(
            "INSERT INTO pgkeel_work.history (target, process, event, at) \
             VALUES ('old', 'p', 'started', now() - interval '2 days')",
        )
        .await
        .unwrap();
    let reaper = Reaper::start(
        &pool,
        Duration::from_millis(50),
        Duration::ZERO,
        Some(Duration::from_secs(24 * 3600)),
    )
    .unwrap();
    let totals = reaper.subscribe();
    let survivor = session(&pool, "survivor", LONG).await;
    let id = {
        // Its last handle dropped: the heartbeat stops and the session runs out.
        let short = session(&pool, "short", Duration::from_millis(300)).await;
        short.work("p", these(&["t"])).await.unwrap().unwrap();
        short.id()
    };
    eventually("the reaper deleted the session", || async {
        !session_exists(&client, id).await
    })
    .await;
    assert!(work_rows(&client, "p").await.is_empty());
    assert!(session_exists(&client, survivor.id()).await);
    assert!(survivor.work("p", these(&["t"])).await.unwrap().is_some());
    until("the totals were published", || {
        let t = *totals.borrow();
        t.freed.sessions >= 1 && t.history_pruned >= 1
    })
    .await;
    // Old history went; recent history stayed.
    assert!(history::list(&pool, "old", None).await.unwrap().is_empty());
    assert_eq!(history::list(&pool, "t", Some("p")).await.unwrap().len(), 2);
    reaper.stop().await;
}

#[tokio::test]
async fn prune_deletes_only_history_older_than_the_retention() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute(
            "INSERT INTO pgkeel_work.history (target, process, event, at) VALUES \
             ('t', 'p', 'started', now() - interval '3 hours'), \
             ('t', 'p', 'finished', now() - interval '2 hours'), \
             ('t', 'p', 'started', now() - interval '1 minute')",
        )
        .await
        .unwrap();
    let pruned = history::prune(&pool, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    let left = history::list(&pool, "t", None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event, history::Event::Started);
}
