//! `Session::transact`: a READ COMMITTED transaction on a pooled connection that first checks,
//! and locks (`FOR KEY SHARE`, so the reaper cannot delete it meanwhile), that the session is
//! alive; serialization failures and deadlocks are retried a bounded number of times.

use std::future::Future;
use std::ops::Deref;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pgkeel_conn::{Conn, Jitter, OpError, Outcome, Wait};
use tokio_postgres::SimpleQueryMessage;

use crate::error::Error;
use crate::session::Session;
use crate::telemetry;

/// The transaction a closure runs in: a pooled connection inside `BEGIN … COMMIT`. It derefs to
/// the client (`query`, `execute`, `prepare_cached`, ...); the transaction itself belongs to
/// `transact`: do not send `COMMIT`, `ROLLBACK` or `SET TRANSACTION`. A transaction must not
/// sit idle (waiting on something other than the database) longer than the session interval:
/// the server then ends it, so a stalled owner cannot hold its locks for ever.
pub struct Tx {
    conn: Conn,
    session: i64,
}

impl Tx {
    /// The id of the session the transaction runs for.
    pub fn session_id(&self) -> i64 {
        self.session
    }

    pub(crate) fn fork(&self) -> Tx {
        Tx {
            conn: self.conn.clone(),
            session: self.session,
        }
    }
}

impl Deref for Tx {
    type Target = pgkeel_conn::Client;

    fn deref(&self) -> &pgkeel_conn::Client {
        &self.conn
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("session", &self.session)
            .finish()
    }
}

/// Why the body of a transaction stopped: a database error (classified, maybe retried) or one
/// of ours (returned as is).
pub(crate) enum Failure {
    Postgres(tokio_postgres::Error),
    Stop(Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Postgres(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Stop(e)
    }
}

impl Failure {
    /// The error of a caller's closure.
    pub(crate) fn from_op(e: impl Into<OpError>) -> Self {
        match e.into() {
            OpError::Postgres(pg) => Failure::Postgres(pg),
            OpError::Other(other) => match other.downcast::<Error>() {
                Ok(ours) => Failure::Stop(*ours),
                Err(other) => Failure::Stop(Error::new(crate::error::Kind::Closure(other))),
            },
        }
    }
}

impl Session {
    /// Runs `body` in a transaction of this session and commits. The transaction first checks
    /// that the session is alive in the database and locks its row against the reaper; a
    /// session that expired (locally or in the database) fails with `SessionExpired` and stays
    /// expired. Serialization failures and deadlocks (40001, 40P01) roll back and run `body`
    /// again, up to `SessionConfig::max_retries` times with short jittered pauses; any other
    /// error rolls back and is returned (a lost connection: the transaction did not commit,
    /// unless it was lost during the COMMIT). The call waits for the pool at most until the
    /// session's local deadline.
    ///
    /// `body` gets the transaction by value and returns a future, like `Pool::run`'s
    /// operations; its error is anything that converts into `pgkeel_conn::OpError`:
    /// `tokio_postgres::Error`, this crate's `Error`, or `Box<dyn Error + Send + Sync>`.
    ///
    /// ```no_run
    /// # async fn demo(session: &pgkeel_work::Session) -> Result<(), pgkeel_work::Error> {
    /// let name = "machine-1";
    /// let n: i64 = session
    ///     .transact(|tx| async move {
    ///         tx.execute("UPDATE machines SET seen = seen + 1 WHERE name = $1", &[&name])
    ///             .await?;
    ///         let row = tx
    ///             .query_one("SELECT seen FROM machines WHERE name = $1", &[&name])
    ///             .await?;
    ///         Ok::<_, tokio_postgres::Error>(row.get(0))
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn transact<T, E, F, Fut>(&self, mut body: F) -> Result<T, Error>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<OpError>,
    {
        self.run_tx(|tx| {
            let fut = body(tx);
            async move { fut.await.map_err(Failure::from_op) }
        })
        .await
    }

    /// The transaction loop behind `transact`, `work`, `finish`, ...
    pub(crate) async fn run_tx<T, F, Fut>(&self, body: F) -> Result<T, Error>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let state = &self.inner.state;
        let idle_ms = state.interval.as_millis();
        let body = Mutex::new(body);
        let mut jitter = Jitter::new();
        let mut retries = 0u32;
        loop {
            let Some(left) = state.remaining() else {
                telemetry::transaction_failed("session_expired");
                return Err(Error::session_expired());
            };
            let id = state.id;
            let body = &body;
            let result = self
                .inner
                .pool
                .run(Wait::UpTo(left), |conn| attempt(conn, id, idle_ms, body))
                .await;
            let error = match result {
                Ok(Outcome {
                    value: Step::Done(v),
                    ..
                }) => {
                    ::metrics::counter!(telemetry::TRANSACTIONS_COMMITTED).increment(1);
                    return Ok(v);
                }
                Ok(Outcome {
                    value: Step::Expired,
                    ..
                }) => {
                    state.expire("the database says the session is gone or past its deadline");
                    telemetry::transaction_failed("session_expired");
                    return Err(Error::session_expired());
                }
                Ok(Outcome {
                    value: Step::Failed(e),
                    ..
                }) => e,
                Err(e) => Error::from(e),
            };
            if error.is_retryable_conflict() && retries < self.inner.max_retries {
                retries += 1;
                ::metrics::counter!(telemetry::TRANSACTIONS_RETRIED).increment(1);
                tracing::debug!(session = id, retries, %error, "transaction conflict; retrying");
                let pause = RETRY_PAUSE.delay(retries, jitter.next());
                tokio::time::sleep(pause).await;
                continue;
            }
            telemetry::transaction_failed(if error.is_retryable_conflict() {
                "conflict"
            } else {
                "error"
            });
            return Err(error);
        }
    }
}

/// Pauses before retrying a conflict: 5 ms doubling to 200 ms, half of each random.
const RETRY_PAUSE: pgkeel_conn::Backoff = pgkeel_conn::Backoff {
    base: Duration::from_millis(5),
    cap: Duration::from_millis(200),
    jitter: 0.5,
};

/// How an attempt ended, unless the database failed it.
enum Step<T> {
    Done(T),
    /// The session check found no live session row.
    Expired,
    /// The body stopped with one of this crate's errors (or the caller's own).
    Failed(Error),
}

/// One attempt: BEGIN and the session check in one round trip, the body, COMMIT. Errors of the
/// database go to the pool (which classifies them); ours come back as `Ok(Step::Failed(_))`.
async fn attempt<T, F, Fut>(
    conn: Conn,
    session: i64,
    idle_ms: u128,
    body: &Mutex<F>,
) -> Result<Step<T>, tokio_postgres::Error>
where
    F: FnMut(Tx) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    // Rolls back unless committed, however this attempt ends (errors, or the future dropped).
    let guard = RollbackGuard(Some(conn.clone()));
    let begin = format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SET LOCAL idle_in_transaction_session_timeout = {idle_ms}; \
         SELECT 1 FROM pgkeel_work.sessions \
         WHERE id = {session} AND deadline > clock_timestamp() FOR KEY SHARE"
    );
    let replies = conn.simple_query(&begin).await?;
    if !replies
        .iter()
        .any(|m| matches!(m, SimpleQueryMessage::Row(_)))
    {
        return Ok(Step::Expired);
    }
    let tx = Tx {
        conn: conn.clone(),
        session,
    };
    let fut = {
        let mut body = body.lock().unwrap_or_else(PoisonError::into_inner);
        (body)(tx)
    };
    match fut.await {
        Ok(value) => {
            // The SELECT fails (25P02) if the body swallowed an error and the transaction is
            // aborted: COMMIT would then roll back without saying so.
            conn.batch_execute("SELECT 1; COMMIT").await?;
            guard.disarm();
            Ok(Step::Done(value))
        }
        Err(Failure::Postgres(e)) => Err(e),
        Err(Failure::Stop(e)) => Ok(Step::Failed(e)),
    }
}

/// How long a rollback after an abandoned attempt may take before the connection is given up.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends ROLLBACK when dropped armed. The connection returns to the pool only after it.
struct RollbackGuard(Option<Conn>);

impl RollbackGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RollbackGuard {
    fn drop(&mut self) {
        let Some(conn) = self.0.take() else {
            return;
        };
        if conn.is_closed() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let rolled_back =
                    tokio::time::timeout(ROLLBACK_TIMEOUT, conn.batch_execute("ROLLBACK")).await;
                if !matches!(rolled_back, Ok(Ok(()))) {
                    tracing::warn!("rolling back an abandoned transaction failed");
                }
            });
        }
    }
}
