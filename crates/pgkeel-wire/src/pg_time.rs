//! PostgreSQL's clock: timestamps on the wire (replication status updates, XLogData send
//! times, binary `timestamptz`) count microseconds since 2000-01-01 00:00:00 UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds from the Unix epoch (1970-01-01) to PostgreSQL's (2000-01-01).
pub const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

/// PostgreSQL's epoch as a `SystemTime`.
pub fn postgres_epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(POSTGRES_EPOCH_UNIX_SECONDS as u64)
}

/// `at` as microseconds since PostgreSQL's epoch (negative before 2000): the microsecond that
/// contains `at` (rounded down, also before 2000), saturating at the ends of `i64`.
pub fn to_postgres_micros(at: SystemTime) -> i64 {
    let epoch = postgres_epoch();
    match at.duration_since(epoch) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let partial = u128::from(before.subsec_nanos() % 1_000 != 0);
            i64::try_from(before.as_micros() + partial).map_or(i64::MIN, |m| -m)
        }
    }
}

/// Microseconds since PostgreSQL's epoch as a `SystemTime`; `None` if it does not fit.
pub fn from_postgres_micros(micros: i64) -> Option<SystemTime> {
    let offset = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        postgres_epoch().checked_add(offset)
    } else {
        postgres_epoch().checked_sub(offset)
    }
}

/// Microseconds since PostgreSQL's epoch as microseconds since the Unix epoch.
pub fn postgres_to_unix_micros(micros: i64) -> Option<i64> {
    micros.checked_add(POSTGRES_EPOCH_UNIX_SECONDS * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        assert_eq!(to_postgres_micros(postgres_epoch()), 0);
        assert_eq!(to_postgres_micros(UNIX_EPOCH), -946_684_800_000_000);
        let at = postgres_epoch() + Duration::from_micros(42);
        assert_eq!(to_postgres_micros(at), 42);
        assert_eq!(from_postgres_micros(42), Some(at));
        assert_eq!(from_postgres_micros(-946_684_800_000_000), Some(UNIX_EPOCH));
        assert_eq!(postgres_to_unix_micros(0), Some(946_684_800_000_000));
        assert_eq!(postgres_to_unix_micros(i64::MAX), None);
        let just_before = postgres_epoch() - Duration::from_nanos(1);
        assert_eq!(to_postgres_micros(just_before), -1, "rounded down");
    }
}
