//! Integration tests of pgkeel-stream against real PostgreSQL; faults from pgkeel-proxy or from
//! stopping and killing the cluster.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod client;
mod decode;
mod setup;
mod sinks;
mod stream;
mod values;
