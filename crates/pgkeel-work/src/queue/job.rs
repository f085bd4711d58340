//! What goes into the queue (`NewJob`) and what a worker gets out of it (`Job`).

use std::time::{Duration, SystemTime};

use tokio_postgres::Row;

/// The queue a job goes to unless [`NewJob::queue`] names another.
pub const DEFAULT_QUEUE: &str = "default";

/// How often a job is tried, in all, unless [`NewJob::max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 25;

/// Longest queue name: it is the payload of the wake-up notification (under 8000 bytes).
pub const MAX_QUEUE_BYTES: usize = 1000;

/// A job to enqueue. Build it with [`NewJob::new`] and the setters, or fill the fields.
///
/// ```
/// use pgkeel_work::queue::NewJob;
/// let job = NewJob::new("send_mail", serde_json::json!({"to": "a@example.com"}))
///     .queue("mail")
///     .priority(10)
///     .unique_key("mail:welcome:42");
/// assert_eq!(job.max_attempts, 25);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The queue (workers claim from one queue each).
    pub queue: String,
    /// What to do: the handler dispatches on it.
    pub kind: String,
    /// The job's arguments.
    pub payload: serde_json::Value,
    /// Higher runs first among jobs that are due.
    pub priority: i16,
    /// Not before this moment (the database's clock decides); `None` is now.
    pub run_at: Option<SystemTime>,
    /// Tries in all, at least 1; after the last failure the job is quarantined.
    pub max_attempts: i32,
    /// While a job with this key is available or running in the same queue, enqueueing another
    /// one with it does nothing. Completed and quarantined jobs do not count.
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload` on the default queue: priority 0, due now, 25 attempts,
    /// no unique key.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            queue: DEFAULT_QUEUE.to_owned(),
            kind: kind.into(),
            payload,
            priority: 0,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
        }
    }

    /// Sets the queue.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Sets the priority (higher first).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Runs the job no earlier than `at`.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Sets how often the job is tried in all.
    pub fn max_attempts(mut self, attempts: i32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets the unique key.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Checks what the database would refuse, with a message that says what to change.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_attempts < 1 {
            return Err(format!(
                "job {:?}: max_attempts is {}, it must be at least 1",
                self.kind, self.max_attempts
            ));
        }
        if self.queue.is_empty() || self.queue.len() > MAX_QUEUE_BYTES {
            return Err(format!(
                "job {:?}: the queue name must be 1 to {MAX_QUEUE_BYTES} bytes long, it is {}",
                self.kind,
                self.queue.len()
            ));
        }
        Ok(())
    }
}

/// A claimed job: it is `running`, locked by the claiming session, until it is completed
/// (deleted), failed (retried later or quarantined) or rescued after the session expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The job's id.
    pub id: i64,
    /// Its queue.
    pub queue: String,
    /// What to do.
    pub kind: String,
    /// Its arguments.
    pub payload: serde_json::Value,
    /// Its priority.
    pub priority: i16,
    /// When it became due.
    pub run_at: SystemTime,
    /// Tries so far, this one included (1 on the first run).
    pub attempts: i32,
    /// Tries in all before it is quarantined.
    pub max_attempts: i32,
    /// Its unique key, if any.
    pub unique_key: Option<String>,
    /// The error of the previous try, if it failed.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// How long it waited between becoming due (`max(run_at, created_at)`) and the claim.
    pub pickup: Duration,
}

impl Job {
    /// True on the last try: a failure now quarantines the job.
    pub fn is_last_attempt(&self) -> bool {
        self.attempts >= self.max_attempts
    }

    /// The columns `RETURNING`/`SELECT` must list, in this order, for [`Job::from_row`].
    pub(crate) const COLUMNS: &'static str = "j.id, j.queue, j.kind, j.payload, j.priority, \
        j.run_at, j.attempts, j.max_attempts, j.unique_key, j.last_error, j.created_at, \
        greatest(extract(epoch FROM now() - greatest(j.run_at, j.created_at)), 0)::float8";

    pub(crate) fn from_row(row: &Row) -> Result<Job, tokio_postgres::Error> {
        let pickup: f64 = row.try_get(11)?;
        Ok(Job {
            id: row.try_get(0)?,
            queue: row.try_get(1)?,
            kind: row.try_get(2)?,
            payload: row.try_get(3)?,
            priority: row.try_get(4)?,
            run_at: row.try_get(5)?,
            attempts: row.try_get(6)?,
            max_attempts: row.try_get(7)?,
            unique_key: row.try_get(8)?,
            last_error: row.try_get(9)?,
            created_at: row.try_get(10)?,
            pickup: Duration::try_from_secs_f64(pickup).unwrap_or_default(),
        })
    }
}
