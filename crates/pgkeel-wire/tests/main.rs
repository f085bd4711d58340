//! Integration tests of pgkeel-wire: framing, split invariance, oracle round trips against
//! `postgres-protocol` and `pgwire`, our encoders, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod alloc_count;
mod allocation;
mod backend_messages;
mod encoders;
mod frame_errors;
mod framing;
mod frontend_messages;
mod hostile;
mod invariants;
mod oracle_backend;
mod oracle_frontend;
mod split_invariance;
mod support;
mod view_errors;
