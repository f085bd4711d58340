//! Work coordination on Postgres, after Monogon's BMDB: sessions kept alive by heartbeats,
//! exclusive work on targets with persisted exponential backoff and history, and a fast job
//! queue on the same foundation. Everything lives in the `pgkeel_work` schema.
//!
//! [`migrate()`] the schema, start a [`Session`] on a `pgkeel_conn::Pool`, claim [`Work`] with
//! `Session::work` and end it with `finish`, `cancel` or `fail` (a [`WorkBackoff`], persisted
//! per target and process); run a [`Reaper`]; read [`history`]; use the [`queue`] for jobs;
//! read everything at once with [`status()`].

mod error;
pub mod history;
pub mod migrate;
pub mod queue;
mod reaper;
mod session;
mod status;
pub mod telemetry;
mod transact;
mod work;
mod work_backoff;

pub use error::Error;
pub use migrate::{Migrated, migrate};
pub use reaper::{ReapReport, Reaper, ReaperTotals, reap_once};
pub use session::{Session, SessionConfig};
pub use status::{
    BackoffStatus, QueueDepth, STATUS_HISTORY, SessionStatus, Status, WorkStatus, status,
};
pub use transact::Tx;
pub use work::Work;
pub use work_backoff::WorkBackoff;
