//! The test kit of the pgkeel crates, used only as a dev-dependency: clients on a test
//! database, bounded waits on an observable condition, a fault proxy in front of a test
//! database, a real HAProxy in TCP mode and a real pgbouncer in front of a test cluster,
//! and configs with test-friendly timings. Tests run against real PostgreSQL
//! (`pgkeel-embedded`); nothing here mocks a server.
//!
//! Every bounded wait here is a liveness guard ([`LIVENESS`]), never a speed check: a test
//! waits for the event it needs, and fails with a message naming it if it never comes.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

mod client;
mod config;
mod haproxy;
mod pgbouncer;
mod proxy;
mod wait;

pub use client::{connect, connect_with_connection, simple_scalar, sqlstate, try_connect};
pub use config::{listener_config, pool_config};
pub use haproxy::{HAPROXY_SERVER_LINE, Haproxy};
pub use pgbouncer::{Pgbouncer, PoolMode};
pub use proxy::{proxied, proxy_to};
pub use wait::{LIVENESS, eventually, until, within};
