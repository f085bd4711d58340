//! The server's rule for replication slot names, the one copy: the stream's settings and the
//! replication client check it before a name reaches SQL text, so a bad name is a clear error.

/// Checks `name` against PostgreSQL's rule: 1 to 63 characters, lower-case letters, digits
/// and `_`. The error says what is wrong and what to use instead.
pub(crate) fn check(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid replication slot name; use 1 to 63 lower-case letters, \
             digits and underscores (a PostgreSQL rule)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_follow_the_server_rule() {
        assert!(check("pgkeel_slot_1").is_ok());
        assert!(check(&"x".repeat(63)).is_ok());
        for bad in [
            "",
            "Upper",
            "with space",
            "semi;colon",
            "quote\"",
            "dash-ed",
            "ünï",
            &"x".repeat(64),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains("lower-case"), "{bad:?}: {err}");
        }
    }
}
