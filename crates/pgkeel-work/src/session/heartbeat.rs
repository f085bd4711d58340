//! The heartbeat: on a connection of its own (so a busy pool cannot starve it), it renews the
//! session every interval/2 and, when a renewal fails, retries with short pauses until the local
//! deadline — BMDB's loop gave up on the first transient error. A session already past its
//! deadline in the database is never revived.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgkeel_net::{ConnectError, Database, describe_postgres};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Statement};
use tokio_util::sync::CancellationToken;

use super::state::State;
use crate::error::Error;
use crate::telemetry;

const INSERT: &str = "INSERT INTO pgkeel_work.sessions (component, runtime_info, interval_ms, deadline) \
     VALUES ($1, $2, $3::integer, clock_timestamp() + $3::integer * interval '1 millisecond') \
     RETURNING id";

const RENEW: &str = "UPDATE pgkeel_work.sessions \
     SET deadline = clock_timestamp() + interval_ms * interval '1 millisecond' \
     WHERE id = $1 AND deadline > clock_timestamp()";

/// First pause after a failed renewal; it doubles up to interval/8.
const FIRST_PAUSE: Duration = Duration::from_millis(20);

/// The heartbeat's own connection, opened on demand (through pgkeel-net's connector) and
/// dropped after any failure.
pub(crate) struct Link {
    database: Database,
    open: Option<Open>,
}

/// Why the link failed: connecting, or a statement on it.
#[derive(Debug)]
pub(crate) enum LinkError {
    Connect(ConnectError),
    Query(tokio_postgres::Error),
}

impl LinkError {
    /// The crate's error, naming `what` failed.
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            LinkError::Connect(e) => Error::connect(what, e),
            LinkError::Query(e) => Error::postgres(what, e),
        }
    }
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Connect(e) => write!(f, "{e}"),
            LinkError::Query(e) => f.write_str(&describe_postgres(e)),
        }
    }
}

impl From<tokio_postgres::Error> for LinkError {
    fn from(e: tokio_postgres::Error) -> Self {
        LinkError::Query(e)
    }
}

struct Open {
    client: Client,
    task: JoinHandle<()>,
    renew: Option<Statement>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// A link to `database` (its connect timeout applied), not opened yet.
    pub(crate) fn new(database: Database) -> Self {
        Link {
            database,
            open: None,
        }
    }

    async fn open(&mut self) -> Result<&mut Open, LinkError> {
        if self.open.as_ref().is_some_and(|o| o.client.is_closed()) {
            self.open = None;
        }
        let open = match self.open.take() {
            Some(open) => open,
            None => {
                let (client, connection) =
                    self.database.connect().await.map_err(LinkError::Connect)?;
                let task = tokio::spawn(async move {
                    let _ = connection.await;
                });
                Open {
                    client,
                    task,
                    renew: None,
                }
            }
        };
        Ok(self.open.insert(open))
    }

    /// Inserts the session row; returns its id and when the insert was sent.
    pub(crate) async fn insert(
        &mut self,
        component: &str,
        runtime_info: &serde_json::Value,
        interval_ms: i32,
    ) -> Result<(i64, Instant), LinkError> {
        let open = self.open().await?;
        let sent = Instant::now();
        let row = open
            .client
            .query_one(INSERT, &[&component, runtime_info, &interval_ms])
            .await?;
        Ok((row.try_get(0)?, sent))
    }

    /// Renews session `id`; returns when the renewal was sent, or `None` when the session is
    /// gone or already past its deadline in the database.
    async fn renew(&mut self, id: i64) -> Result<Option<Instant>, LinkError> {
        let open = self.open().await?;
        let statement = match &open.renew {
            Some(s) => s.clone(),
            None => {
                let s = open.client.prepare(RENEW).await?;
                open.renew = Some(s.clone());
                s
            }
        };
        let sent = Instant::now();
        let n = open.client.execute(&statement, &[&id]).await?;
        Ok((n == 1).then_some(sent))
    }

    fn reset(&mut self) {
        self.open = None;
    }
}

enum Renewal {
    Done(Instant),
    Stop,
}

/// Runs until the session expires, is closed, or its last handle is dropped (`stop`).
pub(crate) async fn run(state: Arc<State>, mut link: Link, stop: CancellationToken, sent: Instant) {
    let half = state.interval / 2;
    let mut next = sent + half;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = state.token().cancelled() => return,
            _ = tokio::time::sleep_until(state.deadline().into()) => {
                state.expired();
                return;
            }
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        match renew(&state, &mut link, &stop).await {
            Renewal::Done(sent) => next = sent + half,
            Renewal::Stop => return,
        }
    }
}

/// One renewal, retried until it succeeds or the local deadline passes.
async fn renew(state: &State, link: &mut Link, stop: &CancellationToken) -> Renewal {
    let mut pause = FIRST_PAUSE;
    let longest_pause = (state.interval / 8).max(FIRST_PAUSE);
    loop {
        let Some(left) = state.remaining() else {
            return Renewal::Stop;
        };
        // Half of what is left, so a stuck connection still leaves time for a fresh one.
        let budget = (left / 2).max(left.min(Duration::from_millis(50)));
        let attempt = tokio::time::timeout(budget, link.renew(state.id));
        let outcome = tokio::select! {
            _ = stop.cancelled() => return Renewal::Stop,
            _ = state.token().cancelled() => return Renewal::Stop,
            // Tell the session's users at the deadline, not when the attempt gives up.
            _ = tokio::time::sleep_until(state.deadline().into()) => {
                state.expired();
                return Renewal::Stop;
            }
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(Ok(Some(sent))) => {
                state.renewed(sent);
                return Renewal::Done(sent);
            }
            Ok(Ok(None)) => {
                state.expire("the session is gone or past its deadline in the database");
                return Renewal::Stop;
            }
            Ok(Err(e)) => {
                tracing::warn!(
                    session = state.id,
                    error = %e,
                    "heartbeat failed; retrying until the deadline"
                );
                link.reset();
            }
            Err(_) => {
                tracing::warn!(
                    session = state.id,
                    waited_ms = budget.as_millis() as u64,
                    "heartbeat got no answer; reconnecting and retrying until the deadline"
                );
                link.reset();
            }
        }
        ::metrics::counter!(telemetry::HEARTBEAT_FAILURES, "component" => state.component.clone())
            .increment(1);
        let left = state.deadline().saturating_duration_since(Instant::now());
        tokio::select! {
            _ = stop.cancelled() => return Renewal::Stop,
            _ = state.token().cancelled() => return Renewal::Stop,
            _ = tokio::time::sleep(pause.min(left)) => {}
        }
        pause = (pause * 2).min(longest_pause);
    }
}
