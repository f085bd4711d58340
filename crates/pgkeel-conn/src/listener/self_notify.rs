//! The delivery probe: a notification the listener sends itself on a private channel, through a
//! connection of its own (never the listening one), that must come back on the listening
//! connection. Behind a pooler in transaction mode LISTEN runs on a server connection that goes
//! back to the pool, so the probe never comes back and the listener knows it is deaf.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pgkeel_net::{Database, describe_postgres};
use pgkeel_wire::sql::{quote_ident, quote_literal};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::backoff::Jitter;

/// A probe on its way: resolves when the NOTIFY committed (or could not be sent).
pub(super) type Sending = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The private channel and the sending connection (opened on first use, reopened after a
/// failure), shared by every connection of one listener.
#[derive(Debug)]
pub(super) struct Prober {
    channel: String,
    database: Database,
    sender: Arc<Mutex<Option<Client>>>,
    sent: u64,
}

impl Prober {
    /// A random `pgkeel_probe_<16 hex>` channel; the sender connects like the listener, with
    /// `application_name` "<listener's> probe".
    pub(super) fn new(database: &Database) -> Self {
        let mut jitter = Jitter::new();
        let random = (jitter.next() * u64::MAX as f64) as u64 ^ u64::from(std::process::id());
        let name = format!("{} probe", database.application_name());
        Prober {
            channel: format!("pgkeel_probe_{random:016x}"),
            database: database.clone().with_application_name(&name),
            sender: Arc::new(Mutex::new(None)),
            sent: 0,
        }
    }

    /// The private channel (LISTEN on it; never delivered to the consumer).
    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// Starts sending the next probe; returns the payload to wait for and the sending.
    pub(super) fn send(&mut self) -> (String, Sending) {
        self.sent += 1;
        let payload = self.sent.to_string();
        let sql = format!(
            "NOTIFY {}, {}",
            quote_ident(&self.channel),
            quote_literal(&payload)
        );
        let slot = Arc::clone(&self.sender);
        let database = self.database.clone();
        let sending = Box::pin(async move {
            let mut sender = slot.lock().await;
            if sender.is_none() {
                let (client, connection) = database
                    .connect()
                    .await
                    .map_err(|e| format!("cannot open the probe's connection: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                *sender = Some(client);
            }
            let Some(client) = sender.as_ref() else {
                return Err("the probe's connection is gone".to_owned());
            };
            match client.simple_query(&sql).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    *sender = None;
                    Err(format!(
                        "the probe could not be sent: {}",
                        describe_postgres(&e)
                    ))
                }
            }
        });
        (payload, sending)
    }
}
