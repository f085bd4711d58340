//! The two ways `cancel` interrupts a query: Citus's SIGINT to a local process, and a real
//! protocol CancelRequest for this connection's backend, sent on a fresh upstream connection.

use std::sync::Arc;
use std::time::Duration;

use pgkeel_wire::encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connection::Connection;
use crate::shared::ProxyShared;

/// Sends SIGINT to `pid` (a backend cancels its query on SIGINT).
pub(crate) fn signal(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    if let Err(e) = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGINT) {
        tracing::warn!(pid, error = %e, "cancel(pid): cannot signal the process");
    }
}

/// After `delay`, sends a CancelRequest for `conn`'s backend to the upstream server.
pub(crate) fn spawn_protocol_cancel(
    proxy: &Arc<ProxyShared>,
    conn: &Arc<Connection>,
    delay: Duration,
) {
    let proxy = Arc::clone(proxy);
    let conn = Arc::clone(conn);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let (pid, key) = {
            let facts = conn.facts();
            (facts.backend_pid, facts.backend_key.clone())
        };
        let (Some(pid), Some(key)) = (pid, key) else {
            tracing::warn!(
                conn = conn.id,
                "cancel(): no BackendKeyData seen on this connection yet"
            );
            return;
        };
        let Ok(request) = encode::cancel_request(pid, &key) else {
            return;
        };
        match pgkeel_net::Socket::connect(&proxy.upstream).await {
            Ok(mut stream) => {
                if stream.write_all(&request).await.is_ok() {
                    // The server closes the connection once it has handled the request.
                    let mut sink = [0u8; 64];
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink)).await;
                }
                tracing::debug!(conn = conn.id, pid, "sent CancelRequest");
            }
            Err(e) => {
                tracing::warn!(conn = conn.id, error = %e, "cancel(): cannot reach the upstream server")
            }
        }
    });
}
