//! A fault proxy (`pgkeel-proxy`, in-process) in front of a test database or cluster.

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_proxy::{Address, Proxy, ProxyConfig};

/// A proxy in front of the cluster listening on TCP `port` of 127.0.0.1.
///
/// # Panics
/// When the proxy cannot start.
pub async fn proxy_to(port: u16) -> Proxy {
    Proxy::start(ProxyConfig::new(Address::tcp("127.0.0.1", port)))
        .await
        .unwrap_or_else(|e| panic!("the test proxy cannot start: {e}"))
}

/// A proxy in front of the test database's cluster, and the URL of the database through it.
///
/// # Panics
/// When the proxy cannot start.
pub async fn proxied(db: &TestDatabase<'_>) -> (Proxy, String) {
    let proxy = proxy_to(db.cluster().port()).await;
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{}",
        proxy.port().expect("a TCP proxy has a port"),
        db.name()
    );
    (proxy, url)
}
