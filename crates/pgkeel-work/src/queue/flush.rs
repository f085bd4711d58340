//! The worker's result recorder: gathers handler results and records them in batches — one
//! DELETE for the completed jobs and one UPDATE for the failed ones, run side by side — when a
//! batch is full or its first result has waited `linger`. Retries while the database recovers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pgkeel_conn::Pool;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::complete::Failed;
use super::handle::Queue;
use super::stats::Counters;
use super::wake::Wake;
use crate::error::Error;

/// How long recording one batch may be retried before its results are given up (the jobs then
/// run again once the session has expired and they are rescued).
const FLUSH_BUDGET: Duration = Duration::from_secs(60);
const RETRY_DELAY: Duration = Duration::from_millis(50);
const RETRY_DELAY_CAP: Duration = Duration::from_secs(2);

/// A handler's result.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) id: i64,
    pub(crate) outcome: Result<(), String>,
}

/// What the recorder works with.
pub(crate) struct Flusher {
    pub(crate) pool: Pool,
    pub(crate) session_id: i64,
    pub(crate) queue: Queue,
    pub(crate) size: usize,
    pub(crate) linger: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) wake: Arc<Wake>,
}

/// Records results until every sender is gone and the last batch is recorded.
pub(crate) async fn run(f: Flusher, mut results: mpsc::Receiver<Done>) {
    let mut completed: Vec<i64> = Vec::with_capacity(f.size);
    let mut failed: Vec<(i64, String)> = Vec::new();
    let push = |done: Done, completed: &mut Vec<i64>, failed: &mut Vec<(i64, String)>| match done
        .outcome
    {
        Ok(()) => completed.push(done.id),
        Err(error) => failed.push((done.id, error)),
    };
    loop {
        let Some(first) = results.recv().await else {
            break;
        };
        push(first, &mut completed, &mut failed);
        let deadline = tokio::time::Instant::now() + f.linger;
        let mut closed = false;
        while completed.len() + failed.len() < f.size {
            match results.try_recv() {
                Ok(done) => push(done, &mut completed, &mut failed),
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
                Err(TryRecvError::Empty) => {
                    tokio::select! {
                        done = results.recv() => match done {
                            Some(done) => push(done, &mut completed, &mut failed),
                            None => {
                                closed = true;
                                break;
                            }
                        },
                        () = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
        }
        f.record(&mut completed, &mut failed).await;
        if closed {
            break;
        }
    }
}

impl Flusher {
    /// Records one batch, retrying transient failures within `FLUSH_BUDGET`.
    async fn record(&self, completed: &mut Vec<i64>, failed: &mut Vec<(i64, String)>) {
        let started = Instant::now();
        let mut delay = RETRY_DELAY;
        loop {
            let (done, retried) = tokio::join!(
                async {
                    if completed.is_empty() {
                        Ok(0)
                    } else {
                        self.queue
                            .complete(&self.pool, self.session_id, completed)
                            .await
                    }
                },
                async {
                    if failed.is_empty() {
                        Ok(Failed::default())
                    } else {
                        self.queue.fail(&self.pool, self.session_id, failed).await
                    }
                }
            );
            let mut error: Option<Error> = None;
            match done {
                Ok(n) => {
                    self.counters.completed(n);
                    self.lost(completed.len() as u64 - n.min(completed.len() as u64));
                    completed.clear();
                }
                Err(e) => error = Some(e),
            }
            match retried {
                Ok(outcome) => {
                    let recorded = outcome.retried.len() + outcome.quarantined.len();
                    let c = &self.counters;
                    c.failed.fetch_add(recorded as u64, Ordering::Relaxed);
                    c.quarantined
                        .fetch_add(outcome.quarantined.len() as u64, Ordering::Relaxed);
                    self.lost(failed.len().saturating_sub(recorded) as u64);
                    if let Some(at) = outcome.next_retry() {
                        self.wake.due_at(at);
                    }
                    failed.clear();
                }
                Err(e) => error = Some(e),
            }
            let Some(error) = error else {
                return;
            };
            let pending = (completed.len() + failed.len()) as u64;
            let retry = error.is_transient() || error.is_retryable_conflict();
            if !retry || started.elapsed() + delay > FLUSH_BUDGET {
                tracing::error!(session = self.session_id, jobs = pending, error = %error,
                    "cannot record job results; those jobs will run again after the session expires");
                self.lost(pending);
                completed.clear();
                failed.clear();
                return;
            }
            tracing::warn!(session = self.session_id, jobs = pending, error = %error, retry_in = ?delay,
                "recording job results failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_DELAY_CAP);
        }
    }

    fn lost(&self, n: u64) {
        if n > 0 {
            tracing::warn!(
                session = self.session_id,
                jobs = n,
                "results of jobs this session no longer holds were not recorded (it expired and they were rescued)"
            );
            self.counters.lost.fetch_add(n, Ordering::Relaxed);
        }
    }
}
