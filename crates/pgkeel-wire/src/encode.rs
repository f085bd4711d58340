//! Encoders for the messages pgkeel writes itself: injected ErrorResponse/NoticeResponse,
//! CancelRequest, the refusal of SSL, and the few client messages the proxy and tests send.
//! Strings become C strings, so a NUL byte inside one is an error, never a corrupt frame.

use crate::error::WireError;
use crate::framer::{DEFAULT_MAX_MESSAGE_LEN, MAX_STARTUP_PACKET_LEN};
use crate::message::TransactionStatus;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// The server's answer refusing SSL or GSS encryption.
pub const ENCRYPTION_REFUSED: u8 = b'N';

fn no_nul(value: &[u8], message: &'static str) -> Result<(), WireError> {
    if value.contains(&0) {
        Err(WireError::Malformed {
            message,
            reason: "a string field contains a NUL byte",
        })
    } else {
        Ok(())
    }
}

/// A tagged message from `tag` and its body; a body the length field cannot describe within
/// PostgreSQL's message limit is an error.
pub fn tagged(tag: u8, body: &[u8]) -> Result<Vec<u8>, WireError> {
    if body.len() > (DEFAULT_MAX_MESSAGE_LEN - 4) as usize {
        return Err(WireError::LengthTooLarge {
            tag,
            len: u32::try_from(body.len().saturating_add(4)).unwrap_or(u32::MAX),
            max: DEFAULT_MAX_MESSAGE_LEN,
        });
    }
    Ok(small(tag, body))
}

/// A tagged message whose body is known to be small.
fn small(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn untagged(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An ErrorResponse with the given fields (type byte, value), e.g. `(b'C', b"40001")`.
pub fn error_response(fields: &[(u8, &[u8])]) -> Result<Vec<u8>, WireError> {
    tagged(b'E', &field_list(fields, "ErrorResponse")?)
}

/// A NoticeResponse with the given fields.
pub fn notice_response(fields: &[(u8, &[u8])]) -> Result<Vec<u8>, WireError> {
    tagged(b'N', &field_list(fields, "NoticeResponse")?)
}

/// The usual fields of an error: severity (`S` and `V`), SQLSTATE (`C`) and message (`M`).
pub fn error_fields<'a>(severity: &'a str, code: &'a str, message: &'a str) -> [(u8, &'a [u8]); 4] {
    [
        (b'S', severity.as_bytes()),
        (b'V', severity.as_bytes()),
        (b'C', code.as_bytes()),
        (b'M', message.as_bytes()),
    ]
}

fn field_list(fields: &[(u8, &[u8])], message: &'static str) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    for (kind, value) in fields {
        if *kind == 0 {
            return Err(WireError::Malformed {
                message,
                reason: "field type 0 is the terminator",
            });
        }
        no_nul(value, message)?;
        body.push(*kind);
        body.extend_from_slice(value);
        body.push(0);
    }
    body.push(0);
    Ok(body)
}

/// A CancelRequest for `pid` with `key` (4 bytes for protocol 3.0, up to 256 for 3.2).
pub fn cancel_request(pid: i32, key: &[u8]) -> Result<Vec<u8>, WireError> {
    if key.is_empty() || key.len() > 256 {
        return Err(WireError::Malformed {
            message: "CancelRequest",
            reason: "key must be 1 to 256 bytes",
        });
    }
    let mut body = pid.to_be_bytes().to_vec();
    body.extend_from_slice(key);
    Ok(untagged(CANCEL_REQUEST_CODE, &body))
}

/// An SSLRequest.
pub fn ssl_request() -> Vec<u8> {
    untagged(SSL_REQUEST_CODE, &[])
}

/// A GSSENCRequest.
pub fn gssenc_request() -> Vec<u8> {
    untagged(GSSENC_REQUEST_CODE, &[])
}

/// A StartupMessage for protocol `major.minor` with these parameters.
pub fn startup_message(
    major: u16,
    minor: u16,
    parameters: &[(&str, &str)],
) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    for (name, value) in parameters {
        if name.is_empty() {
            // An empty name is the list terminator: the server would misread the packet.
            return Err(WireError::Malformed {
                message: "StartupMessage",
                reason: "a parameter name is empty",
            });
        }
        no_nul(name.as_bytes(), "StartupMessage")?;
        no_nul(value.as_bytes(), "StartupMessage")?;
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    if body.len() + 8 > MAX_STARTUP_PACKET_LEN as usize {
        return Err(WireError::Malformed {
            message: "StartupMessage",
            reason: "longer than the 10000 bytes a server accepts",
        });
    }
    Ok(untagged((u32::from(major) << 16) | u32::from(minor), &body))
}

/// A Query.
pub fn query(sql: &str) -> Result<Vec<u8>, WireError> {
    no_nul(sql.as_bytes(), "Query")?;
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    tagged(b'Q', &body)
}

/// An Execute of `portal` returning at most `max_rows` rows (0 = all).
pub fn execute(portal: &str, max_rows: i32) -> Result<Vec<u8>, WireError> {
    no_nul(portal.as_bytes(), "Execute")?;
    let mut body = portal.as_bytes().to_vec();
    body.push(0);
    body.extend_from_slice(&max_rows.to_be_bytes());
    tagged(b'E', &body)
}

/// A Sync.
pub fn sync() -> Vec<u8> {
    small(b'S', &[])
}

/// A Terminate.
pub fn terminate() -> Vec<u8> {
    small(b'X', &[])
}

/// A ReadyForQuery with this status.
pub fn ready_for_query(status: TransactionStatus) -> Vec<u8> {
    small(b'Z', &[status.byte()])
}

/// A CommandComplete with this tag.
pub fn command_complete(tag: &str) -> Result<Vec<u8>, WireError> {
    no_nul(tag.as_bytes(), "CommandComplete")?;
    let mut body = tag.as_bytes().to_vec();
    body.push(0);
    tagged(b'C', &body)
}
