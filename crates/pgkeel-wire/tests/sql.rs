//! SQL quoting: what `quote_ident`/`quote_literal` write reads back as the original text, and
//! identifiers match `postgres_protocol::escape` (libpq's rules); literals too, except that we
//! never switch to `E'...'` for backslashes (standard_conforming_strings is on, and the
//! walsender's scanner knows no `E'...'`).

use pgkeel_wire::sql::{has_nul, quote_ident, quote_literal};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use proptest::prelude::*;

/// The text inside `quoted`, read the way PostgreSQL's scanner reads a quoted token: the
/// quote character doubled is one quote character; a single one would end the token.
fn unquote(quoted: &str, quote: char) -> Option<String> {
    let inner = quoted.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == quote && chars.next() != Some(quote) {
            return None; // the token would end early
        }
        out.push(c);
    }
    Some(out)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_\"'\\\\ ]{0,12}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn quoted_text_reads_back(value in text()) {
        prop_assert_eq!(unquote(&quote_ident(&value), '"'), Some(value.clone()));
        prop_assert_eq!(unquote(&quote_literal(&value), '\''), Some(value.clone()));
        prop_assert_eq!(quote_ident(&value), escape_identifier(&value));
        if !value.contains('\\') {
            prop_assert_eq!(quote_literal(&value), escape_literal(&value));
        }
        prop_assert!(!has_nul(&value));
        let with_nul = format!("{value}\0");
        prop_assert!(has_nul(&with_nul));
    }
}

#[test]
fn backslashes_stay_as_they_are() {
    assert_eq!(quote_literal("a\\'b"), "'a\\''b'");
    assert_eq!(
        escape_literal("a\\'b"),
        " E'a\\\\''b'",
        "the oracle's other form"
    );
    assert_eq!(quote_ident("\\"), "\"\\\"");
}
