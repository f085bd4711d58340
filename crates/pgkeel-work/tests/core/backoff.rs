//! The backoff arithmetic, table-driven: BMDB's rules (whole seconds rounded up, at least 1 s,
//! exponent at least 1, clamped to the maximum, first failure uses the initial interval).

use std::time::Duration;

use pgkeel_work::WorkBackoff;

/// The intervals of `n` failures in a row, each computed from the one persisted before.
fn run(backoff: &WorkBackoff, n: usize) -> Vec<i64> {
    let mut last = None;
    (0..n)
        .map(|_| {
            let next = backoff.next_interval(last);
            last = Some(next);
            next
        })
        .collect()
}

/// The longest interval a backoff gives (so the database can add it to a timestamp).
const TEN_YEARS: i64 = 10 * 365 * 24 * 3600;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn intervals_follow_bmdbs_rules() {
    let table: &[(&str, WorkBackoff, &[i64])] = &[
        (
            "doubling from 1 s to 60 s",
            WorkBackoff::new(secs(1.0), secs(60.0), 2.0),
            &[1, 2, 4, 8, 16, 32, 60, 60],
        ),
        (
            "exponent 1.5 rounds up",
            WorkBackoff::new(secs(1.0), secs(60.0), 1.5),
            &[1, 2, 3, 5, 8, 12, 18, 27, 41, 60, 60],
        ),
        (
            "a huge exponent clamps to the maximum",
            WorkBackoff::new(secs(1.0), secs(3600.0), 1e300),
            &[1, 3600, 3600],
        ),
        (
            "an infinite exponent clamps too",
            WorkBackoff::new(secs(2.0), secs(30.0), f64::INFINITY),
            &[2, 30, 30],
        ),
        (
            "a sub-second initial rounds up to 1 s",
            WorkBackoff::new(secs(0.2), secs(10.0), 2.0),
            &[1, 2, 4, 8, 10],
        ),
        (
            "a fractional initial rounds up",
            WorkBackoff::new(secs(1.2), secs(10.0), 2.0),
            &[2, 4, 8, 10],
        ),
        (
            "exponent 0.5 is treated as 1",
            WorkBackoff::new(secs(3.0), secs(60.0), 0.5),
            &[3, 3, 3, 3],
        ),
        (
            "a NaN exponent is treated as 1",
            WorkBackoff::new(secs(1.0), secs(60.0), f64::NAN),
            &[1, 1, 1],
        ),
        (
            "a maximum below the initial is the initial",
            WorkBackoff::new(secs(5.0), secs(2.0), 2.0),
            &[5, 5, 5],
        ),
        (
            "zero everything is 1 s",
            WorkBackoff::new(Duration::ZERO, Duration::ZERO, 0.0),
            &[1, 1],
        ),
        (
            "a maximum of Duration::MAX does not overflow",
            WorkBackoff::new(secs(1.0), Duration::MAX, 1e10),
            &[1, TEN_YEARS, TEN_YEARS],
        ),
    ];
    for (name, backoff, expected) in table {
        assert_eq!(run(backoff, expected.len()), *expected, "{name}");
    }
}

#[test]
fn a_persisted_interval_continues_the_sequence() {
    let b = WorkBackoff::new(secs(1.0), secs(60.0), 2.0);
    assert_eq!(b.next_interval(Some(8)), 16);
    // An interval persisted under an older, larger maximum comes back within the new one.
    assert_eq!(b.next_interval(Some(500)), 60);
    // A nonsense persisted interval starts again.
    assert_eq!(b.next_interval(Some(0)), 1);
    assert_eq!(b.next_interval(Some(-7)), 1);
    // Never below the initial interval, even when one was persisted under a smaller initial.
    let b = WorkBackoff::new(secs(10.0), secs(60.0), 1.0);
    assert_eq!(b.next_interval(Some(2)), 10);
}

#[test]
fn jitter_stays_within_its_share_and_at_least_one_second() {
    let b = WorkBackoff::new(secs(1.0), secs(600.0), 2.0).with_jitter(0.5);
    assert_eq!(b.jittered(100, 0.0), 50);
    assert_eq!(b.jittered(100, 0.5), 100);
    assert_eq!(b.jittered(100, 0.999_999), 150);
    // Rounded up, never below 1 s.
    assert_eq!(b.jittered(1, 0.0), 1);
    assert_eq!(b.jittered(3, 0.1), 2);
    // No jitter: the interval itself; a share above 1 counts as 1.
    assert_eq!(
        WorkBackoff::new(secs(1.0), secs(9.0), 2.0).jittered(7, 0.0),
        7
    );
    assert_eq!(b.with_jitter(5.0).jittered(10, 0.0), 1);
    for r in [0.0, 0.1, 0.3, 0.7, 0.99] {
        for interval in [1, 2, 5, 60] {
            let wait = b.jittered(interval, r);
            assert!(wait >= 1, "{interval} {r}: {wait}");
            assert!(
                wait as f64 <= (interval as f64 * 1.5).ceil(),
                "{interval} {r}: {wait}"
            );
            assert!(
                wait as f64 >= (interval as f64 * 0.5).floor(),
                "{interval} {r}: {wait}"
            );
        }
    }
}
