//! The job queue: enqueue (one, or a batch in one statement) with a NOTIFY wake-up, claim N
//! due jobs in one round trip (priority, `run_at`, `SKIP LOCKED`, only for a live session),
//! complete or fail in batches (exponential backoff with jitter, quarantine after
//! `max_attempts`), unique keys, rescue of expired sessions' jobs, and a `Worker` that runs
//! handlers concurrently.
//!
//! | file | concept |
//! |---|---|
//! | `job.rs` | `NewJob` (what is enqueued), `Job` (what is claimed) |
//! | `executor.rs` | `Executor`: client, transaction, pooled connection or pool |
//! | `handle.rs` | `Queue`: the entry point and its retry policy |
//! | `enqueue.rs` | enqueue one or a batch, `pg_notify` in the same transaction |
//! | `claim.rs` | claim N due jobs in one statement; the idle check (session, next `run_at`) |
//! | `complete.rs` | complete and fail in batches; backoff and quarantine in SQL |
//! | `rescue.rs` | running jobs of expired sessions back to available |
//! | `wake.rs` | coalesced wake-ups: NOTIFY, gaps, polling, the next known `run_at` |
//! | `worker.rs` | `Worker` and `WorkerConfig`: start, stats, stop, join |
//! | `dispatch.rs` | the worker's claim loop and handler tasks |
//! | `flush.rs` | the worker's batched recording of results |
//! | `stats.rs` | metric names, `WorkerStats`, the pickup-latency histogram |

mod claim;
mod complete;
mod dispatch;
mod enqueue;
mod executor;
mod flush;
mod handle;
mod job;
mod rescue;
pub mod stats;
mod wake;
mod worker;

pub use complete::Failed;
pub use enqueue::CHANNEL;
pub use executor::{Executor, POOL_WAIT};
pub use handle::Queue;
pub use job::{DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, Job, MAX_QUEUE_BYTES, NewJob};
pub use rescue::rescue;
pub use stats::{Latencies, WorkerStats};
pub use worker::{MAX_BATCH, MAX_CONCURRENCY, Worker, WorkerConfig};
