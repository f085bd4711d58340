//! The fast probe of the pool's supervisor and of the listener: while the server refuses
//! connections, check often with a bare TCP or unix-socket connect (no PostgreSQL handshake,
//! nothing in the server log) whether something listens again, so the next attempt starts as
//! soon as it does rather than when the backoff delay ends.

use std::time::Duration;

use pgkeel_net::{Database, Socket};

/// Longest wait for one probe connect (a name that does not resolve, a dropped SYN — whose
/// retransmission comes only after a second anyway).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Returns once any of the server's addresses accepts a connection, checking every `every`.
pub(crate) async fn until_accepting(database: &Database, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if accepts(database).await {
            return;
        }
    }
}

/// True when something accepts connections at one of the server's addresses.
async fn accepts(database: &Database) -> bool {
    let Ok(addresses) = database.addresses() else {
        return false;
    };
    for address in &addresses {
        if Socket::accepts(address, PROBE_TIMEOUT).await {
            return true;
        }
    }
    false
}
