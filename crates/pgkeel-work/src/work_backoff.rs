//! `WorkBackoff`, the persisted backoff of failed work (not the reconnect delays of
//! `pgkeel_conn::WorkBackoff`), with BMDB's rules: whole seconds (rounded up, at least 1 s), the
//! next interval is the persisted last one times the exponent (at least 1), clamped to the
//! maximum; the first failure waits the initial interval; optional ± jitter.

use std::time::Duration;

/// How long a (target, process) is left alone after `Work::fail`.
///
/// ```
/// use std::time::Duration;
/// use pgkeel_work::WorkBackoff;
///
/// let b = WorkBackoff::new(Duration::from_secs(1), Duration::from_secs(60), 2.0);
/// let mut last = None;
/// let mut seen = Vec::new();
/// for _ in 0..8 {
///     let next = b.next_interval(last);
///     seen.push(next);
///     last = Some(next);
/// }
/// assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkBackoff {
    /// The interval after the first failure (rounded up to whole seconds, at least 1 s).
    pub initial: Duration,
    /// The longest interval (rounded up to whole seconds, at least `initial`).
    pub maximum: Duration,
    /// Each further failure multiplies the last interval by this (below 1, or NaN, counts as 1).
    pub exponent: f64,
    /// Share of randomness, 0.0–1.0: the wait is drawn from `interval × (1 ± jitter)`, rounded
    /// up, at least 1 s. The persisted interval is the one without jitter.
    pub jitter: f64,
}

impl Default for WorkBackoff {
    /// 1 s doubling up to 10 minutes, no jitter.
    fn default() -> Self {
        WorkBackoff::new(Duration::from_secs(1), Duration::from_secs(600), 2.0)
    }
}

impl WorkBackoff {
    /// A backoff without jitter.
    pub fn new(initial: Duration, maximum: Duration, exponent: f64) -> Self {
        WorkBackoff {
            initial,
            maximum,
            exponent,
            jitter: 0.0,
        }
    }

    /// The same with jitter (a share, 0.0–1.0).
    pub fn with_jitter(self, jitter: f64) -> Self {
        WorkBackoff { jitter, ..self }
    }

    /// The initial interval in whole seconds (rounded up, at least 1, at most ten years).
    pub fn initial_secs(&self) -> i64 {
        ceil_secs(self.initial).clamp(1, MAX_SECS)
    }

    /// The maximum interval in whole seconds (rounded up, at least the initial one, at most
    /// ten years so the database can add it to a timestamp).
    pub fn maximum_secs(&self) -> i64 {
        ceil_secs(self.maximum)
            .min(MAX_SECS)
            .max(self.initial_secs())
    }

    /// The exponent in force (at least 1).
    pub fn effective_exponent(&self) -> f64 {
        if self.exponent.is_nan() || self.exponent < 1.0 {
            1.0
        } else {
            self.exponent
        }
    }

    /// The interval in seconds after a failure, given the interval persisted by the previous
    /// failure (`None`: the first). Never below 1 s or the initial interval, never above the
    /// maximum; overflow clamps to the maximum.
    pub fn next_interval(&self, last_interval_s: Option<i64>) -> i64 {
        let initial = self.initial_secs();
        let maximum = self.maximum_secs();
        let Some(last) = last_interval_s.filter(|l| *l >= 1) else {
            return initial;
        };
        let next = (last as f64 * self.effective_exponent()).ceil();
        if next.is_nan() || next >= maximum as f64 {
            maximum
        } else {
            (next as i64).max(initial)
        }
    }

    /// The wait in seconds for `interval_s`, jittered with `random` (a fraction in [0, 1)):
    /// `interval × (1 + jitter × (2 × random − 1))`, rounded up, at least 1.
    pub fn jittered(&self, interval_s: i64, random: f64) -> i64 {
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let random = if random.is_nan() {
            0.5
        } else {
            random.clamp(0.0, 1.0)
        };
        let wait = (interval_s as f64 * (1.0 + jitter * (2.0 * random - 1.0))).ceil();
        (wait as i64).clamp(1, 2 * MAX_SECS)
    }
}

/// Ten years: longer intervals are clamped to it.
const MAX_SECS: i64 = 10 * 365 * 24 * 3600;

/// Whole seconds, rounded up, saturating.
fn ceil_secs(d: Duration) -> i64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    i64::try_from(secs).unwrap_or(i64::MAX)
}
