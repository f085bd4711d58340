//! The rule grammar, parsed into call chains with positions:
//!
//! ```text
//! rules     := statement (';' statement)* ';'?
//! statement := IDENT ('.' call)+            -- `conn....` or `recorder.dump()`
//! call      := IDENT '(' (arg (',' arg)* ','?)? ')'
//! arg       := IDENT '=' value | value
//! value     := STRING | BYTES | INT | FLOAT | True | False | None
//! ```

use super::error::RuleError;
use super::lexer::{Token, TokenKind, tokenize};

/// A literal argument value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
}

impl Value {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Bytes(_) => "a bytes literal",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::None => "None",
        }
    }
}

/// `name=value` or a positional value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub(crate) name: Option<String>,
    pub(crate) value: Value,
    pub(crate) start: usize,
}

/// `name(args...)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) name: String,
    pub(crate) args: Vec<Arg>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// `root.call().call()...`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) root: String,
    pub(crate) root_start: usize,
    pub(crate) calls: Vec<Call>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Parses the whole input into statements.
pub(crate) fn parse(source: &str) -> Result<Vec<Statement>, RuleError> {
    let tokens = tokenize(source)?;
    let mut p = Parser {
        source,
        tokens,
        at: 0,
    };
    let mut statements = Vec::new();
    loop {
        while p.peek() == &TokenKind::Semicolon {
            p.at += 1;
        }
        if p.peek() == &TokenKind::Eof {
            return Ok(statements);
        }
        statements.push(p.statement()?);
        match p.peek() {
            TokenKind::Semicolon | TokenKind::Eof => {}
            _ => return Err(p.unexpected("`.`, `;` or the end of the rules")),
        }
    }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &TokenKind {
        &self.tokens[self.at.min(self.tokens.len() - 1)].kind
    }

    fn token(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn unexpected(&self, expected: &str) -> RuleError {
        let token = self.token();
        RuleError::at(
            self.source,
            token.start,
            format!("expected {expected}, found {}", token.kind.describe()),
        )
    }

    fn ident(&mut self, what: &str) -> Result<(String, usize), RuleError> {
        match self.peek().clone() {
            TokenKind::Ident(name) => {
                let start = self.token().start;
                self.at += 1;
                Ok((name, start))
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> Result<usize, RuleError> {
        if *self.peek() == kind {
            let end = self.token().end;
            self.at += 1;
            Ok(end)
        } else {
            Err(self.unexpected(what))
        }
    }

    fn statement(&mut self) -> Result<Statement, RuleError> {
        let (root, root_start) =
            self.ident("a rule such as `conn.onQuery(query=\"^COMMIT\").kill()`")?;
        let mut calls = Vec::new();
        let mut end = self.token().start;
        while *self.peek() == TokenKind::Dot {
            self.at += 1;
            let call = self.call()?;
            end = call.end;
            calls.push(call);
        }
        if calls.is_empty() {
            return Err(self.unexpected(&format!("`.` after `{root}`")));
        }
        Ok(Statement {
            root,
            root_start,
            calls,
            start: root_start,
            end,
        })
    }

    fn call(&mut self) -> Result<Call, RuleError> {
        let (name, start) = self.ident("a filter or action name")?;
        self.expect(TokenKind::LParen, &format!("`(` after `{name}`"))?;
        let mut args = Vec::new();
        loop {
            if *self.peek() == TokenKind::RParen {
                break;
            }
            args.push(self.arg()?);
            match self.peek() {
                TokenKind::Comma => self.at += 1,
                TokenKind::RParen => break,
                _ => return Err(self.unexpected(&format!("`,` or `)` in `{name}(...)`"))),
            }
        }
        let end = self.expect(TokenKind::RParen, "`)`")?;
        Ok(Call {
            name,
            args,
            start,
            end,
        })
    }

    fn arg(&mut self) -> Result<Arg, RuleError> {
        let start = self.token().start;
        if let TokenKind::Ident(name) = self.peek().clone()
            && self.tokens.get(self.at + 1).map(|t| &t.kind) == Some(&TokenKind::Equals)
        {
            self.at += 2;
            let value = self.value()?;
            return Ok(Arg {
                name: Some(name),
                value,
                start,
            });
        }
        Ok(Arg {
            name: None,
            value: self.value()?,
            start,
        })
    }

    fn value(&mut self) -> Result<Value, RuleError> {
        let value = match self.peek().clone() {
            TokenKind::Str(s) => Value::Str(s),
            TokenKind::Bytes(b) => Value::Bytes(b),
            TokenKind::Int(i) => Value::Int(i),
            TokenKind::Float(f) => Value::Float(f),
            TokenKind::Ident(word) if word == "True" => Value::Bool(true),
            TokenKind::Ident(word) if word == "False" => Value::Bool(false),
            TokenKind::Ident(word) if word == "None" => Value::None,
            _ => return Err(self.unexpected("a value (a string, b\"bytes\" or a number)")),
        };
        self.at += 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citus_forms_parse() {
        for text in [
            "conn.allow()",
            r#"conn.onQuery(query="^COMMIT").kill()"#,
            r#"conn.onQuery(query="^SELECT").after(1).cancel(12345)"#,
            r#"conn.after(2).onQuery(query="COMMIT").kill()"#,
            r#"conn.matches(b"CREATE INDEX").killall()"#,
            "conn.connect_delay(1400)",
            "recorder.dump()",
            "conn.kill();",
        ] {
            let s = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(s.len(), 1, "{text}");
        }
    }

    #[test]
    fn several_statements_and_errors_with_positions() {
        let s = parse("conn.onQuery().drop(); conn.allow()").unwrap();
        assert_eq!(s.len(), 2);
        let e = parse("conn.onQuery(query=\"x\" kill()").unwrap_err();
        assert_eq!(e.column, 24);
        assert!(e.message.contains("`,` or `)`"), "{}", e.message);
        let e = parse("conn").unwrap_err();
        assert!(e.message.contains("`.` after `conn`"), "{}", e.message);
        let e = parse("conn.kill() conn.allow()").unwrap_err();
        assert!(e.message.contains("`;`"), "{}", e.message);
    }
}
