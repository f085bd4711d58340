//! PostgreSQL's clock (microseconds since 2000-01-01 UTC) against `SystemTime` and the Unix
//! epoch: conversions round-trip, keep order, and agree with each other.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgkeel_wire::pg_time::{
    POSTGRES_EPOCH_UNIX_SECONDS, from_postgres_micros, postgres_epoch, postgres_to_unix_micros,
    to_postgres_micros,
};
use proptest::prelude::*;

/// Microseconds since the Unix epoch of `at` (negative before 1970).
fn unix_micros(at: SystemTime) -> i128 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i128,
        Err(before) => -(before.duration().as_micros() as i128),
    }
}

/// Any instant PostgreSQL can store (4713 BC to 294276 AD is about ±9.2e18 µs) and more.
fn micros() -> impl Strategy<Value = i64> {
    prop_oneof![
        -10_000_000_000i64..10_000_000_000, // around 2000-01-01, µs precision
        -(1i64 << 60)..(1i64 << 60),
        any::<i64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn micros_round_trip_through_system_time(m in micros()) {
        // Linux's SystemTime holds any i64 count of microseconds around 2000.
        let at = from_postgres_micros(m).expect("fits a SystemTime");
        prop_assert_eq!(to_postgres_micros(at), m);
        let unix = i128::from(POSTGRES_EPOCH_UNIX_SECONDS) * 1_000_000 + i128::from(m);
        prop_assert_eq!(unix_micros(at), unix);
        match postgres_to_unix_micros(m) {
            Some(u) => prop_assert_eq!(i128::from(u), unix),
            None => prop_assert!(unix > i128::from(i64::MAX), "only overflow is refused"),
        }
    }

    /// An instant converts to the microsecond that contains it (rounded down), before 2000 too.
    #[test]
    fn system_time_keeps_its_microsecond(m in micros(), nanos in 0u64..1_000) {
        let at = from_postgres_micros(m).expect("fits a SystemTime");
        let later = at + Duration::from_nanos(nanos);
        prop_assert_eq!(to_postgres_micros(later), m);
    }

    #[test]
    fn order_is_kept(a in micros(), b in micros()) {
        let (ta, tb) = (from_postgres_micros(a).unwrap(), from_postgres_micros(b).unwrap());
        prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
        prop_assert_eq!(to_postgres_micros(ta).cmp(&to_postgres_micros(tb)), a.cmp(&b));
    }
}

#[test]
fn the_epochs_are_thirty_years_apart() {
    assert_eq!(
        postgres_epoch(),
        UNIX_EPOCH + Duration::from_secs(946_684_800)
    );
    assert_eq!(to_postgres_micros(postgres_epoch()), 0);
    // 2000-01-01 is 10 957 days after 1970-01-01.
    assert_eq!(POSTGRES_EPOCH_UNIX_SECONDS, 10_957 * 86_400);
    assert_eq!(postgres_to_unix_micros(-946_684_800_000_000), Some(0));
    assert_eq!(
        postgres_to_unix_micros(i64::MIN),
        Some(i64::MIN + 946_684_800_000_000)
    );
    assert_eq!(
        postgres_to_unix_micros(i64::MAX - 946_684_800_000_000),
        Some(i64::MAX)
    );
    assert_eq!(
        postgres_to_unix_micros(i64::MAX - 946_684_800_000_000 + 1),
        None
    );
}
