//! What connecting costs right after a restart, when nothing else connects: the first
//! backends after a restart rebuild the relation cache init file, so the first connections
//! and the first catalog query are slower than later ones. Explains the part of the recovery
//! latency that is not waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgkeel_embedded::Cluster;
use pgkeel_net::Database;
use serde::Serialize;

use crate::SCHEMA_SQL;
use crate::stats::ms_between;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One restart, ms: each step in order, on a server nobody else is connected to.
#[derive(Debug, Serialize)]
pub(crate) struct ColdSample {
    /// `Cluster::start` returned → first connection established.
    pub(crate) connect_1_ms: f64,
    /// `SELECT current_setting('server_version_num')` on it (the sentinel's check).
    pub(crate) version_ms: f64,
    /// A second connection (the pooled one a reconnect hook gets).
    pub(crate) connect_2_ms: f64,
    /// The hook's catalog query on it.
    pub(crate) catalog_ms: f64,
    /// A third connection and `SELECT 1` (warm by now).
    pub(crate) connect_3_ms: f64,
    pub(crate) select_1_ms: f64,
}

/// Connects as pgkeel's pool and supervisor do: through pgkeel-net's connector.
async fn connect(url: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (client, connection) = Database::parse(url)?.connect().await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `restarts` times: fast shutdown, start, then the steps of a recovery, timed one by one.
pub(crate) async fn run(
    cluster: &Arc<Cluster>,
    url: &str,
    restarts: usize,
) -> Result<Vec<ColdSample>, BoxError> {
    let mut samples = Vec::with_capacity(restarts);
    for _ in 0..restarts {
        let c = Arc::clone(cluster);
        tokio::task::spawn_blocking(move || c.restart()).await??;
        let t = Instant::now();
        let first = connect(url).await?;
        let t1 = Instant::now();
        first
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await?;
        let t2 = Instant::now();
        let second = connect(url).await?;
        let t3 = Instant::now();
        second.query(SCHEMA_SQL, &[]).await?;
        let t4 = Instant::now();
        let third = connect(url).await?;
        let t5 = Instant::now();
        third.query_one("SELECT 1", &[]).await?;
        let t6 = Instant::now();
        samples.push(ColdSample {
            connect_1_ms: ms_between(t, t1),
            version_ms: ms_between(t1, t2),
            connect_2_ms: ms_between(t2, t3),
            catalog_ms: ms_between(t3, t4),
            connect_3_ms: ms_between(t4, t5),
            select_1_ms: ms_between(t5, t6),
        });
        drop((first, second, third));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(samples)
}
