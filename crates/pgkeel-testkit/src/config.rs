//! Pool and listener settings with test-friendly timings: short timeouts and a fast backoff,
//! so recovery tests finish quickly; a keepalive long enough that a busy 2-core machine is not
//! mistaken for a stalled link.

use std::time::Duration;

use pgkeel_conn::listener::ListenerConfig;
use pgkeel_conn::{Backoff, PoolConfig};
use pgkeel_net::Database;

/// A pool of 4 on `url` (the `PG*` environment ignored): keepalive 1 s, acquire and connect
/// timeouts 2 s, backoff 20–200 ms.
///
/// # Panics
/// When `url` does not parse.
pub fn pool_config(url: &str) -> PoolConfig {
    let mut config = PoolConfig::new(database(url));
    config.max_size = 4;
    config.keepalive = Duration::from_secs(1);
    config.acquire_timeout = Duration::from_secs(2);
    config.connect_timeout = Duration::from_secs(2);
    config.backoff = test_backoff();
    config
}

/// A listener on `url` (the `PG*` environment ignored) named `test`: connect timeout 2 s,
/// backoff 20–200 ms. The keepalive stays at its default (5 s); stall tests shorten it.
///
/// # Panics
/// When `url` does not parse.
pub fn listener_config(url: &str) -> ListenerConfig {
    let mut config = ListenerConfig::new(PoolConfig::new(database(url)));
    config.connection.name = "test".into();
    config.connection.connect_timeout = Duration::from_secs(2);
    config.connection.backoff = test_backoff();
    config
}

fn database(url: &str) -> Database {
    Database::parse_with_env(url, &|_| None)
        .unwrap_or_else(|e| panic!("the test URL {url} does not parse: {e}"))
}

fn test_backoff() -> Backoff {
    Backoff {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        jitter: 0.3,
    }
}
