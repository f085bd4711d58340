//! A minimal blocking simple-query client over the cluster's unix socket (trust auth), used to
//! create databases and roles. It needs no async runtime, so it is safe to call from any test.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// One result row: each column's text, `None` for SQL NULL.
pub type Row = Vec<Option<String>>;

/// Upper bound on a server message we accept (the admin connection only runs small queries).
const MAX_MESSAGE: usize = 64 << 20;

/// Runs `sql` (one or more statements) as `user` on `database`; returns the rows of all results.
pub(crate) fn query(
    socket: &Path,
    user: &str,
    database: &str,
    sql: &str,
    timeout: Duration,
) -> Result<Vec<Row>> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| Error::io(format!("connect to {}", socket.display()), e))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut conn = Conn {
        socket: socket.to_owned(),
        reader: BufReader::new(
            stream
                .try_clone()
                .map_err(|e| Error::io("clone socket", e))?,
        ),
        writer: stream,
    };
    conn.startup(user, database)?;
    let rows = conn.simple_query(sql);
    let _ = conn.writer.write_all(&[b'X', 0, 0, 0, 4]);
    rows
}

struct Conn {
    socket: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn protocol_error(&self, reason: impl Into<String>) -> Error {
        Error::AdminProtocol {
            socket: self.socket.clone(),
            reason: reason.into(),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|e| Error::io(format!("write to {}", self.socket.display()), e))
    }

    fn read_message(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut header = [0u8; 5];
        self.reader
            .read_exact(&mut header)
            .map_err(|e| Error::io(format!("read from {}", self.socket.display()), e))?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(self.protocol_error(format!("bad message length {len}")));
        }
        let mut body = vec![0u8; len - 4];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| Error::io(format!("read from {}", self.socket.display()), e))?;
        Ok((header[0], body))
    }

    fn startup(&mut self, user: &str, database: &str) -> Result<()> {
        let mut body = Vec::new();
        body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
        for (key, value) in [("user", user), ("database", database)] {
            body.extend_from_slice(key.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        self.send(&msg)?;
        loop {
            let (tag, body) = self.read_message()?;
            match tag {
                b'R' => {
                    let code = body
                        .get(..4)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    if code != Some(0) {
                        return Err(self.protocol_error(format!(
                            "the server asked for authentication (code {code:?}); the admin \
                             connection needs `trust` for local connections"
                        )));
                    }
                }
                b'E' => return Err(sql_error(&body, "<connect>")),
                b'Z' => return Ok(()),
                _ => {} // ParameterStatus, BackendKeyData, NoticeResponse
            }
        }
    }

    fn simple_query(&mut self, sql: &str) -> Result<Vec<Row>> {
        if sql.contains('\0') {
            return Err(Error::InvalidConfig(
                "SQL text must not contain NUL bytes".to_owned(),
            ));
        }
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
        msg.extend_from_slice(sql.as_bytes());
        msg.push(0);
        self.send(&msg)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, body) = self.read_message()?;
            match tag {
                b'D' => rows.push(
                    parse_data_row(&body)
                        .ok_or_else(|| self.protocol_error("malformed DataRow"))?,
                ),
                b'E' => error = Some(sql_error(&body, sql)),
                b'Z' => break,
                b'G' | b'H' => {
                    return Err(
                        self.protocol_error("COPY is not supported on the admin connection")
                    );
                }
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }
}

fn parse_data_row(body: &[u8]) -> Option<Row> {
    let count = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let mut rest = body.get(2..)?;
    let mut row = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        rest = rest.get(4..)?;
        if len < 0 {
            row.push(None);
        } else {
            let len = len as usize;
            row.push(Some(String::from_utf8_lossy(rest.get(..len)?).into_owned()));
            rest = rest.get(len..)?;
        }
    }
    Some(row)
}

fn sql_error(body: &[u8], sql: &str) -> Error {
    let (mut code, mut severity, mut message) = (String::new(), String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        let Some((kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match kind {
            b'C' => code = value,
            b'V' => severity = value,
            b'S' if severity.is_empty() => severity = value,
            b'M' => message = value,
            _ => {}
        }
    }
    Error::Sql {
        code,
        severity,
        message,
        sql: sql.to_owned(),
    }
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_row_with_null_and_text() {
        let body = [0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'h', b'i'];
        assert_eq!(parse_data_row(&body), Some(vec![None, Some("hi".into())]));
    }

    #[test]
    fn truncated_data_row_is_rejected() {
        assert_eq!(parse_data_row(&[0, 1, 0, 0, 0, 9, b'x']), None);
        assert_eq!(parse_data_row(&[0]), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
