//! PostgreSQL array literals (`{1,2}`, `{{"a b",NULL},{"\"q\"","NULL"}}`) parsed into nested
//! items, following the server's `array_in` rules.

/// One element of an array literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayItem {
    /// An unquoted `NULL` (any case).
    Null,
    /// An element's text with quotes and escapes removed (a quoted `"NULL"` is text).
    Text(String),
    /// A sub-array: one more dimension.
    Array(Vec<ArrayItem>),
}

/// An array literal that does not follow the syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed array literal at byte {at}: {reason}")]
pub struct ArrayError {
    at: usize,
    reason: &'static str,
}

impl ArrayError {
    /// The byte offset in the literal where parsing failed.
    pub fn position(&self) -> usize {
        self.at
    }
}

/// PostgreSQL's MAXDIM: arrays have at most six dimensions.
const MAX_DIMENSIONS: usize = 6;

/// Parses an array literal whose elements are separated by `delimiter` (`,` for every
/// built-in type but box, which uses `;`). Dimension decorations (`[0:1]={7,8}`, written when
/// a lower bound is not 1) are accepted and dropped: the items are the same.
pub fn parse_array(text: &str, delimiter: char) -> Result<Vec<ArrayItem>, ArrayError> {
    let mut parser = Parser {
        text,
        pos: 0,
        delimiter,
    };
    parser.skip_space();
    if parser.peek() == Some('[') {
        parser.skip_dimensions()?;
    }
    parser.skip_space();
    if parser.next() != Some('{') {
        return Err(parser.error("expected '{'"));
    }
    let items = parser.level(1)?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(parser.error("text after the closing '}'"));
    }
    Ok(items)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    delimiter: char,
}

/// The characters the server's `array_in` skips around elements (C `isspace`).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, reason: &'static str) -> ArrayError {
        ArrayError {
            at: self.pos,
            reason,
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    /// `[lower:upper]...=` before the opening brace.
    fn skip_dimensions(&mut self) -> Result<(), ArrayError> {
        while self.peek() == Some('[') {
            loop {
                match self.next() {
                    Some(']') => break,
                    Some(_) => {}
                    None => return Err(self.error("unterminated dimension")),
                }
            }
            self.skip_space();
        }
        if self.next() != Some('=') {
            return Err(self.error("expected '=' after the dimensions"));
        }
        Ok(())
    }

    /// The items of one level, after its `{`, up to and including its `}`.
    fn level(&mut self, depth: usize) -> Result<Vec<ArrayItem>, ArrayError> {
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            self.skip_space();
            let item = match self.peek() {
                Some('{') if depth >= MAX_DIMENSIONS => {
                    return Err(self.error("more than six dimensions"));
                }
                Some('{') => {
                    self.pos += 1;
                    ArrayItem::Array(self.level(depth + 1)?)
                }
                Some('"') => {
                    self.pos += 1;
                    ArrayItem::Text(self.quoted()?)
                }
                Some(c) if c == self.delimiter || c == '}' => {
                    return Err(self.error("empty element"));
                }
                None => return Err(self.error("unterminated array")),
                Some(_) => self.unquoted()?,
            };
            items.push(item);
            self.skip_space();
            match self.next() {
                Some('}') => return Ok(items),
                Some(c) if c == self.delimiter => {}
                None => return Err(self.error("unterminated array")),
                Some(_) => return Err(self.error("expected a delimiter or '}'")),
            }
        }
    }

    /// A quoted element's text, after its opening quote, up to and including the closing one.
    fn quoted(&mut self) -> Result<String, ArrayError> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('"') => return Ok(out),
                Some('\\') => match self.next() {
                    Some(c) => out.push(c),
                    None => return Err(self.error("unterminated escape")),
                },
                Some(c) => out.push(c),
                None => return Err(self.error("unterminated quoted element")),
            }
        }
    }

    /// An unquoted element, up to (not including) the delimiter or `}`: surrounding space is
    /// dropped, backslash escapes a character, and a plain `NULL` is the null value.
    fn unquoted(&mut self) -> Result<ArrayItem, ArrayError> {
        let mut out = String::new();
        let mut kept = 0;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated array")),
                Some(c) if c == self.delimiter || c == '}' => break,
                Some('"' | '{') => return Err(self.error("unexpected '\"' or '{' in an element")),
                Some('\\') => {
                    self.pos += 1;
                    let Some(c) = self.next() else {
                        return Err(self.error("unterminated escape"));
                    };
                    out.push(c);
                    kept = out.len();
                    escaped = true;
                }
                Some(c) => {
                    self.pos += c.len_utf8();
                    out.push(c);
                    if !is_space(c) {
                        kept = out.len();
                    }
                }
            }
        }
        out.truncate(kept);
        if !escaped && out.eq_ignore_ascii_case("NULL") {
            return Ok(ArrayItem::Null);
        }
        Ok(ArrayItem::Text(out))
    }
}
