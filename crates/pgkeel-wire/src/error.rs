//! Errors for malformed or hostile byte streams. Never a panic, never an unbounded allocation.

/// Why bytes could not be framed or a message field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A tagged message declared a length below the 4 bytes of the length field itself.
    #[error("message '{}' declares length {len}, below the minimum of 4", printable(*tag))]
    LengthTooSmall {
        /// The message tag.
        tag: u8,
        /// The declared length.
        len: u32,
    },
    /// A message declared a length above the configured maximum.
    #[error("message '{}' declares length {len}, above the maximum of {max}", printable(*tag))]
    LengthTooLarge {
        /// The message tag (0 for an untagged startup packet).
        tag: u8,
        /// The declared length.
        len: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A startup packet's length is outside 8..=max.
    #[error("startup packet declares length {len}, outside 8..={max}")]
    BadStartupLength {
        /// The declared length.
        len: u32,
        /// The maximum accepted.
        max: u32,
    },
    /// A startup packet with an unknown request code or protocol version.
    #[error("startup packet with unknown code {code} (protocol {}.{})", code >> 16, code & 0xffff)]
    UnknownStartupCode {
        /// The code that was sent.
        code: u32,
    },
    /// The client opened with a TLS handshake instead of a startup packet (direct SSL).
    #[error("the client started a TLS handshake directly (sslnegotiation=direct)")]
    DirectTls,
    /// The server's answer to SSLRequest/GSSENCRequest was not a known single byte.
    #[error("unexpected answer {:?} to an encryption request", *byte as char)]
    BadEncryptionResponse {
        /// The byte received.
        byte: u8,
    },
    /// A field could not be read from a message body.
    #[error("malformed {message}: {reason}")]
    Malformed {
        /// The message type being read.
        message: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

fn printable(tag: u8) -> String {
    if tag.is_ascii_graphic() {
        (tag as char).to_string()
    } else {
        format!("\\x{tag:02x}")
    }
}
