//! The recovering pool: run/Outcome/Wait, error classes, keepalive, hooks, recovery.

mod basics;
mod faults;
mod private;
mod support;
