//! How the binary writes a moment: RFC 3339 in UTC with milliseconds
//! (`2023-11-14T22:13:20.123Z`), the same in `listen`'s JSON lines, `work status` and
//! `serve`'s `/schema`, so text sorts like time and tools parse one format.

use std::time::SystemTime;

/// `at` as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// A serde `serialize_with` for a `SystemTime` field: [`rfc3339`] as a string.
pub(crate) fn serialize_rfc3339<S: serde::Serializer>(
    at: &SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*at))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn utc_with_milliseconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let json = serde_json::to_value(Stamped { at }).unwrap_or_default();
        assert_eq!(json["at"], "2023-11-14T22:13:20.123Z");
    }

    #[derive(serde::Serialize)]
    struct Stamped {
        #[serde(serialize_with = "serialize_rfc3339")]
        at: SystemTime,
    }
}
