//! Integration tests of the connector against real PostgreSQL. Tests in `private` modules
//! start clusters of their own (nextest runs them in the `private-cluster` group).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod private;
