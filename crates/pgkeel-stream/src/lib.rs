//! The change stream: a logical replication client of our own, complete pgoutput decoding,
//! typed change events, and delivery to sinks at least once, with the WAL confirmed only
//! after a sink holds the events durably.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use pgkeel_stream::{Progress, StdoutSink, StreamConfig, Tables};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run() -> Result<(), pgkeel_stream::Error> {
//! let mut config = StreamConfig::new("postgres://app@127.0.0.1/app", "app_cdc", "app_cdc")?;
//! config.spec.tables = Tables::List(vec!["public.orders".to_owned()]);
//! config.spec.create = true;
//! let progress = Arc::new(Progress::default());
//! let cancel = CancellationToken::new();
//! pgkeel_stream::run(config, Box::new(StdoutSink::new()), progress, cancel).await?;
//! # Ok(()) }
//! ```
//!
//! The parts: [`run`] with its [`StreamConfig`] (setup [`Spec`], backoff, batching) and
//! [`Progress`]; [`Event`]s delivered to a [`Sink`]; the replication client
//! ([`ReplicationConnection`], [`ReplicationStream`]) for driving a slot by hand; the SQL
//! around a stream ([`slot_status`], [`drop_slot`], ...); the pgoutput decoder in
//! [`pgoutput`] and value typing in [`value`], for consumers of raw pgoutput bytes.

mod assemble;
mod convert;
mod error;
mod event;
mod lsn;
pub mod pgoutput;
mod pipeline;
mod repl;
mod setup;
mod sink;
mod slot_name;
pub mod value;

pub use error::Error;
pub use event::{ColumnInfo, Event, Op, Row};
pub use lsn::{Lsn, LsnParseError};
pub use pgkeel_conn::Backoff;
pub use pgkeel_net::Database;
pub use pipeline::{DEFAULT_LAG_WARNING_BYTES, Progress, ProgressSnapshot, StreamConfig, run};
pub use repl::{
    CreateSlot, DbError, Feedback, PGOUTPUT, ReplConfig, ReplError, ReplicationConnection,
    ReplicationMessage, ReplicationStream, SlotCreated, SystemInfo, TextRow, TextRows,
    publication_names,
};
pub use setup::{
    PublicationStatus, SlotStatus, Spec, Tables, drop_publication, drop_slot, publication_status,
    slot_status,
};
pub use sink::{
    Batch, ChannelSink, Delivery, FileSink, HttpSink, Position, Sink, SinkError, StdoutSink,
    from_spec as sink_from_spec,
};
