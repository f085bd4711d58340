//! One client connection from accept to close: startup, then the two forwarding loops, then an
//! orderly (or deliberately disorderly) end: FIN, RST, or an injected FATAL error first.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pgkeel_wire::Direction;
use tokio::io::AsyncWriteExt;

use crate::connection::{Connection, Ending};
use crate::pump::{Pump, PumpContext, PumpEnd};
use crate::rules::ConnRuleState;
use crate::shared::ProxyShared;
use crate::startup::{Started, negotiate};
use pgkeel_net::Socket;

/// Serves `client` until the connection ends.
pub(crate) async fn serve(client: Socket, peer: String, proxy: Arc<ProxyShared>) {
    let conn = proxy.register(peer);
    tracing::debug!(conn = conn.id, client = %conn.client, "connection accepted");
    if proxy.rules.load().is_killing_all() {
        // killall(): every later connection dies at once.
        conn.end(Ending::Close);
    }
    let result = run(client, &conn, &proxy).await;
    match result {
        Ok(()) => tracing::debug!(conn = conn.id, "connection closed"),
        Err(e) => tracing::debug!(conn = conn.id, error = %e, "connection closed by an I/O error"),
    }
    proxy.unregister(conn.id);
}

async fn run(
    client: Socket,
    conn: &Arc<Connection>,
    proxy: &Arc<ProxyShared>,
) -> std::io::Result<()> {
    let rule_state = Mutex::new(ConnRuleState::new(proxy.seed, conn.id));
    let started = tokio::select! {
        biased;
        _ = conn.end.cancelled() => return Ok(()),
        started = negotiate(client, conn, proxy, &rule_state) => started?,
    };
    let (client, server, leftover, opaque) = match started {
        Started::Closed(client) => {
            if let (Some(client), Some(Ending::Reset)) = (client, conn.ending()) {
                client.reset();
            }
            return Ok(());
        }
        Started::Ready {
            client,
            server,
            leftover,
            opaque,
        } => (client, server, leftover, opaque),
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    {
        let context = || PumpContext {
            conn,
            proxy,
            rule_state: &rule_state,
        };
        let front = Pump::new(
            Direction::Frontend,
            &mut client_read,
            &mut server_write,
            leftover,
            opaque,
            context(),
        )
        .run();
        let back = Pump::new(
            Direction::Backend,
            &mut server_read,
            &mut client_write,
            Default::default(),
            opaque,
            context(),
        )
        .run();
        tokio::pin!(front, back);
        let mut front_done = false;
        loop {
            tokio::select! {
                _ = conn.end.cancelled() => break,
                // The server closed (or failed): nothing more can happen on this connection.
                _ = &mut back => break,
                end = &mut front, if !front_done => {
                    front_done = true;
                    // After the client's EOF the server finishes and closes; an error or an
                    // ended connection stops everything.
                    if !matches!(end, Ok(PumpEnd::Eof)) {
                        break;
                    }
                }
            }
        }
    }
    let farewell = conn
        .farewell
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(bytes) = farewell {
        let _ = tokio::time::timeout(Duration::from_secs(1), client_write.write_all(&bytes)).await;
    }
    if conn.ending() == Some(Ending::Reset) {
        for stream in [
            client_read.reunite(client_write),
            server_read.reunite(server_write),
        ]
        .into_iter()
        .flatten()
        {
            stream.reset();
        }
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), client_write.shutdown()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), server_write.shutdown()).await;
    }
    Ok(())
}
