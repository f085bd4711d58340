//! Counters of one proxy instance, rendered as Prometheus text on `GET /metrics`. Kept per
//! instance (not in a global registry) so several proxies in one test process do not mix.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) bytes_from_client: AtomicU64,
    pub(crate) bytes_from_server: AtomicU64,
    pub(crate) messages_from_client: AtomicU64,
    pub(crate) messages_from_server: AtomicU64,
    pub(crate) rules_fired: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) upstream_errors: AtomicU64,
    pub(crate) rules_version: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "pgkeel_proxy_connections_total",
            "counter",
            "Client connections accepted.",
            &[("", get(&self.connections_total))],
        );
        metric(
            "pgkeel_proxy_connections_active",
            "gauge",
            "Client connections open now.",
            &[("", get(&self.connections_active))],
        );
        metric(
            "pgkeel_proxy_bytes_total",
            "counter",
            "Bytes received, by sender.",
            &[
                ("{from=\"client\"}", get(&self.bytes_from_client)),
                ("{from=\"server\"}", get(&self.bytes_from_server)),
            ],
        );
        metric(
            "pgkeel_proxy_messages_total",
            "counter",
            "Protocol messages seen, by sender.",
            &[
                ("{from=\"client\"}", get(&self.messages_from_client)),
                ("{from=\"server\"}", get(&self.messages_from_server)),
            ],
        );
        metric(
            "pgkeel_proxy_rules_fired_total",
            "counter",
            "Times a rule fired.",
            &[("", get(&self.rules_fired))],
        );
        metric(
            "pgkeel_proxy_malformed_total",
            "counter",
            "Connections closed for malformed protocol data.",
            &[("", get(&self.malformed))],
        );
        metric(
            "pgkeel_proxy_upstream_errors_total",
            "counter",
            "Failed connections to the upstream server.",
            &[("", get(&self.upstream_errors))],
        );
        metric(
            "pgkeel_proxy_rules_version",
            "gauge",
            "Version of the rules in force.",
            &[("", get(&self.rules_version))],
        );
        out
    }
}
