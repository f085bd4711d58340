//! The verdict: the invariants and the figures behind them, as a table for people or one JSON
//! object (`--json`). The run passes only when every invariant held.

use std::fmt::Write as _;

use serde::Serialize;

use super::faults::FaultRecord;
use super::referee::{Changes, Jobs};
use super::schedule::FaultKind;

/// One cache instance at the end.
#[derive(Debug, Clone, Serialize)]
pub(super) struct CacheState {
    pub(super) name: &'static str,
    pub(super) version: u64,
    pub(super) reloads: u64,
    /// Its contents equal the database's.
    pub(super) matches_database: bool,
}

/// The caches at the end.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Caches {
    pub(super) database_version: u64,
    pub(super) instances: Vec<CacheState>,
    pub(super) converged: bool,
    /// From the last acknowledged config change to both instances holding it.
    pub(super) converged_after_ms: Option<f64>,
}

/// Recovery times of one fault kind.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Recovery {
    pub(super) kind: FaultKind,
    pub(super) injected: usize,
    pub(super) fired: usize,
    pub(super) p50_ms: Option<f64>,
    pub(super) p99_ms: Option<f64>,
}

/// What the writer did.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Workload {
    pub(super) operations: u64,
    pub(super) succeeded: u64,
    /// Operations that failed under a fault (the writer went on; nothing half-done remains).
    pub(super) failed: u64,
}

/// One invariant and whether it held.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Invariant {
    pub(super) name: &'static str,
    pub(super) held: bool,
    pub(super) detail: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Report {
    pub(super) passed: bool,
    pub(super) seed: u64,
    pub(super) duration_s: f64,
    pub(super) sabotage: Option<&'static str>,
    pub(super) invariants: Vec<Invariant>,
    pub(super) changes: Changes,
    pub(super) jobs: Jobs,
    pub(super) caches: Caches,
    pub(super) recovery: Vec<Recovery>,
    pub(super) faults: Vec<FaultRecord>,
    pub(super) workload: Workload,
    /// Processes restarted because they exited on their own.
    pub(super) unexpected_exits: u32,
    /// Where the files are, with `--keep`.
    pub(super) kept: Option<String>,
}

/// Recovery per kind from the fault records.
pub(super) fn recovery(faults: &[FaultRecord]) -> Vec<Recovery> {
    FaultKind::ALL
        .iter()
        .map(|&kind| {
            let of_kind: Vec<&FaultRecord> = faults.iter().filter(|f| f.kind == kind).collect();
            let mut times: Vec<f64> = of_kind.iter().filter_map(|f| f.recovery_ms).collect();
            times.sort_by(f64::total_cmp);
            Recovery {
                kind,
                injected: of_kind.len(),
                fired: of_kind.iter().filter(|f| f.fired).count(),
                p50_ms: percentile(&times, 0.50),
                p99_ms: percentile(&times, 0.99),
            }
        })
        .collect()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The invariants, from the figures.
pub(super) fn invariants(
    changes: &Changes,
    jobs: &Jobs,
    caches: &Caches,
    recovery: &[Recovery],
    faults: &[FaultRecord],
    unexpected_exits: u32,
) -> Vec<Invariant> {
    let missing: Vec<&str> = recovery
        .iter()
        .filter(|r| r.fired == 0)
        .map(|r| r.kind.name())
        .collect();
    let unrecovered = faults.iter().filter(|f| f.recovery_ms.is_none()).count();
    vec![
        Invariant {
            name: "no committed change lost",
            held: changes.lost == 0,
            detail: format!(
                "{} of {} committed changes delivered, {} lost",
                changes.delivered, changes.committed, changes.lost
            ),
        },
        Invariant {
            name: "nothing delivered that did not commit",
            held: changes.unexpected == 0,
            detail: format!("{} events of uncommitted changes", changes.unexpected),
        },
        Invariant {
            name: "no enqueued job lost",
            held: jobs.lost == 0 && jobs.quarantined == 0,
            detail: format!(
                "{} of {} jobs executed, {} quarantined",
                jobs.executed, jobs.enqueued, jobs.quarantined
            ),
        },
        Invariant {
            name: "no job executed twice",
            held: jobs.executed_twice == 0,
            detail: format!(
                "{} effects applied twice ({} redeliveries absorbed)",
                jobs.executed_twice, jobs.redelivered
            ),
        },
        Invariant {
            name: "caches converged",
            held: caches.converged,
            detail: format!(
                "{} at version {}",
                caches
                    .instances
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.version))
                    .collect::<Vec<_>>()
                    .join(", "),
                caches.database_version
            ),
        },
        Invariant {
            name: "every fault kind fired",
            held: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("{} faults, {} kinds", faults.len(), recovery.len())
            } else {
                format!("never took effect: {}", missing.join(", "))
            },
        },
        Invariant {
            name: "every fault recovered",
            held: unrecovered == 0,
            detail: format!("{unrecovered} faults not recovered within 30 s"),
        },
        Invariant {
            name: "no process died on its own",
            held: unexpected_exits == 0,
            detail: format!("{unexpected_exits} unexpected exits"),
        },
    ]
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
}

impl Report {
    /// The table people read.
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let c = &self.changes;
        let j = &self.jobs;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "changes   committed {:>6}   delivered {:>6}   lost {}   duplicates {}",
            c.committed, c.delivered, c.lost, c.duplicates
        );
        let _ = writeln!(
            out,
            "jobs      enqueued  {:>6}   executed  {:>6}   lost {}   executed twice {}   (redelivered {}, absorbed)",
            j.enqueued, j.executed, j.lost, j.executed_twice, j.redelivered
        );
        let versions: Vec<String> = self
            .caches
            .instances
            .iter()
            .map(|i| format!("{} v{}", i.name, i.version))
            .collect();
        let _ = writeln!(
            out,
            "caches    database v{}   {}   converged {}{}",
            self.caches.database_version,
            versions.join("   "),
            if self.caches.converged { "yes" } else { "NO" },
            self.caches
                .converged_after_ms
                .map(|v| format!(" ({v:.0} ms after the last change)"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "workload  {} operations, {} failed under faults (none half-done)",
            self.workload.operations, self.workload.failed
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>6} {:>10} {:>10}",
            "fault", "injected", "fired", "recov p50", "recov p99"
        );
        for r in &self.recovery {
            let _ = writeln!(
                out,
                "{:<18} {:>8} {:>6} {:>10} {:>10}",
                r.kind.name(),
                r.injected,
                r.fired,
                ms(r.p50_ms),
                ms(r.p99_ms)
            );
        }
        let _ = writeln!(out);
        for invariant in &self.invariants {
            let mark = if invariant.held { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{mark} {:<38} {}", invariant.name, invariant.detail);
        }
        let _ = writeln!(out);
        let verdict = if self.passed {
            "PASS: every invariant held"
        } else {
            "FAIL: an invariant was broken"
        };
        let _ = writeln!(
            out,
            "{verdict} (seed {}, {:.0} s{})",
            self.seed,
            self.duration_s,
            self.sabotage
                .map(|s| format!(", sabotage {s}"))
                .unwrap_or_default()
        );
        if let Some(dir) = &self.kept {
            let _ = writeln!(out, "kept: {dir}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
