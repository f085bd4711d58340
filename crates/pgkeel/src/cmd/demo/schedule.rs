//! The fault schedule: which fault, when, for how long — drawn from the seed, so a run can be
//! repeated. Every kind comes once in the first round (in a seeded order), then kinds at
//! random, spread evenly over the run.

use std::time::Duration;

use serde::Serialize;

/// A kind of fault the demo injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum FaultKind {
    /// Every connection through the proxy closed at once.
    ProxyKill,
    /// Every connection stops moving, sockets open (a blackhole).
    Stall,
    /// Updates of orders fail with 40001 (serialization failure).
    Error40001,
    /// COMMIT answered with FATAL 57P01 (admin shutdown) and the connection closed.
    Error57P01,
    /// Every server message held back.
    Latency,
    /// Postgres stopped (fast) and started again.
    PostgresRestart,
    /// A job worker process killed with SIGKILL, restarted.
    WorkerKill,
    /// The stream process killed with SIGKILL, restarted.
    StreamKill,
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl FaultKind {
    pub(crate) const ALL: [FaultKind; 8] = [
        FaultKind::ProxyKill,
        FaultKind::Stall,
        FaultKind::Error40001,
        FaultKind::Error57P01,
        FaultKind::Latency,
        FaultKind::PostgresRestart,
        FaultKind::WorkerKill,
        FaultKind::StreamKill,
    ];

    /// The name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::ProxyKill => "proxy-kill",
            FaultKind::Stall => "stall",
            FaultKind::Error40001 => "error-40001",
            FaultKind::Error57P01 => "error-57P01",
            FaultKind::Latency => "latency",
            FaultKind::PostgresRestart => "postgres-restart",
            FaultKind::WorkerKill => "worker-kill",
            FaultKind::StreamKill => "stream-kill",
        }
    }

    /// Whether the fault lasts a while (and `hold` matters) or happens at an instant.
    fn lasts(self) -> bool {
        matches!(
            self,
            FaultKind::Stall | FaultKind::Error40001 | FaultKind::Error57P01 | FaultKind::Latency
        )
    }
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedFault {
    pub(crate) kind: FaultKind,
    /// When it starts, from the start of the workload.
    pub(crate) at: Duration,
    /// How long it stays in force (zero for instant faults).
    pub(crate) hold: Duration,
    /// Which worker process, for `WorkerKill` (0 or 1); a latency's delay in ms otherwise.
    pub(crate) detail: u64,
}

/// About one fault per this much of the run, at least one of each kind.
const SPACING: Duration = Duration::from_secs(4);
/// Quiet time at the start (everything warms up) and at the end (before the drain).
const QUIET: Duration = Duration::from_millis(1500);

/// The schedule for a run of `duration` with `seed`. Faults may end after `duration` when it
/// is too short for one of each kind; the run waits for them.
pub(crate) fn plan(seed: u64, duration: Duration) -> Vec<PlannedFault> {
    let mut rng = SplitMix(seed);
    let count = FaultKind::ALL
        .len()
        .max((duration.as_millis() / SPACING.as_millis()) as usize);
    let mut kinds = FaultKind::ALL.to_vec();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    while kinds.len() < count {
        kinds.push(FaultKind::ALL[rng.below(FaultKind::ALL.len() as u64) as usize]);
    }
    let window = duration
        .saturating_sub(QUIET * 2)
        .max(Duration::from_secs(1));
    let slot = window / count as u32;
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let jitter = Duration::from_millis(rng.below((slot.as_millis() / 5) as u64 + 1));
            let hold = if kind.lasts() {
                let most = (slot.as_millis() * 3 / 5).clamp(600, 2500) as u64;
                Duration::from_millis(500 + rng.below(most - 500 + 1))
            } else {
                Duration::ZERO
            };
            let detail = match kind {
                FaultKind::WorkerKill => rng.below(2),
                FaultKind::Latency => 50 + rng.below(151),
                _ => 0,
            };
            PlannedFault {
                kind,
                at: QUIET + slot * i as u32 + jitter,
                hold,
                detail,
            }
        })
        .collect()
}

/// SplitMix64: small, fast, and the same numbers from the same seed everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n ≥ 1).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_plans_the_same_faults_and_another_seed_others() {
        let a = plan(1, Duration::from_secs(60));
        assert_eq!(a, plan(1, Duration::from_secs(60)));
        assert_ne!(a, plan(2, Duration::from_secs(60)));
    }

    #[test]
    fn every_kind_comes_at_least_once_in_order_of_time_even_in_a_short_run() {
        for (seed, seconds) in [(1, 15), (7, 5), (3, 60), (9, 300)] {
            let faults = plan(seed, Duration::from_secs(seconds));
            for kind in FaultKind::ALL {
                assert!(faults.iter().any(|f| f.kind == kind), "{kind:?} missing");
            }
            assert!(faults.windows(2).all(|w| w[0].at < w[1].at));
            assert!(faults.len() >= (seconds / 4) as usize);
        }
    }

    #[test]
    fn lasting_faults_have_a_hold_and_instant_ones_none() {
        for fault in plan(5, Duration::from_secs(60)) {
            assert_eq!(fault.kind.lasts(), !fault.hold.is_zero(), "{fault:?}");
            if fault.kind == FaultKind::WorkerKill {
                assert!(fault.detail < 2);
            }
        }
    }
}
