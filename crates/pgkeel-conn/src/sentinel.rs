//! The supervisor's own connection: proves the database is reachable, notices at once when
//! the server closes it, and is probed with `SELECT 1` so a silent (stalled) link is noticed
//! within the keepalive time.

use std::time::Duration;

use pgkeel_net::{Database, describe_postgres};
use tokio::sync::oneshot;

use crate::class::Classifier;
use crate::error::{Error, Kind};

pub(crate) struct Sentinel {
    client: tokio_postgres::Client,
    ended: oneshot::Receiver<String>,
}

impl Sentinel {
    /// Connects (within the database's connect timeout) and checks the server version
    /// (within the same time).
    pub(crate) async fn connect(
        database: &Database,
        classifier: &Classifier,
        min_server_version: u32,
    ) -> Result<Self, Error> {
        let timeout = database.connect_timeout();
        let (client, connection) = database
            .connect()
            .await
            .map_err(|e| Error::connect(e, classifier))?;
        let (tell, ended) = oneshot::channel();
        tokio::spawn(async move {
            let cause = match connection.await {
                Ok(()) => "the server closed the connection".to_owned(),
                Err(e) => describe_postgres(&e),
            };
            let _ = tell.send(cause);
        });
        let sentinel = Sentinel { client, ended };
        let version = tokio::time::timeout(
            timeout,
            sentinel
                .client
                .query_one("SELECT current_setting('server_version_num')::int", &[]),
        )
        .await
        .map_err(|_| Error::new(Kind::Stalled(timeout)))?
        .map_err(|e| {
            Error::postgres(
                classifier.classify(&e),
                "reading the server version failed",
                e,
            )
        })?;
        let version: i32 = version.get(0);
        if (version as u32) < min_server_version {
            return Err(Error::new(Kind::Fatal {
                message: format!(
                    "the server runs PostgreSQL {} (server_version_num {version}), older than the \
                     minimum {min_server_version}; upgrade the server or lower the minimum",
                    version / 10_000
                ),
            }));
        }
        Ok(sentinel)
    }

    /// Runs `SELECT 1`; an error or no answer within `timeout` means the link is lost.
    pub(crate) async fn probe(
        &self,
        timeout: Duration,
        classifier: &Classifier,
    ) -> Result<(), Error> {
        match tokio::time::timeout(timeout, self.client.simple_query("SELECT 1")).await {
            Err(_) => Err(Error::new(Kind::Stalled(timeout))),
            Ok(Err(e)) => Err(Error::postgres(
                classifier.classify(&e),
                "the keepalive probe failed",
                e,
            )),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Resolves with the cause once the server (or the network) ends the connection.
    pub(crate) async fn ended(&mut self) -> String {
        (&mut self.ended)
            .await
            .unwrap_or_else(|_| "the connection task stopped".to_owned())
    }
}
