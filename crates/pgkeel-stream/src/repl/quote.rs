//! Quoting for replication commands: identifiers (`"name"`) and string literals (`'value'`)
//! as the walsender's command scanner reads them (doubled quotes, no backslash escapes), and
//! the slot-name rule the server enforces.

use crate::repl::error::ReplError;

/// `name` as a double-quoted identifier: `my"slot` becomes `"my""slot"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a single-quoted string literal: `it's` becomes `'it''s'`.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The value of pgoutput's `publication_names` option: each name as an identifier, joined by
/// commas (`["a", "B"]` gives `"a","B"`), so names with capitals or commas survive.
pub fn publication_names<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n.as_ref()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The server's rule for slot names: 1 to 63 characters, lower-case letters, digits and `_`.
/// Checked before sending, so a bad name is a clear error and never reaches the SQL text.
pub(crate) fn check_slot_name(name: &str) -> Result<(), ReplError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ReplError::invalid(format!(
            "{name:?} is not a valid replication slot name; use 1 to 63 lower-case letters, \
             digits and underscores"
        )))
    }
}

/// Refuses text that cannot travel in a Query message (a NUL byte would cut it short).
pub(crate) fn check_no_nul(what: &str, text: &str) -> Result<(), ReplError> {
    if text.contains('\0') {
        Err(ReplError::invalid(format!("{what} contains a NUL byte")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_the_quote_character() {
        assert_eq!(quote_ident("slot"), "\"slot\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("back\\slash"), "'back\\slash'");
        assert_eq!(publication_names(&["a", "B,c"]), "\"a\",\"B,c\"");
    }

    #[test]
    fn slot_names_follow_the_server_rule() {
        assert!(check_slot_name("pgkeel_slot_1").is_ok());
        for bad in [
            "",
            "Upper",
            "with space",
            "semi;colon",
            "quote\"",
            &"x".repeat(64),
        ] {
            let err = check_slot_name(bad).unwrap_err();
            assert!(err.is_fatal(), "{bad:?}");
        }
        assert!(check_no_nul("query", "a\0b").is_err());
    }
}
