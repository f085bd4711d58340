//! `Queue`: the entry point of the job queue (enqueue, claim, complete, fail) and the retry
//! policy it applies to failed jobs. The operations live one per file beside it.

use std::time::Duration;

use pgkeel_conn::Backoff;

/// The job queue in the `pgkeel_work` schema. Cheap to copy; holds only the retry policy.
///
/// Every operation takes an [`Executor`](super::Executor): a client, a transaction (enqueue
/// together with your own writes: the job exists, and the wake-up is sent, only if you
/// commit), a pooled connection or a pool.
///
/// ```no_run
/// # async fn demo(client: &tokio_postgres::Client, session_id: i64) -> Result<(), pgkeel_work::Error> {
/// use pgkeel_work::queue::{NewJob, Queue};
/// let queue = Queue::new();
/// queue.enqueue(client, &NewJob::new("resize", serde_json::json!({"image": 7}))).await?;
/// for job in queue.claim(client, session_id, "default", 10).await? {
///     // ... run it, then:
///     queue.complete(client, session_id, &[job.id]).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Queue {
    pub(crate) retry: Backoff,
}

impl Default for Queue {
    fn default() -> Self {
        Self::new()
    }
}

impl Queue {
    /// The default retry policy: 1 s after the first failure, doubling up to 1 h, each delay
    /// shortened by up to 25 % at random so failed jobs do not come back together.
    pub const DEFAULT_RETRY: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(3600),
        jitter: 0.25,
    };

    /// A queue with the default retry policy.
    pub fn new() -> Self {
        Queue {
            retry: Self::DEFAULT_RETRY,
        }
    }

    /// A queue whose failed jobs come back after `retry.delay(attempts)`: `base`, doubling
    /// per attempt up to `cap`, minus up to `jitter` of it at random.
    pub fn with_retry(retry: Backoff) -> Self {
        Queue { retry }
    }

    /// The retry policy.
    pub fn retry(&self) -> Backoff {
        self.retry
    }
}
