//! The job queue: enqueue, claim, complete and fail against real PostgreSQL; workers with
//! NOTIFY wake-ups, the polling fallback, retries, quarantine and rescue.

mod api;
mod notify;
mod rescue;
mod support;
mod wake;
mod workers;
