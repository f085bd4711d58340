//! The fast probe: while the server refuses connections, check often with a bare TCP or
//! unix-socket connect (no PostgreSQL handshake, nothing in the server log) whether something
//! listens again, so the next attempt starts as soon as it does rather than when the backoff
//! delay ends.

use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::Config;
use tokio_postgres::config::Host;

/// Longest wait for one probe connect (a name that does not resolve, a dropped SYN).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Returns once any of the server's addresses accepts a connection, checking every `every`.
pub(super) async fn until_accepting(pg: &Config, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if accepts(pg).await {
            return;
        }
    }
}

async fn accepts(pg: &Config) -> bool {
    let ports = pg.get_ports();
    for (i, host) in pg.get_hosts().iter().enumerate() {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let accepted = match host {
            Host::Tcp(name) => {
                tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((name.as_str(), port)))
                    .await
                    .is_ok_and(|r| r.is_ok())
            }
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path))
                    .await
                    .is_ok_and(|r| r.is_ok())
            }
        };
        if accepted {
            return true;
        }
    }
    false
}
