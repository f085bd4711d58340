//! Observers behind an intermediary that accepts TCP while PostgreSQL is down (pgkeel proxy,
//! HAProxy in TCP mode): a pgkeel `Pool` and a `pgkeel serve` connected through it, watched
//! through the same outages as the direct observers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use pgkeel_conn::{Health, Pool, PoolConfig};
use tokio::task::JoinHandle;

use crate::serve;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long one step may take before the benchmark gives up.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// A pool and a serve behind one intermediary.
pub(crate) struct Behind {
    pub(crate) name: &'static str,
    pool: Pool,
    serve: serve::Serve,
}

/// The two waiters of one outage, armed before the server starts again.
pub(crate) struct Armed {
    pool: JoinHandle<Option<Instant>>,
    serve: JoinHandle<Option<Instant>>,
}

/// When the pool and serve behind an intermediary were ready again.
pub(crate) struct Ready {
    pub(crate) pool: Option<Instant>,
    pub(crate) serve: Option<Instant>,
}

impl Behind {
    /// Starts both through `url` (the intermediary's address) and waits until they are ready.
    pub(crate) async fn start(
        name: &'static str,
        url: &str,
        schema_sql: &'static str,
        pgkeel_bin: &Path,
        log: &Path,
    ) -> Result<Self, BoxError> {
        let pool = Pool::builder(PoolConfig::from_url(url)?)
            .on_reconnect("schema", move |conn| async move {
                conn.query(schema_sql, &[]).await?;
                Ok(())
            })
            .start()?;
        pool.ready(STEP_LIMIT).await?;
        let serve = serve::start(pgkeel_bin, url, log).await?;
        let ready = tokio::time::timeout(
            STEP_LIMIT,
            serve::poll_until(serve.admin, Duration::from_millis(10), |s| s == Some(200)),
        )
        .await;
        if ready.is_err() {
            return Err(format!("pgkeel serve behind {name} did not become ready").into());
        }
        Ok(Behind { name, pool, serve })
    }

    /// The admin address of the serve.
    pub(crate) fn admin(&self) -> SocketAddr {
        self.serve.admin
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.pool.health().is_ready()
    }

    /// Whether both noticed the outage (pool not ready, `/ready` not 200).
    pub(crate) async fn noticed(&self) -> bool {
        let mut rx = self.pool.subscribe();
        let admin = self.serve.admin;
        // (The watch's borrow is dropped at once: holding it would block the pool's writer.)
        let (pool, serve) = tokio::join!(
            async {
                tokio::time::timeout(STEP_LIMIT, rx.wait_for(|h| !h.is_ready()))
                    .await
                    .is_ok_and(|r| r.is_ok())
            },
            async {
                tokio::time::timeout(
                    STEP_LIMIT,
                    serve::poll_until(admin, Duration::from_millis(5), |s| s != Some(200)),
                )
                .await
                .is_ok()
            },
        );
        pool && serve
    }

    /// Starts waiting for both to be ready again; `/ready` is polled every `poll`.
    pub(crate) fn arm(&self, poll: Duration) -> Armed {
        let mut rx = self.pool.subscribe();
        let pool = tokio::spawn(async move {
            tokio::time::timeout(STEP_LIMIT, rx.wait_for(Health::is_ready))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|_| Instant::now())
        });
        let admin = self.serve.admin;
        let serve = tokio::spawn(async move {
            tokio::time::timeout(
                STEP_LIMIT,
                serve::poll_until(admin, poll, |s| s == Some(200)),
            )
            .await
            .ok()
            .map(|(at, _)| at)
        });
        Armed { pool, serve }
    }

    pub(crate) async fn close(mut self) {
        self.pool.close();
        let _ = self.serve.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.serve.child.wait()).await;
    }
}

impl Armed {
    pub(crate) async fn ready(self) -> Result<Ready, BoxError> {
        Ok(Ready {
            pool: self.pool.await?,
            serve: self.serve.await?,
        })
    }
}
