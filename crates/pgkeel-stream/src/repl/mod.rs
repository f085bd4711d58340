//! Our own logical replication client, on `pgkeel-wire` framing and `postgres-protocol`
//! authentication: connect in `replication=database` mode (TCP or unix socket; trust,
//! password, MD5, SCRAM-SHA-256), run IDENTIFY_SYSTEM and slot commands, stream a slot with
//! pgoutput, and report write/flush/apply positions separately.
//!
//! ```no_run
//! use pgkeel_stream::{
//!     CreateSlot, Database, Lsn, ReplConfig, ReplicationConnection, publication_names,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ReplConfig::new(&Database::parse("postgres://app@127.0.0.1:5432/app")?)?;
//! let mut client = ReplicationConnection::connect(&config).await?;
//! client.create_logical_slot("app_slot", CreateSlot::default()).await?;
//! let options = [
//!     ("proto_version".to_owned(), "1".to_owned()),
//!     ("publication_names".to_owned(), publication_names(&["app_pub"])),
//! ];
//! let mut stream = client.start_logical("app_slot", Lsn::ZERO, &options).await?;
//! let message = stream.recv().await?;
//! # Ok(()) }
//! ```

mod auth;
mod commands;
mod config;
mod connection;
mod db_error;
mod error;
mod feedback;
mod message;
mod quote;
mod rows;
mod stream;
mod transport;

pub use commands::{CreateSlot, PGOUTPUT, SlotCreated, SystemInfo};
pub use config::ReplConfig;
pub use connection::ReplicationConnection;
pub use db_error::DbError;
pub use error::ReplError;
pub use feedback::Feedback;
pub use message::ReplicationMessage;
pub use quote::publication_names;
pub use rows::{TextRow, TextRows};
pub use stream::ReplicationStream;
