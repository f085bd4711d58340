//! The `DURATION` syntax of every flag that takes one: `500ms`, `5s`, `2m`, or a bare number
//! of seconds (fractions allowed: `0.5s`).

use std::time::Duration;

/// Parses `500ms`, `5s`, `2m` or a bare number of seconds; the error text says what is
/// expected (clap shows it after the flag's name).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| Duration::from_secs_f64(v * scale))
        .ok_or_else(|| format!("`{text}` is not a duration (e.g. 5s, 500ms, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        let ok = |text: &str| parse_duration(text).unwrap_or_default();
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("5s"), Duration::from_secs(5));
        assert_eq!(ok("0.5s"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("3"), Duration::from_secs(3));
        assert_eq!(ok(" 10 ms "), Duration::from_millis(10));
        assert_eq!(ok("0"), Duration::ZERO);
    }

    #[test]
    fn garbage_is_refused_with_an_example() {
        for bad in ["", "soon", "5h", "-1s", "NaNs", "infs", "1e400s"] {
            let error = parse_duration(bad).err().unwrap_or_default();
            assert!(
                error.contains("is not a duration (e.g. 5s, 500ms, 2m)"),
                "{bad:?}: {error:?}"
            );
        }
        assert_eq!(
            parse_duration("soon"),
            Err("`soon` is not a duration (e.g. 5s, 500ms, 2m)".to_owned())
        );
    }
}
