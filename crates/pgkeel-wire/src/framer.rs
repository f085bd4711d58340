//! Per-direction framing. The client's first packet is untagged (StartupMessage, SSLRequest,
//! GSSENCRequest, CancelRequest); the server answers an encryption request with one byte;
//! everything else is a 1-byte tag plus a 4-byte length. Frames keep their raw bytes.

use bytes::BytesMut;

use crate::direction::Direction;
use crate::error::WireError;
use crate::frame::Frame;

/// PostgreSQL's own limit for a message (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB - 1).
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = (1 << 30) - 1;
/// PostgreSQL's limit for a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_PACKET_LEN: u32 = 10_000;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// Protocol 3.2 cancel keys may be up to 256 bytes; 3.0 keys are 4.
const MAX_CANCEL_KEY_LEN: u32 = 256;

/// What the code of an untagged packet asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupCode {
    /// A StartupMessage for this protocol version (3.0, 3.2, ...).
    Protocol {
        /// Major version (3).
        major: u16,
        /// Minor version (0 or 2 today).
        minor: u16,
    },
    /// SSLRequest.
    Ssl,
    /// GSSENCRequest.
    GssEnc,
    /// CancelRequest.
    Cancel,
}

/// How a frame is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An untagged client packet: 4-byte length, 4-byte code, body.
    Startup(StartupCode),
    /// The server's single-byte answer to SSLRequest (`S` or `N`).
    SslResponse,
    /// The server's single-byte answer to GSSENCRequest (`G` or `N`).
    GssEncResponse,
    /// A tagged message: tag byte, 4-byte length, body.
    Tagged(u8),
}

impl FrameKind {
    /// Bytes before the body: 8 for startup packets, 5 for tagged messages, 1 for responses.
    pub fn header_len(self) -> usize {
        match self {
            FrameKind::Startup(_) => 8,
            FrameKind::Tagged(_) => 5,
            FrameKind::SslResponse | FrameKind::GssEncResponse => 1,
        }
    }
}

/// Where the next frame starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// How the frame is delimited.
    pub kind: FrameKind,
    /// Total length in bytes, header included.
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Startup,
    Tagged,
    SslResponse,
    GssEncResponse,
}

/// Splits one direction's byte stream into frames. Keep one per direction per connection.
#[derive(Debug, Clone)]
pub struct Framer {
    direction: Direction,
    phase: Phase,
    max_len: u32,
}

impl Framer {
    /// A framer for `direction`: the client side starts with an untagged packet.
    pub fn new(direction: Direction) -> Self {
        Framer {
            direction,
            phase: match direction {
                Direction::Frontend => Phase::Startup,
                Direction::Backend => Phase::Tagged,
            },
            max_len: DEFAULT_MAX_MESSAGE_LEN,
        }
    }

    /// Rejects tagged messages declaring more than `max` bytes (default 1 GiB - 1).
    pub fn with_max_message_len(mut self, max: u32) -> Self {
        self.max_len = max.max(4);
        self
    }

    /// The direction this framer reads.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// True while the next frame is an untagged startup packet.
    pub fn expects_startup(&self) -> bool {
        self.phase == Phase::Startup
    }

    /// Every next frame is tagged (the startup exchange happened elsewhere).
    pub fn expect_tagged(&mut self) {
        self.phase = Phase::Tagged;
    }

    /// The next packet is untagged again (e.g. after the server refused SSL with `N`).
    pub fn expect_startup(&mut self) {
        self.phase = Phase::Startup;
    }

    /// The next byte from the server answers an SSLRequest (`gss == false`) or GSSENCRequest.
    pub fn expect_encryption_response(&mut self, gss: bool) {
        self.phase = if gss {
            Phase::GssEncResponse
        } else {
            Phase::SslResponse
        };
    }

    /// The header of the first frame in `buf` once all of it is in `buf`; `Ok(None)` when more
    /// bytes are needed. Advances the framer's state past that frame, so call it once per frame
    /// and consume `header.len` bytes. Never allocates; a bad length is an error.
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<FrameHeader>, WireError> {
        let header = match self.phase {
            Phase::Startup => startup_header(buf)?,
            Phase::Tagged => tagged_header(buf, self.max_len)?,
            Phase::SslResponse | Phase::GssEncResponse => {
                let Some(&byte) = buf.first() else {
                    return Ok(None);
                };
                let gss = self.phase == Phase::GssEncResponse;
                match byte {
                    b'S' | b'N' if !gss => Some(FrameHeader {
                        kind: FrameKind::SslResponse,
                        len: 1,
                    }),
                    b'G' | b'N' if gss => Some(FrameHeader {
                        kind: FrameKind::GssEncResponse,
                        len: 1,
                    }),
                    // A server that cannot answer sends an ErrorResponse instead.
                    b'E' => {
                        self.phase = Phase::Tagged;
                        return self.next_frame(buf);
                    }
                    other => return Err(WireError::BadEncryptionResponse { byte: other }),
                }
            }
        };
        if let Some(h) = &header {
            match h.kind {
                FrameKind::Startup(StartupCode::Protocol { .. }) => self.phase = Phase::Tagged,
                FrameKind::SslResponse | FrameKind::GssEncResponse => self.phase = Phase::Tagged,
                _ => {}
            }
        }
        Ok(header)
    }

    /// Splits the next complete frame off `buf` (zero-copy), or `Ok(None)` if incomplete.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        match self.next_frame(buf)? {
            Some(header) => Ok(Some(Frame::new(
                self.direction,
                header.kind,
                buf.split_to(header.len).freeze(),
            ))),
            None => Ok(None),
        }
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn tagged_header(buf: &[u8], max: u32) -> Result<Option<FrameHeader>, WireError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let tag = buf[0];
    let len = read_u32(buf, 1);
    if len < 4 {
        return Err(WireError::LengthTooSmall { tag, len });
    }
    if len > max {
        return Err(WireError::LengthTooLarge { tag, len, max });
    }
    let total = len as usize + 1;
    Ok((buf.len() >= total).then_some(FrameHeader {
        kind: FrameKind::Tagged(tag),
        len: total,
    }))
}

fn startup_header(buf: &[u8]) -> Result<Option<FrameHeader>, WireError> {
    // A TLS record starts with 0x16; a startup packet length (< 10000) starts with 0x00.
    if buf.first() == Some(&0x16) {
        return Err(WireError::DirectTls);
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = read_u32(buf, 0);
    if !(8..=MAX_STARTUP_PACKET_LEN).contains(&len) {
        return Err(WireError::BadStartupLength {
            len,
            max: MAX_STARTUP_PACKET_LEN,
        });
    }
    let code = read_u32(buf, 4);
    let kind = match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE if len != 8 => {
            return Err(WireError::Malformed {
                message: "encryption request",
                reason: "length must be 8",
            });
        }
        SSL_REQUEST_CODE => StartupCode::Ssl,
        GSSENC_REQUEST_CODE => StartupCode::GssEnc,
        CANCEL_REQUEST_CODE => {
            if !(13..=12 + MAX_CANCEL_KEY_LEN).contains(&len) {
                return Err(WireError::Malformed {
                    message: "CancelRequest",
                    reason: "length must be 12 plus a key of 1 to 256 bytes",
                });
            }
            StartupCode::Cancel
        }
        code if code >> 16 == 3 => StartupCode::Protocol {
            major: 3,
            minor: (code & 0xffff) as u16,
        },
        code => return Err(WireError::UnknownStartupCode { code }),
    };
    let total = len as usize;
    Ok((buf.len() >= total).then_some(FrameHeader {
        kind: FrameKind::Startup(kind),
        len: total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_input_asks_for_more() {
        let mut f = Framer::new(Direction::Backend);
        assert_eq!(f.next_frame(b"Z\0\0").unwrap(), None);
        assert_eq!(f.next_frame(b"Z\0\0\0\x05").unwrap(), None);
        let h = f.next_frame(b"Z\0\0\0\x05I").unwrap().unwrap();
        assert_eq!(h.len, 6);
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        let mut f = Framer::new(Direction::Backend);
        assert!(matches!(
            f.next_frame(b"Z\0\0\0\x03"),
            Err(WireError::LengthTooSmall { .. })
        ));
        let mut f = Framer::new(Direction::Backend).with_max_message_len(100);
        assert!(matches!(
            f.next_frame(b"D\0\0\x10\0"),
            Err(WireError::LengthTooLarge { .. })
        ));
        let mut f = Framer::new(Direction::Frontend);
        assert!(matches!(
            f.next_frame(&[0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0]),
            Err(WireError::BadStartupLength { .. })
        ));
        let mut f = Framer::new(Direction::Frontend);
        assert!(matches!(
            f.next_frame(&[0x16, 3, 1]),
            Err(WireError::DirectTls)
        ));
    }

    #[test]
    fn ssl_exchange_then_startup() {
        let mut client = Framer::new(Direction::Frontend);
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let h = client.next_frame(&ssl).unwrap().unwrap();
        assert_eq!(h.kind, FrameKind::Startup(StartupCode::Ssl));
        assert!(client.expects_startup());
        let mut server = Framer::new(Direction::Backend);
        server.expect_encryption_response(false);
        let h = server.next_frame(b"N").unwrap().unwrap();
        assert_eq!((h.kind, h.len), (FrameKind::SslResponse, 1));
        let startup = [0, 0, 0, 9, 0, 3, 0, 0, 0];
        let h = client.next_frame(&startup).unwrap().unwrap();
        assert_eq!(
            h.kind,
            FrameKind::Startup(StartupCode::Protocol { major: 3, minor: 0 })
        );
        assert!(!client.expects_startup());
    }
}
