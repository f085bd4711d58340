//! Helpers for pool tests: configs with short timings, waiting for a health state.

use std::time::Duration;

use pgkeel_conn::{Backoff, Health, Pool, PoolConfig};

/// Bounded waits in tests are liveness guards, never speed checks.
pub(crate) const LIVENESS: Duration = Duration::from_secs(30);

/// A config with test-friendly timings.
pub(crate) fn config(url: &str) -> PoolConfig {
    let mut config = PoolConfig::from_url(url).unwrap();
    config.max_size = 4;
    config.keepalive = Duration::from_secs(1);
    config.acquire_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(2);
    config.backoff = Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        jitter: 0.3,
    };
    config
}

/// Waits until `pred` holds for the pool's health.
pub(crate) async fn until(pool: &Pool, what: &str, pred: impl Fn(&Health) -> bool) -> Health {
    let mut rx = pool.subscribe();
    let wait = async {
        loop {
            let health = rx.borrow_and_update().clone();
            if pred(&health) {
                return health;
            }
            rx.changed().await.unwrap();
        }
    };
    tokio::time::timeout(LIVENESS, wait)
        .await
        .unwrap_or_else(|_| panic!("the pool never became {what}: {:?}", pool.health()))
}
