//! The one place pgkeel opens connections: an [`Address`] (TCP `host:port` or a unix socket
//! file), a [`Socket`] over it (TCP or unix, private variants, where TLS will be layered), a
//! [`Listener`] that accepts them, and the connector: a [`Database`] parsed from a libpq URL or
//! `key=value` DSN plus the `PG*` environment, which opens `tokio_postgres` clients with the
//! connect timeout, keepalives and `application_name` applied the same way everywhere.
//!
//! ```no_run
//! use pgkeel_net::Database;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Database::parse("postgres://app@127.0.0.1:5432/app?connect_timeout=3")?;
//! let (client, connection) = db.connect().await?;
//! tokio::spawn(connection);
//! client.simple_query("SELECT 1").await?;
//! # Ok(()) }
//! ```

mod address;
mod connector;
mod database;
mod env;
mod error;
mod listener;
mod local_http;
mod socket;
pub mod tls;

pub use address::{Address, DEFAULT_PORT};
pub use connector::{ConnectError, PgConnection, describe_postgres};
pub use database::{DEFAULT_APPLICATION_NAME, DEFAULT_CONNECT_TIMEOUT, Database};
pub use error::Error;
pub use listener::Listener;
pub use local_http::check_local_request;
#[cfg(feature = "axum")]
pub use local_http::local_only;
pub use socket::{ReadHalf, Socket, WriteHalf};
pub use tls::{ClientTls, SslMode, TlsFailure, tls_failure};
