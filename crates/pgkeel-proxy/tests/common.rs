//! Shared helpers: a proxy in front of a test database, clients through it, HTTP calls.

use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_proxy::{Address, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test database with a proxy in front of its cluster.
pub(crate) struct Setup {
    pub(crate) db: TestDatabase<'static>,
    pub(crate) proxy: Proxy,
}

impl Setup {
    pub(crate) async fn new() -> Self {
        Self::with(|c| c).await
    }

    pub(crate) async fn with(configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Self {
        let db = TestDatabase::new();
        let proxy = start_proxy(db.cluster(), configure).await;
        Setup { db, proxy }
    }

    /// URL of the test database through the proxy.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.proxy.port().unwrap(),
            self.db.name()
        )
    }

    /// Same, with an application_name.
    pub(crate) fn url_as(&self, application: &str) -> String {
        format!("{}?application_name={application}", self.url())
    }

    /// URL of the test database, bypassing the proxy.
    pub(crate) fn direct_url(&self) -> String {
        self.db.url()
    }

    pub(crate) fn rules(&self, text: &str) -> u64 {
        self.proxy
            .set_rules(text)
            .unwrap_or_else(|e| panic!("rules {text:?}: {e}"))
    }
}

pub(crate) async fn start_proxy(
    cluster: &Cluster,
    configure: impl FnOnce(ProxyConfig) -> ProxyConfig,
) -> Proxy {
    let config = ProxyConfig::new(Address::tcp("127.0.0.1", cluster.port()));
    Proxy::start(configure(config)).await.unwrap()
}

pub(crate) use pgkeel_testkit::{
    LIVENESS, connect_with_connection, eventually, simple_scalar, sqlstate, try_connect as connect,
};

/// Asserts that `client` still works: `SELECT '<word>'` answers `word`.
pub(crate) async fn answers(client: &tokio_postgres::Client, word: &str) {
    let answer = simple_scalar(client, &format!("SELECT '{word}'")).await;
    assert_eq!(
        answer.as_deref().map_err(ToString::to_string),
        Ok(word),
        "SELECT '{word}'"
    );
}

/// A minimal HTTP/1.1 request; returns (status, body).
pub(crate) async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    http_with(addr, method, path, &[], body).await
}

/// Like [`http`], with extra headers; a `Host` among them replaces the default one.
pub(crate) async fn http_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = String::new();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let request = format!(
        "{method} {path} HTTP/1.1\r\n{head}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Path of a program next to the server binaries (psql, pg_recvlogical).
pub(crate) fn pg_program(name: &str) -> std::path::PathBuf {
    pgkeel_embedded::PgBinaries::find()
        .unwrap()
        .program(name)
        .unwrap_or_else(|| panic!("{name} is not installed next to postgres"))
}
