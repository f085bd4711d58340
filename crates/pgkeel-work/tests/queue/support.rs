//! Helpers for queue tests: a migrated database of its own, sessions as rows, pools, run
//! counters, worker configs with quick retries.

use std::time::Duration;

use pgkeel_conn::{Pool, PoolConfig};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_testkit::connect;

/// A migrated database and a client on it.
pub(crate) struct Db {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) url: String,
    _db: TestDatabase<'static>,
}

pub(crate) async fn setup() -> Db {
    let db = TestDatabase::new();
    let url = db.url();
    let mut client = connect(&url).await;
    pgkeel_work::migrate(&mut client).await.unwrap();
    Db {
        client,
        url,
        _db: db,
    }
}

/// A session row whose deadline is `ahead` from now (negative: already expired).
pub(crate) async fn session(client: &tokio_postgres::Client, ahead_secs: f64) -> i64 {
    client
        .query_one(
            "INSERT INTO pgkeel_work.sessions (component, interval_ms, deadline) \
             VALUES ('test', 10000, now() + $1 * interval '1 second') RETURNING id",
            &[&ahead_secs],
        )
        .await
        .unwrap()
        .get(0)
}

/// A pool of 6 with the product's timings (not the test kit's short ones).
pub(crate) fn pool(url: &str) -> Pool {
    let mut config = PoolConfig::from_url(url).unwrap();
    config.name = "queue-test".into();
    config.max_size = 6;
    Pool::start(config).unwrap()
}

/// One value of a one-row query.
pub(crate) async fn scalar<T>(client: &tokio_postgres::Client, sql: &str) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Counts how often each job id ran.
#[derive(Clone, Default)]
pub(crate) struct Runs(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, u32>>>);

impl Runs {
    pub(crate) fn record(&self, id: i64) {
        *self.0.lock().unwrap().entry(id).or_default() += 1;
    }

    pub(crate) fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }

    pub(crate) fn of(&self, id: i64) -> u32 {
        self.0.lock().unwrap().get(&id).copied().unwrap_or(0)
    }

    pub(crate) fn ids(&self) -> std::collections::HashMap<i64, u32> {
        self.0.lock().unwrap().clone()
    }
}

/// A worker config for tests: the given queue, quick retries.
pub(crate) fn worker_config(queue: &str) -> pgkeel_work::queue::WorkerConfig {
    let mut config = pgkeel_work::queue::WorkerConfig::new(queue);
    config.retry = pgkeel_conn::Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(1),
        jitter: 0.0,
    };
    config
}
