//! Helpers for the core tests: a migrated database with a pool, a direct client, sessions with
//! short intervals, proxies in front of the shared cluster, fixed candidate lists.

use std::future::{Ready, ready};
use std::time::Duration;

use pgkeel_conn::{Backoff, Pool, PoolConfig};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_proxy::{Address, Proxy, ProxyConfig};
use pgkeel_work::{Session, SessionConfig, Tx};
use tokio_postgres::{Client, NoTls};

/// Bounded waits in tests are liveness guards, never speed checks.
pub(crate) const LIVENESS: Duration = Duration::from_secs(30);

/// A pool config with test-friendly timings.
pub(crate) fn pool_config(url: &str) -> PoolConfig {
    let mut config = PoolConfig::from_url(url).unwrap();
    config.max_size = 4;
    config.keepalive = Duration::from_secs(1);
    config.acquire_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(1);
    config.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        jitter: 0.3,
    };
    config
}

/// A client of its own, not pooled and not proxied.
pub(crate) async fn direct(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Migrates the test database; returns a ready pool on `url` and a direct client.
pub(crate) async fn setup_on(db: &TestDatabase<'_>, url: &str) -> (Pool, Client) {
    let mut client = direct(&db.url()).await;
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

/// A proxy in front of the test database and the URL through it.
pub(crate) async fn proxied(db: &TestDatabase<'_>) -> (Proxy, String) {
    let proxy = Proxy::start(ProxyConfig::new(Address::tcp(
        "127.0.0.1",
        db.cluster().port(),
    )))
    .await
    .unwrap();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}",
        proxy.port().unwrap(),
        db.name()
    );
    (proxy, url)
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

/// Waits until `cond` holds, polling; panics after `LIVENESS`.
pub(crate) async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + LIVENESS;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
