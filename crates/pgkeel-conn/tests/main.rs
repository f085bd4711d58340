//! Integration tests of pgkeel-conn against real PostgreSQL; faults from pgkeel-proxy or from
//! stopping and killing the cluster.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod cache;
mod listener;
mod pool;
