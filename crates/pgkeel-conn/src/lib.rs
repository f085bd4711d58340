//! Connections that recover: a pool that notices loss by itself, retries with backoff and
//! jitter, stops on fatal errors, lets callers wait for recovery and reloads caches before it
//! says Ready; LISTEN/NOTIFY that says when notifications may have been missed; cache sync.
//!
//! Start with a [`PoolConfig`] (from a URL or DSN and the `PG*` environment; connections are
//! opened by `pgkeel-net`'s connector) and [`Pool::builder`]; run operations with
//! [`Pool::run`] / [`Pool::run_idempotent`] and watch [`Health`]. [`listener::Listener`] listens
//! on a connection of its own; [`cache_sync::CacheSync`] keeps a cache in step across instances.
//! [`Error`] is decided by [`ErrorClass`]; [`Backoff`] is the reconnect delay schedule.

mod backoff;
pub mod cache_sync;
mod class;
mod config;
mod error;
mod health;
mod hedge;
mod hooks;
pub mod listener;
mod manager;
mod op_error;
mod outcome;
mod pool;
mod probe;
mod sentinel;
mod stats;
mod supervisor;
pub mod telemetry;

pub use backoff::{Backoff, Jitter};
pub use class::{Classifier, ErrorClass};
pub use config::PoolConfig;
pub use error::Error;
pub use health::Health;
pub use hooks::HookError;
pub use op_error::OpError;
pub use outcome::{Outcome, Wait};
pub use pgkeel_net::describe_postgres;
pub use pool::{Client, Conn, Pool, PoolBuilder, PoolStatus};
pub use stats::PoolStats;
