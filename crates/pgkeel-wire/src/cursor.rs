//! A bounds-checked reader over a message body: every read returns an error instead of
//! panicking when the bytes run out, and knows its byte offset for error messages.

use crate::error::WireError;

/// Reads big-endian integers, C strings and byte runs from a byte slice.
///
/// ```
/// use pgkeel_wire::Cursor;
///
/// let mut cursor = Cursor::new(b"\x00\x02ab\x00", "Example");
/// assert_eq!(cursor.i16().unwrap(), 2);
/// assert_eq!(cursor.cstr().unwrap(), b"ab");
/// assert!(cursor.is_empty());
/// assert!(cursor.i32().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, the body of a `message` (named in errors).
    pub fn new(buf: &'a [u8], message: &'static str) -> Self {
        Cursor {
            buf,
            pos: 0,
            message,
        }
    }

    fn malformed(&self, reason: &'static str) -> WireError {
        WireError::Malformed {
            message: self.message,
            reason,
        }
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn array<const N: usize>(&mut self, reason: &'static str) -> Result<[u8; N], WireError> {
        let bytes = self.buf[self.pos..]
            .first_chunk::<N>()
            .ok_or_else(|| self.malformed(reason))?;
        self.pos += N;
        Ok(*bytes)
    }

    /// `Byte1`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        self.array::<1>("truncated (expected a byte)").map(|[b]| b)
    }

    /// `Int16`.
    pub fn i16(&mut self) -> Result<i16, WireError> {
        self.array("truncated (expected int16)")
            .map(i16::from_be_bytes)
    }

    /// `Int16`, unsigned (counts).
    pub fn u16(&mut self) -> Result<u16, WireError> {
        self.array("truncated (expected int16)")
            .map(u16::from_be_bytes)
    }

    /// `Int32`.
    pub fn i32(&mut self) -> Result<i32, WireError> {
        self.array("truncated (expected int32)")
            .map(i32::from_be_bytes)
    }

    /// `Int32`, unsigned (OIDs).
    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.array("truncated (expected int32)")
            .map(u32::from_be_bytes)
    }

    /// `Int64`.
    pub fn i64(&mut self) -> Result<i64, WireError> {
        self.array("truncated (expected int64)")
            .map(i64::from_be_bytes)
    }

    /// `Int64`, unsigned (WAL positions).
    pub fn u64(&mut self) -> Result<u64, WireError> {
        self.array("truncated (expected int64)")
            .map(u64::from_be_bytes)
    }

    /// A NUL-terminated string, without the NUL.
    pub fn cstr(&mut self) -> Result<&'a [u8], WireError> {
        let rest = &self.buf[self.pos..];
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.malformed("string without terminating NUL"))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(self.malformed("truncated"));
        }
        let head = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(head)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }
}
