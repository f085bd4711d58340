//! The connection manager behind the pool: deadpool-postgres's, wrapped so the pool learns
//! when a connection dies — its I/O task ends with an error (server restart, terminated
//! backend), or a checkout finds it closed — instead of silently replacing it.

use std::cell::Cell;
use std::pin::Pin;
use std::time::Duration;

use deadpool::managed::{Metrics, RecycleResult};
use deadpool_postgres::{ClientWrapper, Connect, ManagerConfig, RecyclingMethod};
use tokio::sync::mpsc;
use tokio_postgres::NoTls;

use crate::supervisor::Signal;
use crate::telemetry::discard;

tokio::task_local! {
    /// Set while `run` checks a connection out; the manager marks it when it had to replace a
    /// dead connection, so the caller can report `recovered`.
    pub(crate) static CHECKOUT_REPLACED_DEAD: Cell<bool>;
}

type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Connects like tokio-postgres and watches the connection's I/O task.
struct ObservedConnect {
    signals: mpsc::UnboundedSender<Signal>,
    timeout: Duration,
    pool: String,
}

impl Connect for ObservedConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let pg_config = pg_config.clone();
        let signals = self.signals.clone();
        let timeout = self.timeout;
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut pg_config = pg_config;
            pg_config.connect_timeout(timeout);
            let (client, connection) = pg_config.connect(NoTls).await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    // Dropping a client ends its task with Ok; an error means the server or
                    // the network ended it.
                    discard(&pool, "died");
                    let _ = signals.send(Signal::Suspect {
                        cause: format!("a pooled connection ended: {e}"),
                    });
                }
            });
            Ok((client, task))
        })
    }
}

/// deadpool's manager trait, delegating to deadpool-postgres's manager.
pub(crate) struct ObservedManager {
    inner: deadpool_postgres::Manager,
    pool: String,
}

impl ObservedManager {
    pub(crate) fn new(
        pg: tokio_postgres::Config,
        pool: &str,
        connect_timeout: Duration,
        signals: mpsc::UnboundedSender<Signal>,
    ) -> Self {
        let connect = ObservedConnect {
            signals,
            timeout: connect_timeout,
            pool: pool.to_owned(),
        };
        let config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        ObservedManager {
            inner: deadpool_postgres::Manager::from_connect(pg, connect, config),
            pool: pool.to_owned(),
        }
    }
}

impl std::fmt::Debug for ObservedManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedManager")
            .field("pool", &self.pool)
            .finish()
    }
}

impl deadpool::managed::Manager for ObservedManager {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        self.inner.create().await
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        let result = self.inner.recycle(client, metrics).await;
        if result.is_err() {
            discard(&self.pool, "closed_on_checkout");
            let _ = CHECKOUT_REPLACED_DEAD.try_with(|flag| flag.set(true));
        }
        result
    }

    fn detach(&self, client: &mut ClientWrapper) {
        self.inner.detach(client);
    }
}
