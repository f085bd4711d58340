//! Cache sync across two instances of an application on one database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pgkeel_conn::cache_sync::{CacheSync, CacheSyncConfig, Hints};
use pgkeel_conn::{Pool, PoolConfig, Wait};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::{
    LIVENESS, Pgbouncer, PoolMode, connect, eventually, proxied, simple_scalar, until, within,
};

/// One instance: a pool, and a cache holding the names in `app_flags`.
struct Instance {
    sync: CacheSync,
    cache: Arc<Mutex<Vec<String>>>,
}

/// A pool with the product defaults but a 1 s keepalive, as `application`.
fn pool(url: &str, application: &str) -> Pool {
    let mut config = PoolConfig::from_url(url).unwrap();
    config.database = config.database.with_application_name(application);
    config.keepalive = Duration::from_secs(1);
    Pool::start(config).unwrap()
}

fn instance(pool: Pool, poll: Duration) -> Instance {
    let cache = Arc::new(Mutex::new(Vec::new()));
    let target = Arc::clone(&cache);
    let mut config = CacheSyncConfig::new("flags");
    config.poll = poll;
    let sync = CacheSync::start(pool, config, move |conn| {
        let target = Arc::clone(&target);
        async move {
            let rows = conn
                .query("SELECT name FROM app_flags ORDER BY name", &[])
                .await?;
            *target.lock().unwrap() = rows.iter().map(|r| r.get(0)).collect();
            Ok(())
        }
    })
    .unwrap();
    Instance { sync, cache }
}

async fn setup(db: &TestDatabase<'static>) {
    connect(&db.url())
        .await
        .batch_execute("CREATE TABLE app_flags (name text PRIMARY KEY)")
        .await
        .unwrap();
}

async fn until_version(instance: &Instance, version: u64) {
    let mut rx = instance.sync.subscribe();
    within(
        &format!("reached version {version} ({:?})", instance.sync),
        async {
            while *rx.borrow_and_update() < version {
                rx.changed().await.unwrap();
            }
        },
    )
    .await;
}

async fn publish(instance: &Instance, name: &str) -> u64 {
    let name = name.to_owned();
    let outcome = instance
        .sync
        .publish(Wait::UpTo(LIVENESS), |conn| {
            let name = name.clone();
            async move {
                conn.execute("INSERT INTO app_flags VALUES ($1)", &[&name])
                    .await
                    .map(|_| ())
            }
        })
        .await
        .unwrap();
    outcome.value as u64
}

#[tokio::test]
async fn a_publish_on_one_instance_reaches_the_other() {
    let db = TestDatabase::new();
    setup(&db).await;
    let a = instance(pool(&db.url(), "cache-a"), Duration::from_secs(60));
    let b = instance(pool(&db.url(), "cache-b"), Duration::from_secs(60));
    let version = publish(&a, "dark-mode").await;
    until_version(&b, version).await;
    assert_eq!(*b.cache.lock().unwrap(), vec!["dark-mode".to_owned()]);
    until_version(&a, version).await;
    assert_eq!(*a.cache.lock().unwrap(), vec!["dark-mode".to_owned()]);
}

#[tokio::test]
async fn with_its_hints_stalled_an_instance_still_converges_by_polling() {
    let db = TestDatabase::new();
    setup(&db).await;
    let (proxy, via_proxy) = proxied(&db).await;
    let a = instance(pool(&db.url(), "cache-a"), Duration::from_secs(60));
    let b = instance(pool(&via_proxy, "cache-b"), Duration::from_millis(300));
    until_version(&b, 0).await;
    // B's hint listener goes silent; its pool still works.
    proxy
        .set_rules(r#"conn.where(application_name="^cache-b \(cache flags\)$").stall()"#)
        .unwrap();
    proxy.wait_fired(Some(0), 1, LIVENESS).await.ok();
    let version = publish(&a, "beta").await;
    until_version(&b, version).await;
    assert_eq!(*b.cache.lock().unwrap(), vec!["beta".to_owned()]);
}

/// Behind pgbouncer in transaction mode NOTIFY hints never arrive: the instance says so and
/// converges by polling.
#[tokio::test]
async fn behind_transaction_pooling_hints_are_unavailable_and_polling_converges() {
    let db = TestDatabase::new();
    setup(&db).await;
    let bouncer = Pgbouncer::start(db.cluster().port(), PoolMode::Transaction);
    let a = instance(pool(&db.url(), "cache-a"), Duration::from_secs(60));
    let b = instance(
        pool(&bouncer.url(db.name()), "cache-b"),
        Duration::from_millis(300),
    );
    until("B reports its hints unavailable", || {
        b.sync.hints() == Hints::Unavailable
    })
    .await;
    until_version(&a, 0).await;
    for name in ["one", "two", "three"] {
        let version = publish(&a, name).await;
        until_version(&b, version).await;
    }
    assert_eq!(
        *b.cache.lock().unwrap(),
        vec!["one".to_owned(), "three".to_owned(), "two".to_owned()]
    );
    assert!(a.sync.hints_available());
    assert_eq!(b.sync.hints(), Hints::Unavailable);
}

#[tokio::test]
async fn a_change_during_a_reload_causes_exactly_one_more_reload() {
    let db = TestDatabase::new();
    setup(&db).await;
    let a = instance(pool(&db.url(), "cache-a"), Duration::from_secs(60));
    // B's reloads announce themselves, wait at a gate the test opens, and count passing it.
    // Counts reload starts (a Notify would keep a permit from a start-up reload).
    let (started_tx, started) = tokio::sync::watch::channel(0u64);
    let started_tx = Arc::new(started_tx);
    let passed = Arc::new(AtomicU64::new(0));
    let (open, gate) = tokio::sync::watch::channel(true);
    let cache = Arc::new(Mutex::new(Vec::<String>::new()));
    let (announce, through, target) = (
        Arc::clone(&started_tx),
        Arc::clone(&passed),
        Arc::clone(&cache),
    );
    let mut config = CacheSyncConfig::new("flags");
    config.poll = Duration::from_secs(60);
    let b = CacheSync::start(pool(&db.url(), "cache-b"), config, move |conn| {
        let (announce, through, target, mut gate) = (
            Arc::clone(&announce),
            Arc::clone(&through),
            Arc::clone(&target),
            gate.clone(),
        );
        async move {
            announce.send_modify(|n| *n += 1);
            while !*gate.borrow_and_update() {
                gate.changed().await?;
            }
            through.fetch_add(1, Ordering::SeqCst);
            let rows = conn
                .query("SELECT name FROM app_flags ORDER BY name", &[])
                .await?;
            *target.lock().unwrap() = rows.iter().map(|r| r.get(0)).collect();
            Ok(())
        }
    })
    .unwrap();
    let b = Instance { sync: b, cache };
    // Start-up: B's hint listener has LISTEN in force (its last statement was LISTEN, or the
    // keepalive pings that follow it), so every hint from now on reaches B after the Listening
    // that asks for a start-up reload.
    let observer = connect(&db.url()).await;
    eventually("B's hint listener listens", || async {
        simple_scalar(
            &observer,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'cache-b (cache flags)' AND state = 'idle' \
             AND (query LIKE 'LISTEN %' OR query = 'SELECT 1')",
        )
        .await
        .unwrap()
            == "1"
    })
    .await;
    // Every start-up reload that got past the gate before it closed has finished. One asked
    // for but not started yet waits at the gate: it is then the reload the first hint finds
    // running, and the hint counts towards the next one.
    open.send_replace(false);
    until("the start-up reloads past the gate finished", || {
        b.sync.reloads() == passed.load(Ordering::SeqCst)
    })
    .await;
    let settled = b.sync.reloads();
    let first = publish(&a, "one").await;
    until("a reload after the first hint waits at the gate", || {
        *started.borrow() > passed.load(Ordering::SeqCst)
    })
    .await;
    // B is inside a reload now; two more changes arrive.
    publish(&a, "two").await;
    let last = publish(&a, "three").await;
    assert!(last > first);
    open.send_replace(true);
    until_version(&b, last).await;
    // Proves that a third reload does not follow, so it waits a window. A later event cannot
    // stand in for it: a reload asked for afterwards would merge with a spurious one (the
    // coalescing under test), so the count would look right either way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.sync.reloads() - settled,
        2,
        "one reload for the first hint, exactly one more for the rest"
    );
    assert_eq!(b.cache.lock().unwrap().len(), 3);
}
