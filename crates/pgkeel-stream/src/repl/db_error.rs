//! The fields of a server ErrorResponse or NoticeResponse (severity, SQLSTATE, message,
//! detail, hint), and the log line for a notice.

use std::fmt;

use pgkeel_wire::FrameRef;

/// An error or notice reported by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    severity: String,
    code: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
}

impl DbError {
    /// Reads an ErrorResponse or NoticeResponse; `None` when its fields are malformed or it
    /// lacks a SQLSTATE.
    pub(crate) fn parse(frame: FrameRef<'_>) -> Option<Self> {
        let fields = frame.error_fields().ok()?.fields().ok()?;
        let get = |kind: u8| {
            fields
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        Some(DbError {
            severity: get(b'V').or_else(|| get(b'S')).unwrap_or_default(),
            code: get(b'C')?,
            message: get(b'M').unwrap_or_default(),
            detail: get(b'D'),
            hint: get(b'H'),
        })
    }

    /// The severity, e.g. `ERROR` or `FATAL`.
    pub fn severity(&self) -> &str {
        &self.severity
    }

    /// The SQLSTATE, e.g. `42704`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The primary message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            self.severity, self.message, self.code
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// Logs a NoticeResponse as one line.
pub(crate) fn log_notice(peer: &str, frame: FrameRef<'_>) {
    match DbError::parse(frame) {
        Some(notice) => tracing::info!(
            conn = peer,
            severity = notice.severity(),
            code = notice.code(),
            "server notice: {}",
            notice.message()
        ),
        None => tracing::warn!(conn = peer, "the server sent a malformed notice; ignored"),
    }
}
