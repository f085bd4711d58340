//! Work coordination on Postgres, after Monogon's BMDB: sessions kept alive by heartbeats,
//! exclusive work on targets with persisted exponential backoff and history, and a fast job
//! queue on the same foundation. Everything lives in the `pgkeel_work` schema.

pub mod backoff;
pub mod error;
pub mod history;
pub mod migrate;
pub mod queue;
pub mod reaper;
mod session;
pub mod telemetry;
mod transact;
mod work;

pub use backoff::Backoff;
pub use error::Error;
pub use migrate::{Migrated, migrate};
pub use reaper::{ReapReport, Reaper, reap_once};
pub use session::{Session, SessionConfig};
pub use transact::Tx;
pub use work::Work;
