//! Tests of the pgoutput decoder: messages produced by real SQL on PostgreSQL and read through
//! `pg_logical_slot_get_binary_changes`, every decoded; hand-encoded messages round-tripped;
//! random and truncated bytes that must give errors, never panics.

mod encode;
mod malformed;
mod messages;
mod private;
mod roundtrip;
mod support;
mod transactions;
