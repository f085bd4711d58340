//! The change stream: a logical replication client of our own, complete pgoutput decoding,
//! typed change events, and delivery to sinks at least once, with the WAL confirmed only
//! after a sink holds the events durably.

pub mod assemble;
pub mod convert;
pub mod error;
pub mod event;
pub mod lsn;
pub mod pgoutput;
pub mod pipeline;
pub mod repl;
pub mod setup;
pub mod sink;
pub mod time;
pub mod value;

pub use error::Error;
pub use event::{Event, Op, Row};
pub use lsn::Lsn;
