//! Parse ('P'): prepare a statement (extended protocol).

use crate::cursor::Cursor;
use crate::error::WireError;

/// A Parse message.
#[derive(Debug, Clone, Copy)]
pub struct Parse<'a> {
    body: &'a [u8],
}

impl<'a> Parse<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Parse { body })
    }

    /// The prepared statement's name (empty for the unnamed statement).
    pub fn statement(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "Parse").cstr()
    }

    /// The query text.
    pub fn query(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "Parse");
        cursor.cstr()?;
        cursor.cstr()
    }

    /// The parameter type OIDs the client specified.
    pub fn parameter_types(&self) -> Result<Vec<u32>, WireError> {
        let mut cursor = Cursor::new(self.body, "Parse");
        cursor.cstr()?;
        cursor.cstr()?;
        let count = cursor.i16()?;
        (0..count.max(0))
            .map(|_| cursor.i32().map(|v| v as u32))
            .collect()
    }
}
