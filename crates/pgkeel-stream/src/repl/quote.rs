//! What replication commands need beyond `pgkeel_wire::sql`'s quoting: pgoutput's
//! `publication_names` value, and the refusal of text a Query message cannot carry.

use pgkeel_wire::sql::{has_nul, quote_ident};

use crate::repl::error::ReplError;

/// The value of pgoutput's `publication_names` option: each name as an identifier, joined by
/// commas (`["a", "B"]` gives `"a","B"`), so names with capitals or commas survive.
///
/// ```
/// assert_eq!(pgkeel_stream::publication_names(&["a", "B,c"]), r#""a","B,c""#);
/// ```
pub fn publication_names<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuses text that cannot travel in a Query message (a NUL byte would cut it short).
pub(crate) fn check_no_nul(what: &str, text: &str) -> Result<(), ReplError> {
    if has_nul(text) {
        Err(ReplError::invalid(format!("{what} contains a NUL byte")))
    } else {
        Ok(())
    }
}

/// The server's slot-name rule (see [`crate::slot_name`]), as a replication-client error.
pub(crate) fn check_slot_name(name: &str) -> Result<(), ReplError> {
    crate::slot_name::check(name).map_err(ReplError::invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_names_are_quoted_identifiers() {
        assert_eq!(publication_names(&["a", "B,c"]), "\"a\",\"B,c\"");
        assert_eq!(publication_names(&["q\"uote"]), "\"q\"\"uote\"");
        assert_eq!(publication_names::<&str>(&[]), "");
    }

    #[test]
    fn bad_slot_names_and_nul_bytes_are_fatal() {
        assert!(check_slot_name("pgkeel_slot_1").is_ok());
        let err = check_slot_name("Upper").unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(check_no_nul("query", "a\0b").unwrap_err().is_fatal());
        assert!(check_no_nul("query", "ab").is_ok());
    }
}
