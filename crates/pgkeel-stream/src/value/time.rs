//! Timestamps as ISO 8601 with microseconds, the one home of pgkeel-stream's calendar math:
//! the text of DateStyle ISO (`2026-11-22 10:00:00.5+05:30` becomes
//! `2026-11-22T04:30:00.500000Z`; anything else — `infinity`, BC dates, other DateStyles — is
//! left to the caller to keep as sent), and PostgreSQL's clock (µs since 2000-01-01 UTC, as
//! pgoutput sends commit times).

use std::fmt::Write;

use pgkeel_wire::pg_time::POSTGRES_EPOCH_UNIX_SECONDS;

use crate::pgoutput::PgTimestamp;

/// `2026-11-22T10:00:00.123456Z`. Out-of-range values (infinity) give `infinity`/`-infinity`.
pub(crate) fn iso8601(ts: PgTimestamp) -> String {
    match ts.0 {
        i64::MAX => return "infinity".to_owned(),
        i64::MIN => return "-infinity".to_owned(),
        _ => {}
    }
    let micros = ts.0.rem_euclid(1_000_000) as u32;
    let seconds = ts.0.div_euclid(1_000_000) + POSTGRES_EPOCH_UNIX_SECONDS;
    let of_day = seconds.rem_euclid(86_400) as u32;
    let clock = Clock {
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
        micros,
    };
    format(civil_from_days(seconds.div_euclid(86_400)), clock, "Z")
}

/// A timestamptz in UTC: `2026-11-22T10:00:00.123456Z`, whatever offset the server wrote.
pub(crate) fn timestamptz(text: &str) -> Option<String> {
    let (date, rest) = date(text)?;
    let (clock, rest) = clock(rest.strip_prefix(' ')?)?;
    let offset = offset(rest)?;
    let (date, clock) = if offset == 0 {
        (date, clock)
    } else {
        shift(date, clock, -offset)?
    };
    Some(format(date, clock, "Z"))
}

/// A timestamp without time zone: `2026-11-22T10:00:00.123456`.
pub(crate) fn timestamp(text: &str) -> Option<String> {
    let (date, rest) = date(text)?;
    let (clock, rest) = clock(rest.strip_prefix(' ')?)?;
    rest.is_empty().then(|| format(date, clock, ""))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: i64,
    month: u32,
    day: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

fn format(date: Date, clock: Clock, suffix: &str) -> String {
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{suffix}",
        date.year, date.month, date.day, clock.hour, clock.minute, clock.second, clock.micros
    );
    out
}

/// Exactly `min..=max` leading ASCII digits as a number, and the rest.
fn digits(text: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    if len < min || len > max {
        return None;
    }
    let (number, rest) = text.split_at(len);
    Some((number.parse().ok()?, rest))
}

fn two(text: &str) -> Option<(u32, &str)> {
    digits(text, 2, 2).map(|(n, rest)| (n as u32, rest))
}

/// `YYYY-MM-DD` (the year may have more digits).
fn date(text: &str) -> Option<(Date, &str)> {
    let (year, rest) = digits(text, 4, 7)?;
    let (month, rest) = two(rest.strip_prefix('-')?)?;
    let (day, rest) = two(rest.strip_prefix('-')?)?;
    ((1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day))
        .then_some((Date { year, month, day }, rest))
}

/// `HH:MM:SS` with an optional fraction of up to six digits.
fn clock(text: &str) -> Option<(Clock, &str)> {
    let (hour, rest) = two(text)?;
    let (minute, rest) = two(rest.strip_prefix(':')?)?;
    let (second, mut rest) = two(rest.strip_prefix(':')?)?;
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let (value, after) = digits(fraction, 1, 6)?;
        let len = fraction.len() - after.len();
        micros = value as u32 * 10u32.pow(6 - len as u32);
        rest = after;
    }
    (hour < 24 && minute < 60 && second < 60).then_some((
        Clock {
            hour,
            minute,
            second,
            micros,
        },
        rest,
    ))
}

/// `+HH`, `-HH:MM` or `+HH:MM:SS` ending the text, in seconds east of UTC.
fn offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, mut rest) = two(rest)?;
    let mut seconds = i64::from(hours) * 3600;
    for unit in [60, 1] {
        let Some(more) = rest.strip_prefix(':') else {
            break;
        };
        let (value, after) = two(more)?;
        if value >= 60 {
            return None;
        }
        seconds += i64::from(value) * unit;
        rest = after;
    }
    rest.is_empty().then_some(sign * seconds)
}

/// The date and time `seconds` later; `None` when that leaves the years AD.
fn shift(date: Date, clock: Clock, seconds: i64) -> Option<(Date, Clock)> {
    let total = days_from_civil(date)
        .checked_mul(86_400)?
        .checked_add(
            i64::from(clock.hour) * 3600 + i64::from(clock.minute) * 60 + i64::from(clock.second),
        )?
        .checked_add(seconds)?;
    let date = civil_from_days(total.div_euclid(86_400));
    let second_of_day = total.rem_euclid(86_400) as u32;
    (date.year >= 1).then_some((
        date,
        Clock {
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            micros: clock.micros,
        },
    ))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn days_from_civil(date: Date) -> i64 {
    let month = i64::from(date.month);
    let year = if month <= 2 { date.year - 1 } else { date.year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + i64::from(date.day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> Date {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_postgres_timestamps() {
        assert_eq!(iso8601(PgTimestamp(0)), "2000-01-01T00:00:00.000000Z");
        assert_eq!(iso8601(PgTimestamp(-1)), "1999-12-31T23:59:59.999999Z");
        // 2024-02-29 12:34:56.789012 UTC = 1709210096 Unix seconds.
        let ts = PgTimestamp((1_709_210_096 - POSTGRES_EPOCH_UNIX_SECONDS) * 1_000_000 + 789_012);
        assert_eq!(iso8601(ts), "2024-02-29T12:34:56.789012Z");
        assert_eq!(iso8601(PgTimestamp(i64::MAX)), "infinity");
        assert_eq!(iso8601(PgTimestamp(i64::MIN)), "-infinity");
        // The same instant written by the server as text converts to the same string.
        assert_eq!(
            timestamptz("2024-02-29 13:34:56.789012+01").as_deref(),
            Some(iso8601(ts).as_str())
        );
    }

    #[test]
    fn civil_days_round_trip() {
        for days in (-800_000..3_000_000).step_by(997) {
            assert_eq!(days_from_civil(civil_from_days(days)), days);
        }
        let epoch = Date {
            year: 1970,
            month: 1,
            day: 1,
        };
        assert_eq!(days_from_civil(epoch), 0);
        assert_eq!(civil_from_days(-1).day, 31);
    }

    #[test]
    fn rejects_what_is_not_iso() {
        for text in [
            "infinity",
            "2026-11-22 10:00:00+00 BC",
            "2026-13-01 10:00:00+00",
            "2026-02-30 10:00:00+00",
            "2026-11-22 25:00:00+00",
            "2026-11-22 10:00:00.1234567+00",
            "2026-11-22T10:00:00+00",
            "Sun Nov 22 10:00:00 2026 UTC",
            "2026-11-22 10:00:00+0",
            "2026-11-22 10:00:00",
        ] {
            assert_eq!(timestamptz(text), None, "{text}");
        }
        assert_eq!(timestamp("2026-11-22 10:00:00+00"), None);
        assert_eq!(
            timestamptz("0001-01-01 00:30:00+01"),
            None,
            "would become BC"
        );
    }
}
