//! A minimal blocking simple-query client over the cluster's unix socket (trust auth), used to
//! create databases and roles. It needs no async runtime, so it is safe to call from any test.
//! Every byte it sends is built by `pgkeel_wire::encode` and every byte it reads is framed and
//! decoded by pgkeel-wire's views: this file only holds the conversation.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pgkeel_wire::message::ErrorFields;
use pgkeel_wire::{FrameRef, MessageType, WireError, encode, sql};

use crate::admin_reader::MessageReader;
use crate::error::{Error, Result};

/// One result row: each column's text, `None` for SQL NULL.
pub type Row = Vec<Option<String>>;

/// Upper bound on a server message we accept (the admin connection only runs small queries).
const MAX_MESSAGE: u32 = 64 << 20;

/// Runs `sql` (one or more statements) as `user` on `database`; returns the rows of all results.
pub(crate) fn query(
    socket: &Path,
    user: &str,
    database: &str,
    sql: &str,
    timeout: Duration,
) -> Result<Vec<Row>> {
    let query = query_message(sql)?;
    let stream = UnixStream::connect(socket)
        .map_err(|e| Error::io(format!("connect to {}", socket.display()), e))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let reader = stream
        .try_clone()
        .map_err(|e| Error::io("clone socket", e))?;
    let mut conn = Conn::new(socket, reader, stream);
    conn.startup(user, database)?;
    let rows = conn.simple_query(&query, sql);
    let _ = conn.writer.write_all(&encode::terminate());
    rows
}

/// The Query message for `sql`, which must not contain NUL bytes.
fn query_message(sql: &str) -> Result<Vec<u8>> {
    if sql::has_nul(sql) {
        return Err(Error::InvalidConfig(
            "SQL text must not contain NUL bytes".to_owned(),
        ));
    }
    encode::query(sql).map_err(|e| Error::InvalidConfig(format!("SQL text: {e}")))
}

/// One admin connection: messages read from `R`, written to `W`.
struct Conn<R, W> {
    socket: PathBuf,
    reader: MessageReader<R>,
    writer: W,
}

impl<R: std::io::Read, W: Write> Conn<R, W> {
    fn new(socket: &Path, reader: R, writer: W) -> Self {
        Conn {
            socket: socket.to_owned(),
            reader: MessageReader::new(reader, socket, MAX_MESSAGE),
            writer,
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|e| Error::io(format!("write to {}", self.socket.display()), e))
    }

    /// Sends the startup packet and reads up to the first ReadyForQuery.
    fn startup(&mut self, user: &str, database: &str) -> Result<()> {
        let startup = encode::startup_message(3, 0, &[("user", user), ("database", database)])
            .map_err(|e| {
                Error::InvalidConfig(format!(
                    "admin connection as user {user:?} to database {database:?}: {e}"
                ))
            })?;
        self.send(&startup)?;
        loop {
            let socket = &self.socket;
            let frame = self.reader.next_message()?;
            let t = frame.message_type();
            if t.is_authentication() {
                let code = frame
                    .authentication()
                    .and_then(|auth| auth.code())
                    .map_err(|e| malformed(socket, t, e))?;
                if code != 0 {
                    return Err(protocol_error(
                        socket,
                        format!(
                            "the server asked for authentication ({}, code {code}); the admin \
                             connection needs `trust` for local connections",
                            t.name()
                        ),
                    ));
                }
                continue;
            }
            match t {
                MessageType::ErrorResponse => return Err(sql_error(socket, frame, "<connect>")),
                MessageType::ReadyForQuery => {
                    frame
                        .ready_for_query()
                        .map_err(|e| malformed(socket, t, e))?;
                    return Ok(());
                }
                _ => {} // ParameterStatus, BackendKeyData, NoticeResponse
            }
        }
    }

    /// Sends `query` (the Query message of `sql`) and collects the rows of every result.
    fn simple_query(&mut self, query: &[u8], sql: &str) -> Result<Vec<Row>> {
        self.send(query)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let socket = &self.socket;
            let frame = match self.reader.next_message() {
                Ok(frame) => frame,
                // A FATAL error is followed by the server closing the connection: report the
                // error, not the closed socket.
                Err(e) => return Err(error.unwrap_or(e)),
            };
            let t = frame.message_type();
            match t {
                MessageType::DataRow => rows.push(row(frame).map_err(|e| malformed(socket, t, e))?),
                MessageType::ErrorResponse => {
                    let e = sql_error(socket, frame, sql);
                    if matches!(e, Error::AdminProtocol { .. }) {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                MessageType::ReadyForQuery => {
                    frame
                        .ready_for_query()
                        .map_err(|e| malformed(socket, t, e))?;
                    break;
                }
                MessageType::CopyInResponse
                | MessageType::CopyOutResponse
                | MessageType::CopyBothResponse => {
                    return Err(protocol_error(
                        socket,
                        "COPY is not supported on the admin connection",
                    ));
                }
                _ => {} // RowDescription, CommandComplete, NoticeResponse, ...
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }
}

fn protocol_error(socket: &Path, reason: impl Into<String>) -> Error {
    Error::AdminProtocol {
        socket: socket.to_owned(),
        reason: reason.into(),
    }
}

/// `e` names the message and what is wrong with it ("malformed DataRow: truncated ...").
fn malformed(socket: &Path, t: MessageType, e: WireError) -> Error {
    let reason = match e {
        WireError::Malformed { .. } => format!("the server sent a {e}"),
        e => format!("the server sent a bad {}: {e}", t.name()),
    };
    protocol_error(socket, reason)
}

/// A DataRow's values as text (invalid UTF-8 replaced).
fn row(frame: FrameRef<'_>) -> Result<Row, WireError> {
    frame
        .data_row()?
        .values()
        .map(|value| Ok(value?.map(|v| String::from_utf8_lossy(v).into_owned())))
        .collect()
}

/// The ErrorResponse `frame` as [`Error::Sql`]; a malformed one is a protocol error.
fn sql_error(socket: &Path, frame: FrameRef<'_>, sql: &str) -> Error {
    let read = |fields: ErrorFields<'_>| -> Result<[String; 3], WireError> {
        let text = |v: Option<&[u8]>| String::from_utf8_lossy(v.unwrap_or_default()).into_owned();
        Ok([
            text(fields.code()?),
            text(fields.severity()?),
            text(fields.message()?),
        ])
    };
    match frame.error_fields().and_then(read) {
        Ok([code, severity, message]) => Error::Sql {
            code,
            severity,
            message,
            sql: sql.to_owned(),
        },
        Err(e) => malformed(socket, MessageType::ErrorResponse, e),
    }
}

#[cfg(test)]
mod tests {
    use pgkeel_wire::message::TransactionStatus;

    use super::*;

    fn idle() -> Vec<u8> {
        encode::ready_for_query(TransactionStatus::Idle)
    }

    fn login() -> Vec<u8> {
        let mut bytes = encode::tagged(b'R', &0i32.to_be_bytes()).unwrap();
        bytes.extend(encode::tagged(b'S', b"server_version\x0015.0\0").unwrap());
        bytes.extend(encode::tagged(b'K', &[0, 0, 0, 7, 0, 0, 0, 9]).unwrap());
        bytes.extend(idle());
        bytes
    }

    fn data_row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut body = (values.len() as u16).to_be_bytes().to_vec();
        for value in values {
            match value {
                Some(v) => {
                    body.extend((v.len() as i32).to_be_bytes());
                    body.extend(*v);
                }
                None => body.extend((-1i32).to_be_bytes()),
            }
        }
        encode::tagged(b'D', &body).unwrap()
    }

    /// Runs the conversation against the server bytes `answer`; returns the result and what
    /// the client wrote.
    fn converse(answer: &[u8], sql: &str) -> (Result<Vec<Row>>, Vec<u8>) {
        let mut written = Vec::new();
        let mut conn = Conn::new(Path::new("/run/s"), answer, &mut written);
        let result = conn
            .startup("postgres", "db")
            .and_then(|()| conn.simple_query(&query_message(sql)?, sql));
        (result, written)
    }

    fn protocol_reason(result: Result<Vec<Row>>) -> String {
        match result {
            Err(Error::AdminProtocol { socket, reason }) => {
                assert_eq!(socket, Path::new("/run/s"));
                reason
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn rows_with_null_and_text_and_the_bytes_sent() {
        let mut answer = login();
        answer.extend(data_row(&[None, Some(b"hi")]));
        answer.extend(data_row(&[]));
        answer.extend(data_row(&[Some(b""), Some(b"\xff")]));
        answer.extend(encode::command_complete("SELECT 3").unwrap());
        answer.extend(idle());
        let (rows, written) = converse(&answer, "SELECT x");
        assert_eq!(
            rows.unwrap(),
            vec![
                vec![None, Some("hi".to_owned())],
                vec![],
                vec![Some(String::new()), Some("\u{fffd}".to_owned())],
            ]
        );
        let mut expected =
            encode::startup_message(3, 0, &[("user", "postgres"), ("database", "db")]).unwrap();
        expected.extend(encode::query("SELECT x").unwrap());
        assert_eq!(written, expected);
    }

    #[test]
    fn truncated_data_row_is_a_protocol_error() {
        for body in [
            &[0, 1, 0, 0, 0, 9, b'x'][..],
            &[0],
            &[0, 1, 0xff, 0xff, 0xff, 0xfe],
        ] {
            let mut answer = login();
            answer.extend(encode::tagged(b'D', body).unwrap());
            answer.extend(idle());
            let reason = protocol_reason(converse(&answer, "SELECT 1").0);
            assert!(reason.contains("malformed DataRow"), "{reason}");
        }
    }

    #[test]
    fn sql_errors_carry_code_severity_message_and_statement() {
        let mut answer = login();
        let fields = encode::error_fields("ERROR", "42P01", "relation \"t\" does not exist");
        answer.extend(encode::error_response(&fields).unwrap());
        answer.extend(idle());
        match converse(&answer, "SELECT * FROM t").0 {
            Err(Error::Sql {
                code,
                severity,
                message,
                sql,
            }) => {
                assert_eq!(code, "42P01");
                assert_eq!(severity, "ERROR");
                assert_eq!(message, "relation \"t\" does not exist");
                assert_eq!(sql, "SELECT * FROM t");
            }
            other => panic!("expected an SQL error, got {other:?}"),
        }
        // FATAL, then the server hangs up: the error is reported, not the closed socket.
        let mut answer = login();
        let fields = encode::error_fields("FATAL", "57P01", "terminating connection");
        answer.extend(encode::error_response(&fields).unwrap());
        let err = converse(&answer, "SELECT 1").0.unwrap_err();
        assert_eq!(err.sqlstate(), Some("57P01"), "{err}");
    }

    #[test]
    fn an_error_at_startup_is_an_sql_error_of_the_connection() {
        let fields = encode::error_fields("FATAL", "3D000", "database \"db\" does not exist");
        let answer = encode::error_response(&fields).unwrap();
        let err = converse(&answer, "SELECT 1").0.unwrap_err();
        assert_eq!(err.sqlstate(), Some("3D000"));
        assert!(err.to_string().contains("in `<connect>`"), "{err}");
    }

    #[test]
    fn a_password_request_names_the_fix() {
        let answer = encode::tagged(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]).unwrap();
        let reason = protocol_reason(converse(&answer, "SELECT 1").0);
        assert!(
            reason.contains("AuthenticationMD5Password, code 5"),
            "{reason}"
        );
        assert!(reason.contains("needs `trust`"), "{reason}");
        let answer = encode::tagged(b'R', &[0, 0]).unwrap();
        let reason = protocol_reason(converse(&answer, "SELECT 1").0);
        assert!(reason.contains("malformed Authentication"), "{reason}");
    }

    #[test]
    fn malformed_answers_are_protocol_errors() {
        let mut unterminated = login();
        unterminated.extend(encode::tagged(b'E', b"SERROR\0C42000").unwrap());
        unterminated.extend(idle());
        let mut copy = login();
        copy.extend(encode::tagged(b'G', &[0, 0, 0]).unwrap());
        let mut bad_status = login();
        bad_status.extend(encode::tagged(b'Z', b"").unwrap());
        for (answer, why) in [
            (unterminated, "malformed ErrorResponse"),
            (copy, "COPY is not supported"),
            (bad_status, "malformed ReadyForQuery"),
        ] {
            let reason = protocol_reason(converse(&answer, "SELECT 1").0);
            assert!(reason.contains(why), "{reason}");
        }
    }

    #[test]
    fn nul_bytes_are_refused_before_anything_is_sent() {
        let err = query(
            Path::new("/nonexistent/socket"),
            "postgres",
            "postgres",
            "SELECT 1\0",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        let mut written = Vec::new();
        let answer = login();
        let mut conn = Conn::new(Path::new("/run/s"), &answer[..], &mut written);
        let err = conn.startup("a\0b", "db").unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        assert!(written.is_empty());
    }
}
