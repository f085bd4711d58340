//! A bounds-checked reader over a message body: every read returns an error instead of
//! panicking when the bytes run out.

use crate::error::WireError;

/// Reads big-endian integers and C strings from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], message: &'static str) -> Self {
        Cursor { buf, message }
    }

    fn malformed(&self, reason: &'static str) -> WireError {
        WireError::Malformed {
            message: self.message,
            reason,
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        let (&first, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| self.malformed("truncated (expected a byte)"))?;
        self.buf = rest;
        Ok(first)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, WireError> {
        let bytes = self
            .take(2)
            .map_err(|_| self.malformed("truncated (expected int16)"))?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, WireError> {
        let bytes = self
            .take(4)
            .map_err(|_| self.malformed("truncated (expected int32)"))?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A NUL-terminated string, without the NUL.
    pub(crate) fn cstr(&mut self) -> Result<&'a [u8], WireError> {
        let end = self
            .buf
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.malformed("string without terminating NUL"))?;
        let (text, rest) = self.buf.split_at(end);
        self.buf = &rest[1..];
        Ok(text)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(self.malformed("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
