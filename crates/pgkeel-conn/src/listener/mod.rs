//! LISTEN/NOTIFY on a connection of its own that reconnects by itself and says when
//! notifications may have been missed; a coalescing consumer for cache reloads.
//!
//! | file | concept |
//! |---|---|
//! | `event.rs` | what is delivered: `Listening`, `Notification`, `Gap`, `Deaf` |
//! | `config.rs` | `ListenerConfig`; channel names checked |
//! | `handle.rs` | `Listener`: start, receive, add/remove channels, stats, stop |
//! | `task.rs` | connect, recover with backoff and the fast probe, stop on fatal errors |
//! | `session.rs` | one connection: LISTEN, read, ping within the keepalive, probe, requests |
//! | `self_notify.rs` | the delivery probe: a NOTIFY to itself through another connection |
//! | `connect.rs` | one connection attempt (pgkeel-net's connector) and what its failure means |
//! | `outbox.rs` | bounded delivery: drop when the consumer is behind, then a `Gap` |
//! | `command.rs` | LISTEN/UNLISTEN requests from the handle to the task |
//! | `stats.rs` | counters, metrics and the final error, shared by handle and task |
//! | `coalesce.rs` | `Coalescer`: "something changed" signals for cache reloads |

mod coalesce;
mod command;
mod config;
mod connect;
mod event;
mod handle;
mod outbox;
mod self_notify;
mod session;
mod stats;
mod task;

pub use coalesce::{Change, Coalescer};
pub use config::ListenerConfig;
pub use event::{DEAF_HINT, Event, Notification};
pub use handle::Listener;
pub use stats::ListenerStats;
