//! Integration tests of pgkeel-proxy: real PostgreSQL (pgkeel-embedded), real clients
//! (tokio-postgres, psql, pg_recvlogical), faults from the proxy's rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod actions;
mod common;
mod control;
mod control_token;
mod errors;
mod extended;
mod fifo;
mod filters;
mod forwarding;
mod robustness;
mod tls;
