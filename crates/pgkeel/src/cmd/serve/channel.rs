//! `NOTIFY pgkeel, 'reload schema'` / `'reload config'` request reloads. A gap (notifications
//! may have been missed) and the first LISTEN reload both, so no request is ever lost.

use std::sync::Arc;

use pgkeel_conn::PoolConfig;
use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
use tokio_util::sync::CancellationToken;

use super::app::App;

/// The channel `serve` listens on.
pub(crate) const CHANNEL: &str = "pgkeel";
/// Gaps seen (notifications possibly missed, config and schema reloaded).
pub(crate) const GAPS: &str = "pgkeel_serve_channel_gaps_total";

pub(crate) async fn listen(mut connection: PoolConfig, app: Arc<App>, shutdown: CancellationToken) {
    let name = format!("{} (listener)", connection.database.application_name());
    connection.database = connection.database.with_application_name(&name);
    let mut listener = match Listener::start(
        ListenerConfig::new(connection).channel(CHANNEL),
        &shutdown,
    ) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot listen for reload requests; reload with SIGUSR1/SIGUSR2");
            return;
        }
    };
    loop {
        match listener.recv().await {
            Ok(Event::Notification(n)) => match n.payload.trim() {
                "reload schema" => {
                    tracing::info!(pid = n.pid, "schema reload requested by NOTIFY");
                    app.requests.schema();
                }
                "reload config" => {
                    tracing::info!(pid = n.pid, "config reload requested by NOTIFY");
                    app.requests.config();
                }
                other => tracing::warn!(
                    payload = other,
                    "unknown request on channel pgkeel; expected 'reload schema' or 'reload config'"
                ),
            },
            Ok(Event::Listening { epoch, .. }) => {
                tracing::info!(epoch, channel = CHANNEL, "listening for reload requests");
                if epoch == 1 {
                    // A request sent before LISTEN took effect would be lost otherwise.
                    app.requests.config();
                }
            }
            Ok(Event::Gap {
                dropped,
                reconnected,
                ..
            }) => {
                metrics::counter!(GAPS).increment(1);
                tracing::info!(
                    dropped,
                    reconnected,
                    "reload requests may have been missed; reloading config and schema"
                );
                app.requests.config();
            }
            Ok(Event::Deaf { reason, hint, .. }) => {
                metrics::counter!(GAPS).increment(1);
                tracing::error!(
                    cause = %reason,
                    hint = %hint,
                    "reload requests by NOTIFY are not delivered; reloading config and schema now, \
                     reload later with SIGUSR1/SIGUSR2"
                );
                app.requests.config();
            }
            Err(error) if error.is_stopped() => return,
            Err(error) => {
                tracing::error!(%error, "stopped listening for reload requests; reload with SIGUSR1/SIGUSR2");
                return;
            }
        }
    }
}
