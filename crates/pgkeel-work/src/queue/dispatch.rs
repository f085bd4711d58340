//! The worker's claim loop: wait for a wake-up, claim up to the free concurrency in one
//! statement, run each job's handler in a task of its own, and hand its result to the
//! flusher; on stop, claim nothing more and let the running handlers finish.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pgkeel_conn::Pool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::claim::{claim_jobs, idle};
use super::flush::Done;
use super::job::Job;
use super::rescue::rescue;
use super::stats::Counters;
use super::wake::{Wake, Woken};
use super::worker::WorkerConfig;
use crate::error::Error;

/// First pause after a failed claim; it doubles up to `ERROR_DELAY_CAP` (or the polling
/// interval, if shorter).
const ERROR_DELAY: Duration = Duration::from_millis(50);
const ERROR_DELAY_CAP: Duration = Duration::from_secs(5);

/// Everything the claim loop works with.
pub(crate) struct Dispatch<H> {
    pub(crate) pool: Pool,
    pub(crate) session_id: i64,
    pub(crate) config: WorkerConfig,
    pub(crate) handler: Arc<H>,
    pub(crate) wake: Arc<Wake>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) results: mpsc::Sender<Done>,
    pub(crate) stop: CancellationToken,
    pub(crate) expired: CancellationToken,
}

/// Why the loop ended.
enum End {
    Stopped,
    Expired,
}

/// Runs until stopped or the session expired; returns once no more handlers will be started
/// (running ones still hold their result senders).
pub(crate) async fn run<H, Fut>(d: Dispatch<H>) -> Result<(), Error>
where
    H: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let queue = d.config.queue.as_str();
    let slots = Arc::new(Semaphore::new(d.config.concurrency));
    let want = d.config.batch.min(d.config.concurrency);
    let mut more = true;
    let mut error_delay = ERROR_DELAY;
    let mut next_rescue = d.config.rescue.map(|_| Instant::now());
    let end = loop {
        if d.expired.is_cancelled() {
            break End::Expired;
        }
        if !more {
            let woken = tokio::select! {
                woken = d.wake.wait(d.config.poll, &d.stop) => woken,
                () = d.expired.cancelled() => break End::Expired,
            };
            if woken == Woken::Stop {
                break End::Stopped;
            }
        }
        if d.stop.is_cancelled() {
            break End::Stopped;
        }
        if let (Some(at), Some(every)) = (next_rescue, d.config.rescue)
            && Instant::now() >= at
        {
            if let Err(e) = rescue(&d.pool).await {
                tracing::warn!(%queue, error = %e, "cannot rescue the jobs of expired sessions");
            }
            next_rescue = Some(Instant::now() + every);
        }
        let mut permits = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break End::Stopped,
            },
            () = d.stop.cancelled() => break End::Stopped,
            () = d.expired.cancelled() => break End::Expired,
        };
        take_free(&slots, &mut permits, want);
        let half = want.div_ceil(2);
        if more && permits.num_permits() < half {
            // The queue has more: let a few more slots free up so the claim is worth it.
            let missing = u32::try_from(half - permits.num_permits()).unwrap_or(u32::MAX);
            let more_slots = Arc::clone(&slots).acquire_many_owned(missing);
            if let Ok(Ok(extra)) = tokio::time::timeout(d.config.linger, more_slots).await {
                permits.merge(extra);
            }
            take_free(&slots, &mut permits, want);
        }
        let n = permits.num_permits();
        d.counters.claims.fetch_add(1, Ordering::Relaxed);
        let jobs = match claim_jobs(&d.pool, d.session_id, queue, n).await {
            Ok(jobs) => jobs,
            Err(e) => {
                drop(permits);
                tracing::warn!(%queue, session = d.session_id, error = %e, retry_in = ?error_delay, "claiming jobs failed");
                tokio::select! {
                    () = tokio::time::sleep(error_delay) => {}
                    () = d.stop.cancelled() => break End::Stopped,
                    () = d.expired.cancelled() => break End::Expired,
                }
                error_delay = (error_delay * 2).min(ERROR_DELAY_CAP.min(d.config.poll));
                more = true;
                continue;
            }
        };
        error_delay = ERROR_DELAY;
        more = jobs.len() == n;
        if !jobs.is_empty() {
            d.counters.claimed(jobs.iter().map(|j| j.pickup));
        }
        for job in jobs {
            let Some(permit) = permits.split(1) else {
                break;
            };
            spawn_handler(&d, job, permit);
        }
        drop(permits);
        if !more {
            match idle(&d.pool, d.session_id, queue).await {
                Ok(idle) if !idle.alive => break End::Expired,
                Ok(idle) => {
                    if let Some(at) = idle.next_run_at {
                        d.wake.due_at(at);
                    }
                }
                Err(e) => {
                    tracing::debug!(%queue, error = %e, "cannot look up the next due job");
                }
            }
        }
    };
    match end {
        End::Stopped => {
            tracing::debug!(%queue, session = d.session_id, "worker stopping");
            Ok(())
        }
        End::Expired => {
            tracing::warn!(%queue, session = d.session_id, "the worker's session expired; it claims no more jobs");
            Err(Error::session_expired())
        }
    }
}

/// Adds free slots to `permits`, up to `want` in all.
fn take_free(slots: &Arc<Semaphore>, permits: &mut OwnedSemaphorePermit, want: usize) {
    let room = want
        .saturating_sub(permits.num_permits())
        .min(slots.available_permits());
    if room > 0
        && let Ok(extra) =
            Arc::clone(slots).try_acquire_many_owned(u32::try_from(room).unwrap_or(u32::MAX))
    {
        permits.merge(extra);
    }
}

/// Runs `job` in a task of its own; its slot is freed once the result is handed over.
fn spawn_handler<H, Fut>(d: &Dispatch<H>, job: Job, permit: OwnedSemaphorePermit)
where
    H: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let handler = Arc::clone(&d.handler);
    let results = d.results.clone();
    let counters = Arc::clone(&d.counters);
    counters.running.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let id = job.id;
        let outcome = CatchUnwind(Box::pin(async move { handler(job).await }))
            .await
            .unwrap_or_else(|panic| Err(format!("the handler panicked: {panic}")));
        counters.running.fetch_sub(1, Ordering::Relaxed);
        if results.send(Done { id, outcome }).await.is_err() {
            counters.lost.fetch_add(1, Ordering::Relaxed);
        }
        drop(permit);
    });
}

/// A future whose panic becomes an error value (the job fails instead of staying locked).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}
