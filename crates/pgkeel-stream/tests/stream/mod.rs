//! The change stream end to end against real PostgreSQL: every kind of change produced by
//! real SQL, typed values, delivery and confirmation, restarts, faults.

mod changes;
mod delivery;
mod private;
mod support;
