//! PostgreSQL timestamps (microseconds since 2000-01-01 UTC) as ISO 8601 text.

use crate::pgoutput::PgTimestamp;

/// Seconds from 1970-01-01 to 2000-01-01.
const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

/// `2026-11-22T10:00:00.123456Z`. Out-of-range values (infinity) give `infinity`/`-infinity`.
pub fn iso8601(ts: PgTimestamp) -> String {
    match ts.0 {
        i64::MAX => return "infinity".to_owned(),
        i64::MIN => return "-infinity".to_owned(),
        _ => {}
    }
    let micros = ts.0.rem_euclid(1_000_000);
    let seconds = ts.0.div_euclid(1_000_000) + POSTGRES_EPOCH_UNIX_SECONDS;
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Microseconds since the PostgreSQL epoch for a Unix time (for status updates).
pub fn from_unix_micros(unix_micros: i64) -> PgTimestamp {
    PgTimestamp(unix_micros - POSTGRES_EPOCH_UNIX_SECONDS * 1_000_000)
}

/// The wall-clock time of a PostgreSQL timestamp (`None` when out of range).
pub fn to_system_time(ts: PgTimestamp) -> Option<std::time::SystemTime> {
    let unix_micros = ts.0.checked_add(POSTGRES_EPOCH_UNIX_SECONDS * 1_000_000)?;
    let micros = u64::try_from(unix_micros).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_micros(micros))
}

/// Now, as a PostgreSQL timestamp.
pub fn now() -> PgTimestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    from_unix_micros(micros)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(PgTimestamp(0)), "2000-01-01T00:00:00.000000Z");
        assert_eq!(iso8601(PgTimestamp(-1)), "1999-12-31T23:59:59.999999Z");
        // 2024-02-29 12:34:56.789012 UTC = 1709210096 Unix seconds.
        let ts = PgTimestamp((1_709_210_096 - POSTGRES_EPOCH_UNIX_SECONDS) * 1_000_000 + 789_012);
        assert_eq!(iso8601(ts), "2024-02-29T12:34:56.789012Z");
        assert_eq!(iso8601(PgTimestamp(i64::MAX)), "infinity");
        assert_eq!(
            from_unix_micros(POSTGRES_EPOCH_UNIX_SECONDS * 1_000_000),
            PgTimestamp(0)
        );
    }
}
