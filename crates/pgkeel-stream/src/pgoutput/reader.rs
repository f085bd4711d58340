//! Field-named reads over one pgoutput message, on `pgkeel-wire`'s bounds-checked [`Cursor`]:
//! every read names the field it reads, so a short or malformed message becomes an error
//! saying what and where, never a panic; datums are sliced out of the message's `Bytes`.

use bytes::Bytes;
use pgkeel_wire::Cursor;

use super::error::DecodeErrorKind as ErrorKind;

/// A read that failed: what went wrong and at which byte offset of the message.
pub(crate) type ReadError = (usize, ErrorKind);

/// A cursor over one message that names fields in its errors. Datums and message contents
/// are sliced out of the message's `Bytes` without copying.
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    cursor: Cursor<'a>,
}

impl<'a> Reader<'a> {
    /// A reader after the tag byte of `buf` (a message of at least one byte).
    pub(crate) fn after_tag(buf: &'a Bytes) -> Self {
        let mut cursor = Cursor::new(buf, "pgoutput message");
        let _ = cursor.u8();
        Reader { buf, cursor }
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.cursor.position()
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.cursor.remaining()
    }

    /// The error of a read of `needed` bytes that did not fit (the cursor has not moved).
    fn truncated(&self, field: &'static str, needed: usize) -> ReadError {
        (
            self.pos(),
            ErrorKind::Truncated {
                field,
                needed,
                remaining: self.remaining(),
            },
        )
    }

    /// `Byte1` / `Int8`.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ReadError> {
        self.cursor.u8().map_err(|_| self.truncated(field, 1))
    }

    /// `Int16`, unsigned (column counts).
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        self.cursor.u16().map_err(|_| self.truncated(field, 2))
    }

    /// `Int32`, unsigned (xids, oids).
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ReadError> {
        self.cursor.u32().map_err(|_| self.truncated(field, 4))
    }

    /// `Int32`, signed (type modifiers).
    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, ReadError> {
        self.cursor.i32().map_err(|_| self.truncated(field, 4))
    }

    /// `Int64`, unsigned (LSNs).
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        self.cursor.u64().map_err(|_| self.truncated(field, 8))
    }

    /// `Int64`, signed (timestamps).
    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, ReadError> {
        self.cursor.i64().map_err(|_| self.truncated(field, 8))
    }

    /// An `Int32` length that must not be negative.
    pub(crate) fn len32(&mut self, field: &'static str) -> Result<usize, ReadError> {
        let at = self.pos();
        let length = self.i32(field)?;
        usize::try_from(length).map_err(|_| (at, ErrorKind::NegativeLength { field, length }))
    }

    /// `Byte n`: the next `len` bytes, sliced without copying.
    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<Bytes, ReadError> {
        let start = self.pos();
        self.cursor
            .take(len)
            .map_err(|_| self.truncated(field, len))?;
        Ok(self.buf.slice(start..start + len))
    }

    /// `String`: NUL-terminated, UTF-8.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, ReadError> {
        let start = self.pos();
        let text = self
            .cursor
            .cstr()
            .map_err(|_| (start, ErrorKind::UnterminatedString { field }))?;
        let text = std::str::from_utf8(text)
            .map_err(|e| (start + e.valid_up_to(), ErrorKind::InvalidUtf8 { field }))?;
        Ok(text.to_owned())
    }
}
