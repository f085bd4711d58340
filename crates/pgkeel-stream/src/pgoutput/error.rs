//! `DecodeError`: why a pgoutput message could not be decoded, which message it was and at
//! which byte offset the problem lies.

use std::fmt;

/// A pgoutput message that could not be decoded. The message is dropped; the decoder stays
/// usable for the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Described(self))]
pub struct DecodeError {
    tag: Option<u8>,
    offset: usize,
    kind: DecodeErrorKind,
}

/// What was wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The message has no bytes at all, not even a tag.
    Empty,
    /// The first byte is not a pgoutput message tag.
    UnknownTag,
    /// The message exists only from protocol version `needs` on, but the decoder was created
    /// for `version`.
    NotInProtocolVersion {
        /// The first protocol version with this message.
        needs: u32,
        /// The decoder's protocol version.
        version: u32,
    },
    /// The message ends inside a field.
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A string field has no terminating NUL byte.
    UnterminatedString {
        /// The field being read.
        field: &'static str,
    },
    /// A string field (a name) is not UTF-8.
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A length field is negative.
    NegativeLength {
        /// The field being read.
        field: &'static str,
        /// Its value.
        length: i32,
    },
    /// The byte that announces a tuple is not one of the expected ones (`N`, `K`, `O`).
    BadTupleKind {
        /// The bytes allowed here, e.g. `"N, K or O"`.
        expected: &'static str,
        /// The byte found.
        found: u8,
    },
    /// A column value's kind byte is not `n`, `u`, `t` or `b`.
    BadDatumKind {
        /// The byte found.
        found: u8,
    },
    /// The message goes on after its last field.
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
}

impl DecodeError {
    pub(crate) fn new(tag: Option<u8>, offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { tag, offset, kind }
    }

    /// The message's tag byte (`B`, `I`, …); `None` for an empty message.
    pub fn tag(&self) -> Option<u8> {
        self.tag
    }

    /// The byte offset in the message where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// The message ended early (inside a field or string).
    pub fn is_truncated(&self) -> bool {
        matches!(
            self.kind,
            DecodeErrorKind::Truncated { .. } | DecodeErrorKind::UnterminatedString { .. }
        )
    }

    /// The message is not one this decoder knows (unknown tag, or too new for its protocol
    /// version): the server and the decoder disagree on the protocol, rather than one message
    /// being damaged.
    pub fn is_protocol_mismatch(&self) -> bool {
        matches!(
            self.kind,
            DecodeErrorKind::UnknownTag | DecodeErrorKind::NotInProtocolVersion { .. }
        )
    }
}

/// The name of the message with this tag, as the PostgreSQL documentation calls it.
pub fn message_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        b'B' => "Begin",
        b'C' => "Commit",
        b'O' => "Origin",
        b'R' => "Relation",
        b'Y' => "Type",
        b'I' => "Insert",
        b'U' => "Update",
        b'D' => "Delete",
        b'T' => "Truncate",
        b'M' => "Message",
        b'S' => "Stream Start",
        b'E' => "Stream Stop",
        b'c' => "Stream Commit",
        b'A' => "Stream Abort",
        b'b' => "Begin Prepare",
        b'P' => "Prepare",
        b'K' => "Commit Prepared",
        b'r' => "Rollback Prepared",
        b'p' => "Stream Prepare",
        _ => return None,
    })
}

struct Described<'a>(&'a DecodeError);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match (e.tag, &e.kind) {
            (_, DecodeErrorKind::Empty) | (None, _) => {
                write!(f, "empty pgoutput message (no tag byte)")
            }
            (Some(tag), DecodeErrorKind::UnknownTag) => write!(
                f,
                "unknown pgoutput message tag {}; the server may speak a newer protocol \
                 version than this decoder knows (1 to 4)",
                show_byte(tag)
            ),
            (Some(tag), kind) => {
                let name = message_name(tag).unwrap_or("unknown");
                write!(
                    f,
                    "malformed pgoutput {name} message ({}) at byte {}: ",
                    show_byte(tag),
                    e.offset
                )?;
                match kind {
                    DecodeErrorKind::Empty | DecodeErrorKind::UnknownTag => Ok(()),
                    DecodeErrorKind::NotInProtocolVersion { needs, version } => write!(
                        f,
                        "this message exists from protocol version {needs} on, but version \
                         {version} was requested; create the decoder with the proto_version \
                         given to START_REPLICATION"
                    ),
                    DecodeErrorKind::Truncated {
                        field,
                        needed,
                        remaining,
                    } => write!(
                        f,
                        "truncated {field}: needs {needed} bytes, {remaining} left"
                    ),
                    DecodeErrorKind::UnterminatedString { field } => {
                        write!(f, "{field} has no terminating NUL byte")
                    }
                    DecodeErrorKind::InvalidUtf8 { field } => write!(
                        f,
                        "{field} is not UTF-8 (pgoutput sends names in the database \
                         encoding; use a UTF8 database)"
                    ),
                    DecodeErrorKind::NegativeLength { field, length } => {
                        write!(f, "{field} is negative ({length})")
                    }
                    DecodeErrorKind::BadTupleKind { expected, found } => write!(
                        f,
                        "expected tuple kind {expected}, found {}",
                        show_byte(*found)
                    ),
                    DecodeErrorKind::BadDatumKind { found } => write!(
                        f,
                        "column value kind {} is not n, u, t or b",
                        show_byte(*found)
                    ),
                    DecodeErrorKind::TrailingBytes { count } => {
                        write!(f, "{count} bytes after the last field")
                    }
                }
            }
        }
    }
}

/// Shows a byte as `'I'` when printable, else as `0x05`.
fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", char::from(b))
    } else {
        format!("0x{b:02X}")
    }
}
