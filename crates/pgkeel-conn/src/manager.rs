//! The connection manager behind the pool (deadpool's `Manager`): it opens connections through
//! pgkeel-net's connector and watches each one, so the pool learns when a connection dies — its
//! I/O task ends with an error (server restart, terminated backend), or a checkout finds it
//! closed — instead of silently replacing it. Recycling is deadpool-postgres's `Fast` method:
//! a closed client is refused, an open one is reused without a round trip.

use std::cell::Cell;

use deadpool::managed::{Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use pgkeel_net::{ConnectError, Database};
use tokio::sync::mpsc;

use crate::supervisor::Signal;
use crate::telemetry::discard;

tokio::task_local! {
    /// Set while `run` checks a connection out; the manager marks it when it had to replace a
    /// dead connection, so the caller can report `recovered`.
    pub(crate) static CHECKOUT_REPLACED_DEAD: Cell<bool>;
}

/// Opens and checks the pool's connections.
pub(crate) struct ObservedManager {
    database: Database,
    pool: String,
    signals: mpsc::UnboundedSender<Signal>,
}

impl ObservedManager {
    /// Connections to `database` (its connect timeout applied) for pool `pool`; deaths are
    /// reported on `signals`.
    pub(crate) fn new(
        database: Database,
        pool: &str,
        signals: mpsc::UnboundedSender<Signal>,
    ) -> Self {
        ObservedManager {
            database,
            pool: pool.to_owned(),
            signals,
        }
    }
}

impl std::fmt::Debug for ObservedManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedManager")
            .field("pool", &self.pool)
            .field("database", &self.database.describe())
            .finish()
    }
}

impl deadpool::managed::Manager for ObservedManager {
    type Type = ClientWrapper;
    type Error = ConnectError;

    async fn create(&self) -> Result<ClientWrapper, ConnectError> {
        let (client, connection) = self.database.connect().await?;
        let signals = self.signals.clone();
        let pool = self.pool.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Dropping a client ends its task with Ok; an error means the server or the
                // network ended it.
                discard(&pool, "died");
                let _ = signals.send(Signal::Suspect {
                    cause: format!("a pooled connection ended: {e}"),
                });
            }
        });
        Ok(ClientWrapper::new(client, task))
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        _: &Metrics,
    ) -> RecycleResult<ConnectError> {
        if client.is_closed() {
            discard(&self.pool, "closed_on_checkout");
            let _ = CHECKOUT_REPLACED_DEAD.try_with(|flag| flag.set(true));
            return Err(RecycleError::message("Connection closed"));
        }
        Ok(())
    }
}
