//! Execute ('E' from the client): run a portal.

use crate::cursor::Cursor;
use crate::error::WireError;

/// An Execute message.
#[derive(Debug, Clone, Copy)]
pub struct Execute<'a> {
    body: &'a [u8],
}

impl<'a> Execute<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Execute { body })
    }

    /// The portal to run (empty for the unnamed portal).
    pub fn portal(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "Execute").cstr()
    }

    /// The maximum number of rows to return (0 = no limit).
    pub fn max_rows(&self) -> Result<i32, WireError> {
        let mut cursor = Cursor::new(self.body, "Execute");
        cursor.cstr()?;
        cursor.i32()
    }
}
