//! End-to-end tests of the `pgkeel` binary, run as a child process against real PostgreSQL.
//! Tests in `private` modules start clusters of their own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;
mod postgres_cli;
mod private;
mod work_cmd;
