//! `Worker`: runs the jobs of one queue with a handler — claims up to its free concurrency in
//! batches, runs handlers concurrently, records results in batches, wakes on NOTIFY, polls as
//! a fallback, and stops (finishing what runs) on its token or when its session expires.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pgkeel_conn::{Backoff, Pool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, Dispatch};
use super::flush::{self, Flusher};
use super::handle::Queue;
use super::job::{DEFAULT_QUEUE, Job, MAX_QUEUE_BYTES};
use super::stats::{Counters, WorkerStats};
use super::wake::{self, Wake};
use crate::error::{Error, Kind};

/// Most handlers a worker runs at once.
pub const MAX_CONCURRENCY: usize = 100_000;
/// Most jobs a worker claims (or records) per statement.
pub const MAX_BATCH: usize = 10_000;

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The queue to run jobs of.
    pub queue: String,
    /// Handlers running at once, at most.
    pub concurrency: usize,
    /// Jobs claimed per statement, at most (and results recorded per statement).
    pub batch: usize,
    /// Look for due jobs at least this often, even without a notification: covers lost
    /// notifications (and jobs inserted without one).
    pub poll: Duration,
    /// A partial batch waits at most this long to fill: results before they are recorded,
    /// and — while the queue has more — free slots before the next claim.
    pub linger: Duration,
    /// When a failed job is tried again (see [`Queue::with_retry`]).
    pub retry: Backoff,
    /// Wake up on notifications (a LISTEN connection of its own); without it only `poll`
    /// finds new jobs.
    pub listen: bool,
    /// Rescue the running jobs of expired sessions this often (see
    /// [`rescue`](super::rescue)); `None` leaves that to the reaper.
    pub rescue: Option<Duration>,
    /// Stops the worker when cancelled (running jobs finish, their results are recorded).
    pub shutdown: CancellationToken,
    /// Cancel it when the worker's session expired: the worker stops claiming, lets running
    /// jobs finish and ends with [`Error::is_session_expired`].
    pub session_expired: CancellationToken,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self::new(DEFAULT_QUEUE)
    }
}

impl WorkerConfig {
    /// Runs jobs of `queue`: 16 at once, claimed up to 16 per statement, polling every
    /// second, recording results within 2 ms, default retries, listening, rescuing every
    /// 30 s.
    pub fn new(queue: impl Into<String>) -> Self {
        WorkerConfig {
            queue: queue.into(),
            concurrency: 16,
            batch: 16,
            poll: Duration::from_secs(1),
            linger: Duration::from_millis(2),
            retry: Queue::DEFAULT_RETRY,
            listen: true,
            rescue: Some(Duration::from_secs(30)),
            shutdown: CancellationToken::new(),
            session_expired: CancellationToken::new(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.queue.is_empty() || self.queue.len() > MAX_QUEUE_BYTES {
            return Err(Error::config(format!(
                "the worker's queue name must be 1 to {MAX_QUEUE_BYTES} bytes long"
            )));
        }
        if self.concurrency == 0 || self.batch == 0 {
            return Err(Error::config(
                "a worker needs a concurrency and a batch of at least 1",
            ));
        }
        if self.concurrency > MAX_CONCURRENCY || self.batch > MAX_BATCH {
            return Err(Error::config(format!(
                "a worker runs at most {MAX_CONCURRENCY} jobs at once and claims at most \
                 {MAX_BATCH} per statement (asked: concurrency {}, batch {})",
                self.concurrency, self.batch
            )));
        }
        if self.poll.is_zero() {
            return Err(Error::config(
                "the worker's polling interval must be above zero",
            ));
        }
        if self.rescue.is_some_and(|d| d.is_zero()) {
            return Err(Error::config(
                "the worker's rescue interval must be above zero",
            ));
        }
        Ok(())
    }
}

/// Runs the jobs of one queue for one session until stopped.
///
/// ```no_run
/// # async fn demo(pool: pgkeel_conn::Pool, session_id: i64) -> Result<(), pgkeel_work::Error> {
/// use pgkeel_work::queue::{Worker, WorkerConfig};
/// let worker = Worker::start(pool, session_id, WorkerConfig::new("mail"), |job| async move {
///     match job.kind.as_str() {
///         "send" => Ok(()),
///         other => Err(format!("unknown job kind {other}")),
///     }
/// })?;
/// // ...
/// worker.shutdown().await?; // running jobs finish, their results are recorded
/// # Ok(()) }
/// ```
///
/// A handler's `Err(text)` fails the job (retried after a backoff, quarantined after its last
/// attempt); a panic counts as a failure too. Delivery is at least once: a job whose result
/// could not be recorded (the session expired, the database stayed away) runs again.
#[derive(Debug)]
pub struct Worker {
    stop: CancellationToken,
    counters: Arc<Counters>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl Worker {
    /// Checks `config` and starts the worker in the current tokio runtime. `session_id` is a
    /// live session (its row in `pgkeel_work.sessions`); jobs are claimed for it.
    pub fn start<H, Fut>(
        pool: Pool,
        session_id: i64,
        config: WorkerConfig,
        handler: H,
    ) -> Result<Worker, Error>
    where
        H: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        config.validate()?;
        tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("Worker::start must be called within a tokio runtime"))?;
        let stop = config.shutdown.child_token();
        let counters = Arc::new(Counters::default());
        let wake = Arc::new(Wake::new(Arc::clone(&counters)));
        let listener_stop = CancellationToken::new();
        let listener = if config.listen {
            Some(wake::listen(
                pool.config(),
                config.queue.clone(),
                Arc::clone(&wake),
                Arc::clone(&counters),
                &listener_stop,
            )?)
        } else {
            None
        };
        let (results, received) = mpsc::channel(config.batch.max(config.concurrency) * 2);
        let flusher = Flusher {
            pool: pool.clone(),
            session_id,
            queue: Queue::with_retry(config.retry),
            size: config.batch,
            linger: config.linger,
            counters: Arc::clone(&counters),
            wake: Arc::clone(&wake),
        };
        let dispatch = Dispatch {
            pool,
            session_id,
            handler: Arc::new(handler),
            wake,
            counters: Arc::clone(&counters),
            results,
            stop: stop.clone(),
            expired: config.session_expired.clone(),
            config,
        };
        let task = tokio::spawn(async move {
            let flushing = tokio::spawn(flush::run(flusher, received));
            let outcome = dispatch::run(dispatch).await;
            // Every handler holds a sender: the flusher ends after the last one finished and
            // its result was recorded.
            let _ = flushing.await;
            listener_stop.cancel();
            if let Some(listener) = listener {
                let _ = listener.await;
            }
            outcome
        });
        Ok(Worker {
            stop,
            counters,
            task: Some(task),
        })
    }

    /// What the worker did so far.
    pub fn stats(&self) -> WorkerStats {
        self.counters.snapshot()
    }

    /// Asks the worker to stop: it claims nothing more; running jobs finish.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the worker has stopped (after [`Worker::stop`], its shutdown token, or the
    /// end of its session) and every running job finished and was recorded. Fails with
    /// [`Error::is_session_expired`] when the session ended it.
    pub async fn join(mut self) -> Result<(), Error> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| {
                Err(Error::new(Kind::Config(format!(
                    "the worker task failed: {e}"
                ))))
            }),
            None => Ok(()),
        }
    }

    /// Stops the worker and waits for it (see [`Worker::join`]).
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop();
        self.join().await
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
