//! Reconnect hooks: work that must succeed before the pool says Ready again, such as reloading
//! a cache from the database. A failing hook fails the attempt (retried with backoff), unless
//! its error is fatal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::class::ErrorClass;
use crate::error::{Error, Kind};
use crate::pool::Conn;
use crate::supervisor::Shared;

/// The error a hook may return.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

type HookFn =
    dyn Fn(Conn) -> Pin<Box<dyn Future<Output = Result<(), HookError>> + Send>> + Send + Sync;

/// A named hook.
#[derive(Clone)]
pub(crate) struct Hook {
    name: String,
    run: Arc<HookFn>,
}

impl Hook {
    pub(crate) fn new<F, Fut>(name: &str, hook: F) -> Self
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        Hook {
            name: name.to_owned(),
            run: Arc::new(move |client| Box::pin(hook(client))),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs the hook on a pooled connection, within the hook timeout.
    pub(crate) async fn run(&self, shared: &Shared) -> Result<(), Error> {
        let client = shared
            .pool
            .timeout_get(&shared.timeouts())
            .await
            .map_err(|e| {
                self.error(
                    ErrorClass::Transient,
                    format!("no connection for the hook: {e}"),
                )
            })?;
        let timeout = shared.config.hook_timeout;
        match tokio::time::timeout(timeout, (self.run)(Conn::new(client))).await {
            Err(_) => Err(self.error(
                ErrorClass::Transient,
                format!("no result within {timeout:?}"),
            )),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let class = match e.downcast_ref::<tokio_postgres::Error>() {
                    Some(pg) if shared.config.classifier.classify(pg) == ErrorClass::Fatal => {
                        ErrorClass::Fatal
                    }
                    _ => ErrorClass::Transient,
                };
                let message = match e
                    .downcast_ref::<tokio_postgres::Error>()
                    .and_then(|pg| pg.as_db_error())
                {
                    Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                    None => e.to_string(),
                };
                Err(self.error(class, message))
            }
        }
    }

    fn error(&self, class: ErrorClass, message: String) -> Error {
        Error::new(Kind::Hook {
            name: self.name.clone(),
            class,
            message,
        })
    }
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hook({})", self.name)
    }
}
