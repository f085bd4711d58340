//! Helpers for the core tests: a migrated database with a pool and a direct client, sessions,
//! fixed candidate lists, session rows as the database sees them.

use std::future::{Ready, ready};
use std::time::Duration;

use pgkeel_conn::{Pool, PoolConfig};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{LIVENESS, connect};
use pgkeel_work::history;
use pgkeel_work::{Session, SessionConfig, Tx};
use tokio_postgres::Client;

/// The test kit's pool config with a 1 s connect timeout: a session's start is bounded by
/// the connect timeout plus its interval, and the sessions here live 1–2 s.
pub(crate) fn pool_config(url: &str) -> PoolConfig {
    let mut config = pgkeel_testkit::pool_config(url);
    config.connect_timeout = Duration::from_secs(1);
    config
}

/// Migrates the test database; returns a ready pool on `url` and a direct client.
pub(crate) async fn setup_on(db: &TestDatabase<'_>, url: &str) -> (Pool, Client) {
    let mut client = connect(&db.url()).await;
    pgkeel_work::migrate(&mut client).await.unwrap();
    let pool = Pool::start(pool_config(url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    (pool, client)
}

/// `setup_on` the database's own URL.
pub(crate) async fn setup(db: &TestDatabase<'_>) -> (Pool, Client) {
    setup_on(db, &db.url()).await
}

/// A session of `component` with `interval`.
pub(crate) async fn session(pool: &Pool, component: &str, interval: Duration) -> Session {
    Session::start(pool, SessionConfig::new(component, interval))
        .await
        .unwrap()
}

/// A candidates closure that always offers `targets`, in order.
pub(crate) fn these(
    targets: &[&str],
) -> impl FnMut(Tx) -> Ready<Result<Vec<String>, tokio_postgres::Error>> + use<> {
    let list: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    move |_tx| ready(Ok(list.clone()))
}

/// A finish closure that does nothing else.
pub(crate) fn nothing(_tx: Tx) -> Ready<Result<(), tokio_postgres::Error>> {
    ready(Ok(()))
}

/// Makes a session past its deadline in the database (as if its heartbeat had stopped long
/// ago), without telling the session.
pub(crate) async fn expire_in_db(client: &Client, session: &Session) {
    let n = client
        .execute(
            "UPDATE pgkeel_work.sessions SET deadline = clock_timestamp() - interval '1 second' \
             WHERE id = $1",
            &[&session.id()],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// The (session, target) rows of `process` in the work table.
pub(crate) async fn work_rows(client: &Client, process: &str) -> Vec<(i64, String)> {
    client
        .query(
            "SELECT session_id, target FROM pgkeel_work.work WHERE process = $1 ORDER BY target",
            &[&process],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The history of (`target`, `process`) as (event, session) pairs, oldest first.
pub(crate) async fn history_events(
    pool: &Pool,
    target: &str,
    process: &str,
) -> Vec<(history::Event, Option<i64>)> {
    history::list(pool, target, Some(process))
        .await
        .unwrap()
        .iter()
        .map(|e| (e.event, e.session_id))
        .collect()
}
