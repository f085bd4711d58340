//! Integration tests of pgkeel-wire: framing, split invariance, oracle round trips against
//! `postgres-protocol` and `pgwire`, our encoders, hostile input, and the public helpers
//! (cursor, SQL quoting, PostgreSQL time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alloc_count;
mod allocation;
mod backend_messages;
mod cursor;
mod encoders;
mod frame_errors;
mod framing;
mod frontend_messages;
mod hostile;
mod invariants;
mod oracle_backend;
mod oracle_frontend;
mod pg_time;
mod split_invariance;
mod sql;
mod support;
mod view_errors;
