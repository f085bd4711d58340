//! Sessions, transactions, work, backoff, history and the reaper (BMDB's tests, ported in
//! spirit), and their behaviour under faults injected by the proxy.

mod backoff;
mod faults;
mod kill9;
mod partitions;
mod reaper;
mod session;
mod status;
mod support;
mod transact;
mod work;
mod workers;
