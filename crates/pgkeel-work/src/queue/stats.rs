//! Queue metrics (names for the `metrics` facade) and a worker's own counters, including a
//! pickup-latency histogram it can report without a metrics recorder (e.g. to a benchmark).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Jobs enqueued, by queue.
pub const ENQUEUED: &str = "pgkeel_work_jobs_enqueued_total";
/// Jobs claimed, by queue.
pub const CLAIMED: &str = "pgkeel_work_jobs_claimed_total";
/// Jobs completed (deleted), by queue.
pub const COMPLETED: &str = "pgkeel_work_jobs_completed_total";
/// Job failures recorded (retried or quarantined), by queue.
pub const FAILED: &str = "pgkeel_work_jobs_failed_total";
/// Jobs quarantined after their last attempt, by queue.
pub const QUARANTINED: &str = "pgkeel_work_jobs_quarantined_total";
/// Running jobs of expired sessions made available again.
pub const RESCUED: &str = "pgkeel_work_jobs_rescued_total";
/// Seconds from a job becoming due (`max(run_at, created_at)`) to its claim, by queue.
pub const PICKUP_SECONDS: &str = "pgkeel_work_pickup_seconds";

/// Sub-buckets per power of two: values are kept within 1/32 (about 3 %).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Largest power of two kept apart (2^37 µs is about 38 hours; larger values land there).
const TOP_EXPONENT: u32 = 37;
const BUCKETS: usize = SUB + (TOP_EXPONENT - SUB_BITS) as usize * SUB;

fn bucket_of(micros: u64) -> usize {
    let v = micros.min((1u64 << TOP_EXPONENT) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros();
    let sub = ((v >> (exponent - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (exponent - SUB_BITS) as usize * SUB + sub
}

/// The middle of a bucket, in microseconds.
fn value_of(bucket: usize) -> u64 {
    if bucket < SUB {
        return bucket as u64;
    }
    let shift = ((bucket - SUB) / SUB) as u32;
    let sub = ((bucket - SUB) % SUB) as u64;
    let low = (SUB as u64 + sub) << shift;
    low + ((1u64 << shift) >> 1)
}

/// A latency histogram: log-linear buckets from 1 µs to about 38 h, within about 3 %.
#[derive(Clone, PartialEq, Eq)]
pub struct Latencies {
    counts: Vec<u64>,
    total: u64,
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latencies")
            .field("count", &self.total)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl Latencies {
    /// Adds one value.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(micros)] += 1;
        self.total += 1;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value below which a share `q` (0.0–1.0) of the values lie; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_micros(value_of(bucket)));
            }
        }
        None
    }

    /// Adds the values of `other` (e.g. to sum several workers).
    pub fn merge(&mut self, other: &Latencies) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }
}

/// What a worker did so far (see [`Worker::stats`](super::Worker::stats)).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Jobs claimed.
    pub claimed: u64,
    /// Jobs completed (deleted).
    pub completed: u64,
    /// Failures recorded (the job is retried later, or quarantined).
    pub failed: u64,
    /// Jobs quarantined after their last attempt.
    pub quarantined: u64,
    /// Results that were not recorded: the session no longer held the job (it expired and the
    /// job was rescued), or the database stayed unreachable. Those jobs run again.
    pub lost: u64,
    /// Handlers running now.
    pub running: usize,
    /// Claim statements run.
    pub claims: u64,
    /// Wake-ups by a notification for this worker's queue.
    pub notifications: u64,
    /// LISTEN is in force (notifications wake the worker; otherwise only polling does).
    pub listening: bool,
    /// Waiting for a wake-up with none pending: nothing is due that the worker knows of.
    pub idle: bool,
    /// When the first job was claimed.
    pub first_claim: Option<Instant>,
    /// When the last completion was recorded.
    pub last_completion: Option<Instant>,
    /// From a job becoming due to its claim.
    pub pickup: Latencies,
}

/// The live counters behind [`WorkerStats`], shared by the worker's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) claimed: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) running: AtomicUsize,
    pub(crate) claims: AtomicU64,
    pub(crate) notifications: AtomicU64,
    pub(crate) listening: AtomicBool,
    /// Wake-up signals sent, and how many of them the worker has acted on.
    pub(crate) sent: AtomicU64,
    pub(crate) seen: AtomicU64,
    /// The worker is blocked waiting for a wake-up.
    pub(crate) waiting: AtomicBool,
    times: Mutex<(Option<Instant>, Option<Instant>)>,
    pickup: Mutex<Latencies>,
}

impl Counters {
    pub(crate) fn claimed(&self, pickups: impl Iterator<Item = Duration>) {
        let mut n = 0;
        {
            let mut histogram = self.pickup.lock().unwrap_or_else(|e| e.into_inner());
            for pickup in pickups {
                histogram.record(pickup);
                n += 1;
            }
        }
        self.claimed.fetch_add(n, Ordering::Relaxed);
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.0.get_or_insert_with(Instant::now);
    }

    pub(crate) fn completed(&self, n: u64) {
        self.completed.fetch_add(n, Ordering::Relaxed);
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.1 = Some(Instant::now());
    }

    /// Waiting with every signal acted on. `seen` is read before and after `waiting`: had
    /// the worker acted on a signal in between, it would have changed.
    fn idle(&self) -> bool {
        let seen = self.seen.load(Ordering::SeqCst);
        let sent = self.sent.load(Ordering::SeqCst);
        let waiting = self.waiting.load(Ordering::SeqCst);
        waiting && seen == sent && self.seen.load(Ordering::SeqCst) == seen
    }

    pub(crate) fn snapshot(&self) -> WorkerStats {
        let (first_claim, last_completion) = *self.times.lock().unwrap_or_else(|e| e.into_inner());
        WorkerStats {
            claimed: self.claimed.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            quarantined: self.quarantined.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            claims: self.claims.load(Ordering::Relaxed),
            notifications: self.notifications.load(Ordering::Relaxed),
            listening: self.listening.load(Ordering::Relaxed),
            idle: self.idle(),
            first_claim,
            last_completion,
            pickup: self
                .pickup
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_three_percent() {
        for micros in [
            0u64,
            1,
            31,
            32,
            33,
            100,
            1_000,
            123_456,
            10_000_000,
            1 << 36,
        ] {
            let back = value_of(bucket_of(micros));
            let error = back.abs_diff(micros) as f64 / micros.max(1) as f64;
            assert!(error <= 1.0 / 32.0, "{micros} came back as {back}");
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
        let mut h = Latencies::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        let p99 = h.quantile(0.99).unwrap().as_secs_f64();
        assert!((0.048..=0.052).contains(&p50), "{p50}");
        assert!((0.096..=0.102).contains(&p99), "{p99}");
        let mut sum = Latencies::default();
        sum.merge(&h);
        sum.merge(&h);
        assert_eq!(sum.count(), 200);
    }
}
