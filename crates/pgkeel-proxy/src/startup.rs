//! The start of a client connection, before the two forwarding loops take over: SSLRequest
//! and GSSENCRequest (answered `N`, TLS passed through, or TLS terminated here), CancelRequest (forwarded on a new
//! upstream connection), and the StartupMessage (connect upstream, forward). Rules see these
//! packets too (`onStartupMessage`, `connect_delay`, `conn.kill()` on the first packet, ...).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use pgkeel_wire::encode::ENCRYPTION_REFUSED;
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer, MessageType, WireError, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cancel;
use crate::connection::{Connection, Ending};
use crate::inject;
use crate::recorder::Record;
use crate::rules::{Action, ConnRuleState, MessageView};
use crate::shared::{ProxyShared, TlsMode};
use crate::stats::Stats;
use pgkeel_net::Socket;

/// How the startup phase ended.
pub(crate) enum Started {
    /// The connection is over (cancel request handled, rule killed it, client left, ...).
    Closed(Option<Socket>),
    /// Both sides connected; forward from here on.
    Ready {
        client: Socket,
        server: Socket,
        leftover: BytesMut,
        opaque: bool,
    },
}

pub(crate) async fn negotiate(
    mut client: Socket,
    conn: &Arc<Connection>,
    proxy: &Arc<ProxyShared>,
    rule_state: &Mutex<ConnRuleState>,
) -> std::io::Result<Started> {
    let mut buf = BytesMut::with_capacity(1024);
    let mut framer = Framer::new(Direction::Frontend);
    let mut server: Option<Socket> = None;
    let mut first = true;
    loop {
        let header = loop {
            match framer.next_frame(&buf) {
                Ok(Some(header)) => break header,
                Ok(None) => {
                    let n = client.read_buf(&mut buf).await?;
                    if n == 0 {
                        return Ok(Started::Closed(Some(client)));
                    }
                    Stats::add(&conn.bytes_from_client, n as u64);
                    Stats::add(&proxy.stats.bytes_from_client, n as u64);
                }
                Err(WireError::DirectTls) if proxy.tls == TlsMode::Passthrough => {
                    let Some(server) = upstream(&mut server, proxy, conn, &mut client).await else {
                        return Ok(Started::Closed(Some(client)));
                    };
                    conn.facts().tls = true;
                    return Ok(Started::Ready {
                        client,
                        server,
                        leftover: buf,
                        opaque: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(conn = conn.id, error = %e, "closing the connection: bad startup packet");
                    Stats::add(&proxy.stats.malformed, 1);
                    return Ok(Started::Closed(Some(client)));
                }
            }
        };
        let packet = buf.split_to(header.len);
        let frame = FrameRef::new(Direction::Frontend, header.kind, &packet);
        let ty = frame.message_type();
        if ty == MessageType::StartupMessage
            && let Ok(startup) = frame.startup_message()
        {
            conn.facts().startup = startup
                .parameters()
                .unwrap_or_default()
                .into_iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
        }
        let initial = std::mem::replace(&mut first, false);
        // Rules: stall holds the packet until the rules change, then it is looked at again.
        let action = loop {
            let rules = proxy.rules.load_full();
            if conn.is_stalled(rules.version()) {
                let mut changes = proxy.rules_changes();
                let _ = changes.changed().await;
                continue;
            }
            let fired = {
                let facts = conn.facts();
                let mut state = rule_state.lock().unwrap_or_else(|e| e.into_inner());
                rules
                    .evaluate(
                        &MessageView { frame, ty, initial },
                        &facts.startup,
                        &mut state,
                    )
                    .map(|f| (f.rule, f.action.clone()))
            };
            record(
                proxy,
                conn,
                &frame,
                ty,
                initial,
                fired.as_ref().map(|(r, a)| (*r, a.name())),
            );
            match fired {
                Some((_, Action::Stall)) => {
                    proxy.note_fired();
                    conn.stalled_version
                        .store(rules.version(), std::sync::atomic::Ordering::Release);
                }
                Some((_, action)) => {
                    proxy.note_fired();
                    break action;
                }
                None => break Action::Allow,
            }
        };
        match action {
            Action::Allow | Action::CancelQuery { .. } => {}
            Action::Drop => continue,
            Action::Kill | Action::KillAll => {
                conn.end(Ending::Close);
                return Ok(Started::Closed(Some(client)));
            }
            Action::Reset => {
                conn.end(Ending::Reset);
                return Ok(Started::Closed(Some(client)));
            }
            Action::Stall => {}
            Action::ConnectDelay(wait) | Action::Delay { base: wait, .. } => {
                tokio::time::sleep(wait).await
            }
            Action::CancelSignal { pid } => {
                cancel::signal(pid);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Action::Error(error) => {
                // Before startup completes every error is fatal.
                let _ = client
                    .write_all(&inject::error_bytes(&error, Some("FATAL")))
                    .await;
                conn.end(Ending::Close);
                return Ok(Started::Closed(Some(client)));
            }
        }
        match header.kind {
            FrameKind::Startup(pgkeel_wire::StartupCode::Ssl)
                if proxy.tls == TlsMode::Passthrough =>
            {
                let Some(mut upstream) = upstream(&mut server, proxy, conn, &mut client).await
                else {
                    return Ok(Started::Closed(Some(client)));
                };
                upstream.write_all(&packet).await?;
                let mut answer = [0u8; 1];
                upstream.read_exact(&mut answer).await?;
                client.write_all(&answer).await?;
                if answer[0] == b'S' {
                    conn.facts().tls = true;
                    return Ok(Started::Ready {
                        client,
                        server: upstream,
                        leftover: buf,
                        opaque: true,
                    });
                }
                server = Some(upstream);
                framer.expect_startup();
            }
            FrameKind::Startup(pgkeel_wire::StartupCode::Ssl)
                if proxy.tls == TlsMode::Terminate =>
            {
                let Some(terminate) = &proxy.terminate else {
                    return Ok(Started::Closed(Some(client)));
                };
                if !buf.is_empty() {
                    // Bytes sent before the handshake would be read as if encrypted.
                    tracing::warn!(
                        conn = conn.id,
                        "closing: data sent after SSLRequest before TLS"
                    );
                    return Ok(Started::Closed(Some(client)));
                }
                client.write_all(b"S").await?;
                note_answer(proxy, conn, "S (TLS terminated by the proxy)");
                client = match terminate.server.accept(client).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::info!(conn = conn.id, error = %e, "TLS handshake with the client failed");
                        return Ok(Started::Closed(None));
                    }
                };
                framer.expect_startup();
            }
            FrameKind::Startup(
                pgkeel_wire::StartupCode::Ssl | pgkeel_wire::StartupCode::GssEnc,
            ) => {
                client.write_all(&[ENCRYPTION_REFUSED]).await?;
                note_answer(proxy, conn, "N (answered by the proxy)");
            }
            FrameKind::Startup(pgkeel_wire::StartupCode::Cancel) => {
                forward_cancel(proxy, conn, &packet).await;
                return Ok(Started::Closed(Some(client)));
            }
            _ => {
                let Some(mut upstream) = upstream(&mut server, proxy, conn, &mut client).await
                else {
                    return Ok(Started::Closed(Some(client)));
                };
                upstream.write_all(&packet).await?;
                return Ok(Started::Ready {
                    client,
                    server: upstream,
                    leftover: buf,
                    opaque: false,
                });
            }
        }
    }
}

/// The upstream connection opened earlier (TLS passthrough), or a new one.
async fn upstream(
    opened: &mut Option<Socket>,
    proxy: &Arc<ProxyShared>,
    conn: &Arc<Connection>,
    client: &mut Socket,
) -> Option<Socket> {
    match opened.take() {
        Some(stream) => Some(stream),
        None => connect_upstream(proxy, conn, client).await,
    }
}

/// Connects to the upstream server (with TLS as `--upstream-sslmode` says when terminating);
/// on failure tells the client why (FATAL 08006).
async fn connect_upstream(
    proxy: &Arc<ProxyShared>,
    conn: &Arc<Connection>,
    client: &mut Socket,
) -> Option<Socket> {
    let connected = match (&proxy.terminate, &proxy.upstream) {
        (Some(terminate), pgkeel_net::Address::Tcp { host, .. })
            if proxy.tls == TlsMode::Terminate =>
        {
            match Socket::connect(&proxy.upstream).await {
                Ok(socket) => terminate.upstream.start(socket, host).await,
                Err(e) => Err(e),
            }
        }
        _ => Socket::connect(&proxy.upstream).await,
    };
    match connected {
        Ok(stream) => Some(stream),
        Err(e) => {
            Stats::add(&proxy.stats.upstream_errors, 1);
            tracing::warn!(conn = conn.id, upstream = %proxy.upstream, error = %e, "cannot reach the upstream server");
            let message = format!(
                "pgkeel proxy: cannot reach the upstream server {}: {e}",
                proxy.upstream
            );
            let fields = encode::error_fields("FATAL", "08006", &message);
            if let Ok(bytes) = encode::error_response(&fields) {
                let _ = client.write_all(&bytes).await;
            }
            None
        }
    }
}

/// Forwards a CancelRequest on its own upstream connection and waits for the server to close it.
async fn forward_cancel(proxy: &Arc<ProxyShared>, conn: &Arc<Connection>, packet: &[u8]) {
    match Socket::connect(&proxy.upstream).await {
        Ok(mut upstream) => {
            if upstream.write_all(packet).await.is_ok() {
                let mut sink = [0u8; 64];
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), upstream.read(&mut sink)).await;
            }
        }
        Err(e) => {
            Stats::add(&proxy.stats.upstream_errors, 1);
            tracing::warn!(conn = conn.id, error = %e, "cannot forward a CancelRequest");
        }
    }
}

fn record(
    proxy: &ProxyShared,
    conn: &Connection,
    frame: &FrameRef<'_>,
    ty: MessageType,
    initial: bool,
    fired: Option<(usize, &'static str)>,
) {
    if proxy.recorder.enabled() {
        let record = Record::of_frame(&proxy.recorder, conn.id, frame, ty)
            .initial(initial)
            .fired(fired.map(|f| f.0), fired.map(|f| f.1));
        proxy.recorder.push(record);
    }
}

/// Records the proxy's own one-byte answer to SSLRequest / GSSENCRequest.
fn note_answer(proxy: &ProxyShared, conn: &Connection, summary: &str) {
    if proxy.recorder.enabled() {
        let summary = summary.to_owned();
        let record = Record::new(
            &proxy.recorder,
            conn.id,
            Direction::Backend,
            MessageType::SslResponse,
            1,
            summary,
        );
        proxy.recorder.push(record);
    }
}
