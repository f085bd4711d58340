//! The parts of `pgkeel stream` beside the stream itself: status, drop, metrics endpoint.

pub(crate) mod drop;
pub(crate) mod metrics;
pub(crate) mod status;
