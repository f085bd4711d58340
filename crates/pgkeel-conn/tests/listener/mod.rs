//! The listener and the coalescer: notifications, re-listening after a killed or stalled
//! connection or a restarted server (with Gap events), fatal errors, slow consumers.

mod basics;
mod coalesce;
mod faults;
mod pooler;
mod private;
mod support;
