//! Exponential backoff with jitter: base, doubling, capped, reset after success.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
    /// Share of each delay that is random, 0.0–1.0: a delay is drawn from
    /// `[d × (1 − jitter), d]` so instances that lost the database together do not retry
    /// together.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            jitter: 0.3,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = first retry), given a random fraction in
    /// [0, 1).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let jitter = self.jitter.clamp(0.0, 1.0);
        raw.mul_f64(1.0 - jitter * random.clamp(0.0, 1.0))
    }
}

/// The delay before retry number `attempt` while the server says it is starting up (57P03):
/// it listens already and becomes ready within milliseconds to seconds, so retries start at
/// 10 ms and double to at most 250 ms instead of following the (longer) recovery backoff.
pub(crate) fn starting_up_delay(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(5);
    Duration::from_millis(10 << exponent).min(Duration::from_millis(250))
}

/// A small random source for jitter (xorshift, seeded from the clock and a counter).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Jitter {
    /// A source seeded from the clock, the process id and a counter.
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SALT: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let salt = SALT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        Jitter((now ^ salt ^ u64::from(std::process::id())) | 1)
    }

    /// A random fraction in [0, 1).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_jitters_downwards() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            jitter: 0.5,
        };
        let plain: Vec<u128> = (1..=6).map(|a| b.delay(a, 0.0).as_millis()).collect();
        assert_eq!(plain, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(1));
        let starting: Vec<u128> = (1..=7).map(|a| starting_up_delay(a).as_millis()).collect();
        assert_eq!(starting, vec![10, 20, 40, 80, 160, 250, 250]);
        let mut j = Jitter::new();
        assert!((0..1000).map(|_| j.next()).all(|r| (0.0..1.0).contains(&r)));
    }
}
