//! A fault-injection proxy that speaks the PostgreSQL protocol in both directions: every
//! message passes a rule engine (Citus's failure-test language plus extensions) that can kill,
//! reset, stall, delay, drop, cancel or answer with an injected error; an HTTP API, Citus's
//! fifo protocol and a Rust API drive it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pgkeel_proxy::{Proxy, ProxyConfig};
//!
//! let proxy = Proxy::start(ProxyConfig::new("127.0.0.1:5432".parse()?)).await?;
//! proxy.set_rules(r#"conn.onQuery(query="^COMMIT").kill()"#)?;
//! // connect clients to 127.0.0.1:<proxy.port()>; a COMMIT now kills their connection
//! proxy.wait_fired(Some(0), 1, std::time::Duration::from_secs(5)).await.ok();
//! # Ok(()) }
//! ```

mod cancel;
pub mod citus;
mod connection;
mod control;
mod control_access;
mod error;
mod fifo;
mod inject;
mod judge;
mod proxy;
mod pump;
mod recorder;
pub mod rules;
mod session;
mod shared;
mod startup;
mod stats;
mod summary;

pub use connection::ConnectionInfo;
pub use control_access::ControlToken;
pub use error::ProxyError;
pub use pgkeel_net::Address;
pub use proxy::{Proxy, ProxyConfig};
pub use recorder::Record;
pub use shared::{Terminate, TlsMode};
pub use stats::Stats;
