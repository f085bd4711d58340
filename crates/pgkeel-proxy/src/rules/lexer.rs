//! Tokens of the rule language, with byte spans. Strings and numbers follow Python's literal
//! syntax (the language Citus's failure tests were written in): `"..."`, `'...'`, `b"..."`,
//! `r"..."`, escapes as in Python (unknown escapes such as `\(` are kept as written).

use super::error::RuleError;

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Ident(String),
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Dot,
    LParen,
    RParen,
    Comma,
    Equals,
    Semicolon,
    Eof,
}

impl TokenKind {
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Ident(name) => format!("`{name}`"),
            TokenKind::Str(_) => "a string".into(),
            TokenKind::Bytes(_) => "a bytes literal".into(),
            TokenKind::Int(_) | TokenKind::Float(_) => "a number".into(),
            TokenKind::Dot => "`.`".into(),
            TokenKind::LParen => "`(`".into(),
            TokenKind::RParen => "`)`".into(),
            TokenKind::Comma => "`,`".into(),
            TokenKind::Equals => "`=`".into(),
            TokenKind::Semicolon => "`;`".into(),
            TokenKind::Eof => "the end of the rules".into(),
        }
    }
}

/// Splits `source` into tokens.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, RuleError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let simple = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                // A comment runs to the end of the line.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => Some(TokenKind::Dot),
            b'(' => Some(TokenKind::LParen),
            b')' => Some(TokenKind::RParen),
            b',' => Some(TokenKind::Comma),
            b'=' => Some(TokenKind::Equals),
            b';' => Some(TokenKind::Semicolon),
            _ => None,
        };
        if let Some(kind) = simple {
            i += 1;
            tokens.push(Token {
                kind,
                start,
                end: i,
            });
            continue;
        }
        if c == b'"' || c == b'\'' {
            let (kind, end) = string(source, i, false, false)?;
            tokens.push(Token { kind, start, end });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let mut end = i;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            let word = &source[i..end];
            if matches!(bytes.get(end), Some(b'"' | b'\'')) {
                let lower = word.to_ascii_lowercase();
                let (raw, is_bytes) = match lower.as_str() {
                    "r" => (true, false),
                    "b" => (false, true),
                    "u" => (false, false),
                    "rb" | "br" => (true, true),
                    _ => {
                        return Err(RuleError::at(
                            source,
                            i,
                            format!(
                                "`{word}` cannot prefix a string (use b\"...\", r\"...\" or rb\"...\")"
                            ),
                        ));
                    }
                };
                let (kind, end) = string(source, end, raw, is_bytes)?;
                tokens.push(Token { kind, start, end });
                i = end;
                continue;
            }
            tokens.push(Token {
                kind: TokenKind::Ident(word.to_owned()),
                start,
                end,
            });
            i = end;
            continue;
        }
        if c.is_ascii_digit() || c == b'.' {
            let (kind, end) = number(source, i)?;
            tokens.push(Token { kind, start, end });
            i = end;
            continue;
        }
        let ch = source[i..].chars().next().unwrap_or('?');
        return Err(RuleError::at(
            source,
            i,
            format!("unexpected character `{ch}`"),
        ));
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        start: source.len(),
        end: source.len(),
    });
    Ok(tokens)
}

fn number(source: &str, start: usize) -> Result<(TokenKind, usize), RuleError> {
    let bytes = source.as_bytes();
    let mut end = start;
    let mut float = false;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if bytes.get(end) == Some(&b'.') {
        float = true;
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        float = true;
        end += 1;
        if matches!(bytes.get(end), Some(b'+' | b'-')) {
            end += 1;
        }
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    let text = &source[start..end];
    let bad = || RuleError::at(source, start, format!("`{text}` is not a number"));
    if float {
        text.parse()
            .map(|v| (TokenKind::Float(v), end))
            .map_err(|_| bad())
    } else {
        text.parse()
            .map(|v| (TokenKind::Int(v), end))
            .map_err(|_| bad())
    }
}

/// Lexes a quoted literal starting at the quote `source[at]`; returns the token and end offset.
fn string(
    source: &str,
    at: usize,
    raw: bool,
    is_bytes: bool,
) -> Result<(TokenKind, usize), RuleError> {
    let bytes = source.as_bytes();
    let quote = bytes[at];
    if bytes.get(at + 1) == Some(&quote) && bytes.get(at + 2) == Some(&quote) {
        return Err(RuleError::at(
            source,
            at,
            "triple-quoted strings are not supported",
        ));
    }
    let mut out: Vec<u8> = Vec::new();
    let mut i = at + 1;
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(RuleError::at(source, at, "string is not closed"));
        };
        if c == quote {
            i += 1;
            break;
        }
        if c == b'\n' {
            return Err(RuleError::at(
                source,
                at,
                "string is not closed before the end of the line",
            ));
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = bytes.get(i + 1) else {
            return Err(RuleError::at(source, at, "string is not closed"));
        };
        if raw {
            // Raw strings keep the backslash; it only stops a quote from ending the string.
            out.extend_from_slice(&[b'\\', e]);
            i += 2;
            continue;
        }
        i += 2;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = u32::from(e - b'0');
                let mut n = 1;
                while n < 3 && matches!(bytes.get(i), Some(b'0'..=b'7')) {
                    value = value * 8 + u32::from(bytes[i] - b'0');
                    i += 1;
                    n += 1;
                }
                push_code(&mut out, value, is_bytes, source, i)?;
            }
            b'x' => {
                let value = hex(source, i, 2)?;
                i += 2;
                push_code(&mut out, value, is_bytes, source, i)?;
            }
            b'u' | b'U' if !is_bytes => {
                let digits = if e == b'u' { 4 } else { 8 };
                let value = hex(source, i, digits)?;
                i += digits;
                push_code(&mut out, value, false, source, i)?;
            }
            b'N' if !is_bytes => {
                return Err(RuleError::at(
                    source,
                    i - 2,
                    "\\N{...} escapes are not supported",
                ));
            }
            _ => {
                // Python keeps unknown escapes as written: "\(" is a backslash and a paren,
                // which is what a regex wants.
                out.push(b'\\');
                // Re-read this character normally (it may start a multi-byte UTF-8 sequence).
                i -= 1;
            }
        }
    }
    let kind = if is_bytes {
        TokenKind::Bytes(out)
    } else {
        TokenKind::Str(
            String::from_utf8(out)
                .map_err(|_| RuleError::at(source, at, "string escapes do not form valid UTF-8"))?,
        )
    };
    Ok((kind, i))
}

fn hex(source: &str, at: usize, digits: usize) -> Result<u32, RuleError> {
    source
        .get(at..at + digits)
        .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| RuleError::at(source, at, format!("expected {digits} hex digits")))
}

fn push_code(
    out: &mut Vec<u8>,
    value: u32,
    is_bytes: bool,
    source: &str,
    at: usize,
) -> Result<(), RuleError> {
    if is_bytes {
        let byte = u8::try_from(value)
            .map_err(|_| RuleError::at(source, at, "byte escape above \\xff"))?;
        out.push(byte);
    } else {
        let ch = char::from_u32(value)
            .ok_or_else(|| RuleError::at(source, at, "escape is not a valid character"))?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn python_escapes() {
        assert_eq!(kinds(r#""a\(b""#)[0], TokenKind::Str(r"a\(b".into()));
        assert_eq!(kinds(r#""a\\(b""#)[0], TokenKind::Str(r"a\(b".into()));
        assert_eq!(kinds(r#"'it\'s\n'"#)[0], TokenKind::Str("it's\n".into()));
        assert_eq!(kinds(r#"b"^Q\x00""#)[0], TokenKind::Bytes(b"^Q\0".to_vec()));
        assert_eq!(kinds(r#"r"\d\"""#)[0], TokenKind::Str(r#"\d\""#.into()));
        assert_eq!(kinds(r#""\u00e9""#)[0], TokenKind::Str("é".into()));
        assert_eq!(kinds(r#""é\é""#)[0], TokenKind::Str("é\\é".into()));
    }

    #[test]
    fn numbers_and_punctuation() {
        assert_eq!(
            kinds("after(2).sometimes(0.5);"),
            vec![
                TokenKind::Ident("after".into()),
                TokenKind::LParen,
                TokenKind::Int(2),
                TokenKind::RParen,
                TokenKind::Dot,
                TokenKind::Ident("sometimes".into()),
                TokenKind::LParen,
                TokenKind::Float(0.5),
                TokenKind::RParen,
                TokenKind::Semicolon,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn unclosed_string_points_at_its_start() {
        let e = tokenize("conn.onQuery(query=\"abc").unwrap_err();
        assert_eq!(e.column, 20);
        assert!(tokenize("x = $").is_err());
    }
}
