//! Tests that stop, kill or reconfigure Postgres, each on a cluster of its own.

mod auth;
mod cleanup;
mod data_dir;
mod lifecycle;
