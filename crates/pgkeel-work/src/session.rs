//! Sessions: a row in `pgkeel_work.sessions` kept alive by a heartbeat. A session that cannot
//! renew before its deadline expires locally — before the database deadline, by a safety margin
//! — and every later call on it fails with `SessionExpired`; start a new one.

mod heartbeat;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgkeel_conn::{Pool, Wait};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::reaper;
use crate::telemetry;

pub(crate) use state::State;

/// What a session is and how often it proves it is alive.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// What runs the session (e.g. `"provisioner"`), for operators.
    pub component: String,
    /// Anything about the process (host, pid, version), stored as JSON with the session.
    pub runtime_info: serde_json::Value,
    /// The session lives this long after each renewal; the heartbeat renews every half of it.
    pub interval: Duration,
    /// The session expires locally this long before its database deadline, so a worker stops
    /// before another session may take its work. `None`: a tenth of the interval. Must be
    /// below half the interval.
    pub safety_margin: Option<Duration>,
    /// How often a transaction is retried after a serialization failure or deadlock (40001,
    /// 40P01).
    pub max_retries: u32,
}

impl Default for SessionConfig {
    /// Component `pgkeel`, no runtime info, a 10 s interval, the default margin, 5 retries.
    fn default() -> Self {
        SessionConfig {
            component: "pgkeel".to_owned(),
            runtime_info: serde_json::Value::Object(serde_json::Map::new()),
            interval: Duration::from_secs(10),
            safety_margin: None,
            max_retries: 5,
        }
    }
}

impl SessionConfig {
    /// A config for `component` with `interval` and the other defaults.
    pub fn new(component: impl Into<String>, interval: Duration) -> Self {
        SessionConfig {
            component: component.into(),
            interval,
            ..SessionConfig::default()
        }
    }

    /// The margin in force.
    pub fn effective_margin(&self) -> Duration {
        self.safety_margin.unwrap_or(self.interval / 10)
    }

    fn validate(&self) -> Result<i32, Error> {
        let ms = self.interval.as_millis();
        if ms < 10 {
            return Err(Error::config("the session interval must be at least 10 ms"));
        }
        let ms = i32::try_from(ms)
            .map_err(|_| Error::config("the session interval must be below 24 days"))?;
        if self.effective_margin() >= self.interval / 2 {
            return Err(Error::config(format!(
                "the safety margin ({:?}) must be below half the interval ({:?}), or the \
                 session would expire before its next heartbeat",
                self.effective_margin(),
                self.interval
            )));
        }
        if self.component.is_empty() {
            return Err(Error::config("the session's component must not be empty"));
        }
        Ok(ms)
    }
}

/// A live session. Cheap to clone; the heartbeat stops when the last clone is dropped (the
/// session then expires in the database after its interval, and the reaper frees its work).
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) state: Arc<State>,
    pub(crate) pool: Pool,
    pub(crate) max_retries: u32,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("component", &self.inner.state.component)
            .field("expired", &self.expired())
            .finish()
    }
}

impl Session {
    /// Inserts the session row (deadline = now + interval) and starts the heartbeat, on a
    /// connection of its own made from the pool's settings. Transactions of the session use
    /// `pool`. Fails on a bad config, or when the database does not answer within the pool's
    /// connect timeout plus the interval (transient: try again).
    pub async fn start(pool: &Pool, config: SessionConfig) -> Result<Session, Error> {
        let interval_ms = config.validate()?;
        let pool_config = pool.config();
        let mut link = heartbeat::Link::new(pool_config.connector());
        let limit = pool_config.connect_timeout + config.interval;
        let (id, sent) = tokio::time::timeout(
            limit,
            link.insert(&config.component, &config.runtime_info, interval_ms),
        )
        .await
        .map_err(|_| Error::unreachable("starting a session", limit))?
        .map_err(|e| e.into_error("starting a session"))?;
        let state = Arc::new(State::new(
            id,
            config.component.clone(),
            config.interval,
            config.effective_margin(),
            sent,
        ));
        let stop = CancellationToken::new();
        tokio::spawn(heartbeat::run(Arc::clone(&state), link, stop.clone(), sent));
        ::metrics::counter!(telemetry::SESSIONS_STARTED, "component" => config.component.clone())
            .increment(1);
        tracing::info!(session = id, component = %config.component, interval_ms, "session started");
        Ok(Session {
            inner: Arc::new(Inner {
                state,
                pool: pool.clone(),
                max_retries: config.max_retries,
                stop,
            }),
        })
    }

    /// The session's id (`pgkeel_work.sessions.id`).
    pub fn id(&self) -> i64 {
        self.inner.state.id
    }

    /// The component given at start.
    pub fn component(&self) -> &str {
        &self.inner.state.component
    }

    /// The pool its transactions use.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// True once the session expired locally (its local deadline passed without a renewal, the
    /// database said it is gone, or it was closed). Never goes back to false.
    pub fn expired(&self) -> bool {
        self.inner.state.expired()
    }

    /// Time left before the session expires locally unless renewed; `None` once expired.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner.state.remaining()
    }

    /// The local deadline (it moves on with each renewal).
    pub fn deadline(&self) -> Instant {
        self.inner.state.deadline()
    }

    /// A token cancelled when the session expires locally or is closed: a worker selects on
    /// `expiry().cancelled()` to stop its work in time. Cancelling it does not affect the
    /// session.
    pub fn expiry(&self) -> CancellationToken {
        self.inner.state.token().child_token()
    }

    /// Ends the session: it expires locally at once, its heartbeat stops, and its row is
    /// deleted, which releases its work (and sets its running jobs back to available).
    pub async fn close(&self) -> Result<(), Error> {
        let state = &self.inner.state;
        state.close();
        self.inner.stop.cancel();
        let id = state.id;
        self.inner
            .pool
            .run_idempotent(Wait::UpTo(state.interval), |client| async move {
                reaper::release_session(&client, id).await
            })
            .await?;
        Ok(())
    }
}
