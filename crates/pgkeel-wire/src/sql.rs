//! Quoting names and values into SQL text, the one copy pgkeel uses: identifiers as
//! `"name"` and literals as `'value'` with the quote character doubled and no backslash
//! escapes. That is what PostgreSQL reads with `standard_conforming_strings = on` (the default
//! since 9.1) and what the walsender's replication-command scanner reads; a NUL cannot be
//! quoted at all (check with [`has_nul`]).

/// `name` as a double-quoted identifier: `my"table` becomes `"my""table"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a single-quoted string literal: `it's` becomes `'it''s'`; a backslash stays a
/// backslash.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// True when `text` holds a NUL byte, which no SQL text or message string can carry.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_the_quote_character() {
        assert_eq!(quote_ident("slot"), "\"slot\"");
        assert_eq!(quote_ident("Mixed \"Case\""), "\"Mixed \"\"Case\"\"\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("back\\slash"), "'back\\slash'");
        assert!(has_nul("a\0b"));
        assert!(!has_nul("ab"));
    }
}
