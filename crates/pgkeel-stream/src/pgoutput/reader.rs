//! A bounds-checked big-endian reader over one pgoutput message: every read names the field it
//! reads, so a short or malformed message becomes an error saying what and where, never a panic.

use bytes::Bytes;

use super::error::DecodeErrorKind as ErrorKind;

/// A read that failed: what went wrong and at which byte offset of the message.
pub(crate) type ReadError = (usize, ErrorKind);

/// A cursor over one message. Datums and message contents are sliced out of the message's
/// `Bytes` without copying.
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at byte `pos` of `buf`.
    pub(crate) fn new(buf: &'a Bytes, pos: usize) -> Self {
        Reader { buf, pos }
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `N` bytes, or a `Truncated` error naming `field`.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ReadError> {
        let bytes = self
            .buf
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<N>())
            .ok_or((
                self.pos,
                ErrorKind::Truncated {
                    field,
                    needed: N,
                    remaining: self.remaining(),
                },
            ))?;
        self.pos += N;
        Ok(*bytes)
    }

    /// `Byte1` / `Int8`.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ReadError> {
        self.array::<1>(field).map(|[b]| b)
    }

    /// `Int16`, unsigned (column counts).
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        self.array(field).map(u16::from_be_bytes)
    }

    /// `Int32`, unsigned (xids, oids).
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ReadError> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// `Int32`, signed (type modifiers).
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, ReadError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// `Int64`, unsigned (LSNs).
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        self.array(field).map(u64::from_be_bytes)
    }

    /// `Int64`, signed (timestamps).
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, ReadError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// An `Int32` length that must not be negative.
    pub(crate) fn len32(&mut self, field: &'static str) -> Result<usize, ReadError> {
        let at = self.pos;
        let length = self.i32(field)?;
        usize::try_from(length).map_err(|_| (at, ErrorKind::NegativeLength { field, length }))
    }

    /// `Byte n`: the next `len` bytes, sliced without copying.
    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<Bytes, ReadError> {
        if len > self.remaining() {
            return Err((
                self.pos,
                ErrorKind::Truncated {
                    field,
                    needed: len,
                    remaining: self.remaining(),
                },
            ));
        }
        let slice = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(slice)
    }

    /// `String`: NUL-terminated, UTF-8.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, ReadError> {
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or_default();
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or((start, ErrorKind::UnterminatedString { field }))?;
        let text = rest.get(..nul).unwrap_or_default();
        let text = std::str::from_utf8(text)
            .map_err(|e| (start + e.valid_up_to(), ErrorKind::InvalidUtf8 { field }))?;
        self.pos = start + nul + 1;
        Ok(text.to_owned())
    }
}
