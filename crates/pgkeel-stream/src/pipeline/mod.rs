//! The change stream end to end: setup, the replication session with reconnects, delivery to
//! the sink, heartbeats, and a clean stop that confirms what the sink holds.

mod config;
mod delivery;
mod heartbeat;
mod progress;
mod retention;
mod session;
pub(crate) mod telemetry;

use std::sync::Arc;

use metrics::{counter, gauge};
use pgkeel_wire::sql::quote_ident;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How often the WAL-retention guard looks at the slot when heartbeats are off.
const RETENTION_CHECK_WITHOUT_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

pub use config::{DEFAULT_LAG_WARNING_BYTES, StreamConfig};
pub use progress::{Progress, ProgressSnapshot};

use crate::error::Error;
use crate::lsn::Lsn;
use crate::repl::{CreateSlot, ReplConfig, ReplicationConnection};
use crate::setup;
use crate::sink::Sink;
use session::{End, Shared};

/// Runs the stream until `cancel` fires (then returns `Ok` after confirming what the sink
/// holds) or a fatal error. Transient errors reconnect with backoff and resume from the
/// last position the sink holds.
pub async fn run(
    config: StreamConfig,
    sink: Box<dyn Sink>,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<(), Error> {
    let mut config = config;
    config.database = config.database.with_options_appended(TEXT_SETTINGS);
    let repl = ReplConfig::new(&config.database)?;
    let (server_version, types) = prepare(&config, &repl).await?;
    let proto_version = config.protocol_for(server_version);
    let (durable_tx, durable_rx) = watch::channel(Lsn::ZERO);
    let (queue_tx, queue_rx) = mpsc::channel(4096);
    let delivery_cancel = CancellationToken::new();
    let delivery = tokio::spawn(delivery::deliver(
        sink,
        queue_rx,
        durable_tx,
        Arc::clone(&progress),
        config.max_batch_events,
        config.sink_backoff,
        delivery_cancel.clone(),
    ));
    let heartbeat_cancel = cancel.child_token();
    tokio::spawn(heartbeat::run(
        config.database.clone(),
        config
            .heartbeat
            .unwrap_or(RETENTION_CHECK_WITHOUT_HEARTBEAT),
        config.heartbeat.is_some(),
        retention::RetentionGuard::new(&config.spec.slot, config.lag_warning_bytes),
        heartbeat_cancel.clone(),
    ));
    let mut shared = Shared {
        queue: queue_tx,
        buffer: Arc::new(Semaphore::new(config.max_buffered_events)),
        max_buffered_events: config.max_buffered_events,
        durable: durable_rx,
        progress: Arc::clone(&progress),
        status_interval: config.status_interval,
        enqueued: Lsn::ZERO,
        stop_at: config.stop_at,
        types,
        database: config.database.clone(),
    };
    let result = reconnect_loop(&config, &repl, proto_version, &mut shared, &cancel).await;
    heartbeat_cancel.cancel();
    progress.set_connected(false);
    gauge!(telemetry::CONNECTED).set(0.0);
    // Let the sink take what is buffered (it is bounded), then confirm it.
    drop(shared.queue);
    let grace = tokio::time::timeout(config.shutdown_grace, delivery).await;
    if grace.is_err() {
        tracing::warn!(
            "the sink did not take the buffered events in time; they will be streamed again"
        );
        delivery_cancel.cancel();
    }
    match result {
        Ok(mut stream) => {
            let durable = *shared.durable.borrow();
            if !durable.is_zero() {
                stream.advance_flush(durable);
                stream.advance_apply(durable);
            }
            if let Err(e) = stream.send_status(false).await {
                tracing::warn!(error = %e, "the final status update failed; the last events will be streamed again");
            } else {
                progress.confirmed(stream.feedback().flush);
            }
            let _ = stream.finish().await;
            tracing::info!(confirmed = %stream_flush(&progress), "stream stopped");
            Ok(())
        }
        Err(e) if e.is_stopped() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The session settings that fix the text form of values (dates in ISO, UTC, floats exact,
/// bytea as hex), added to any `options` of the URL: the walsender formats values with them.
const TEXT_SETTINGS: &str = "-c datestyle=ISO -c timezone=UTC -c extra_float_digits=3 \
                             -c bytea_output=hex -c intervalstyle=postgres";

fn stream_flush(progress: &Progress) -> Lsn {
    progress.snapshot().confirmed
}

/// Checks and creates publication and slot (the slot via the replication connection);
/// returns the server version number and the custom types.
async fn prepare(
    config: &StreamConfig,
    repl: &ReplConfig,
) -> Result<
    (
        u32,
        std::collections::HashMap<u32, crate::value::CustomType>,
    ),
    Error,
> {
    let (client, connection) = config
        .database
        .connect()
        .await
        .map_err(|e| Error::connect("connecting for the setup", e))?;
    let connection = tokio::spawn(connection);
    let version: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .await
        .map_err(|e| Error::postgres("reading the server version", e))?
        .get(0);
    let version: u32 = version.parse().unwrap_or(0);
    let report = setup::prepare(&client, &config.spec).await?;
    let types = setup::custom_types(&client).await?;
    for table in &report.without_identity {
        tracing::warn!(%table, "published table without a primary key or replica identity: PostgreSQL will refuse its updates and deletes (ALTER TABLE ... REPLICA IDENTITY FULL)");
    }
    drop(client);
    connection.abort();
    if report.slot_missing {
        let mut conn = ReplicationConnection::connect(repl).await?;
        // The client logs the creation with its consistent point.
        conn.create_logical_slot(
            &config.spec.slot,
            CreateSlot {
                temporary: false,
                two_phase: config.spec.two_phase,
            },
        )
        .await?;
    }
    Ok((version, types))
}

/// Connects and streams; on a transient error waits with backoff and again. Returns the
/// open stream when cancelled.
async fn reconnect_loop(
    config: &StreamConfig,
    repl: &ReplConfig,
    proto_version: u32,
    shared: &mut Shared,
    cancel: &CancellationToken,
) -> Result<crate::repl::ReplicationStream, Error> {
    let mut jitter = pgkeel_conn::Jitter::new();
    let mut attempt: u32 = 0;
    let options = options(config, proto_version);
    loop {
        if cancel.is_cancelled() {
            return Err(Error::stopped());
        }
        let started = async {
            let conn = ReplicationConnection::connect(repl).await?;
            // Resume after what was already handed to delivery (0/0: the slot's position).
            let start = shared.enqueued;
            Ok::<_, Error>(
                conn.start_logical(&config.spec.slot, start, &options)
                    .await?,
            )
        };
        let result = tokio::select! {
            () = cancel.cancelled() => return Err(Error::stopped()),
            started = started => started,
        };
        let error = match result {
            Ok(stream) => {
                shared.progress.set_connected(true);
                gauge!(telemetry::CONNECTED).set(1.0);
                tracing::info!(slot = %config.spec.slot, proto_version, "streaming");
                match session::run(shared, stream, proto_version, cancel).await {
                    Ok(End::Stopped(stream)) => return Ok(stream),
                    Err(error) => {
                        shared.progress.set_connected(false);
                        gauge!(telemetry::CONNECTED).set(0.0);
                        attempt = 0;
                        error
                    }
                }
            }
            Err(error) => error,
        };
        if error.is_fatal() {
            tracing::error!(%error, "the stream stops: the error is fatal");
            return Err(error);
        }
        attempt += 1;
        let mut delay = config.backoff.delay(attempt, jitter.next());
        if error.is_upstream_unavailable() {
            // A pooler or proxy in front of a stopped server (or a server starting up)
            // answers at once: asking again soon is the probe for the server's return.
            delay = delay.min(config.backoff.base);
        }
        shared.progress.reconnected();
        counter!(telemetry::RECONNECTS).increment(1);
        tracing::warn!(%error, attempt, retry_in_ms = delay.as_millis() as u64, "replication connection lost; reconnecting");
        tokio::select! {
            () = cancel.cancelled() => return Err(Error::stopped()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// START_REPLICATION options for pgoutput.
fn options(config: &StreamConfig, proto_version: u32) -> Vec<(String, String)> {
    let mut options = vec![
        ("proto_version".to_owned(), proto_version.to_string()),
        (
            "publication_names".to_owned(),
            quote_ident(&config.spec.publication),
        ),
        ("messages".to_owned(), "true".to_owned()),
    ];
    if config.streaming && proto_version >= 2 {
        options.push(("streaming".to_owned(), "on".to_owned()));
    }
    if config.spec.two_phase && proto_version >= 3 {
        options.push(("two_phase".to_owned(), "on".to_owned()));
    }
    options
}
