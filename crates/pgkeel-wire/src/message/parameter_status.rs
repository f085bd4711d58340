//! ParameterStatus ('S' from the server): a run-time parameter's current value.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A ParameterStatus message.
#[derive(Debug, Clone, Copy)]
pub struct ParameterStatus<'a> {
    body: &'a [u8],
}

impl<'a> ParameterStatus<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(ParameterStatus { body })
    }

    /// The parameter name.
    pub fn name(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "ParameterStatus").cstr()
    }

    /// Its value.
    pub fn value(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "ParameterStatus");
        cursor.cstr()?;
        cursor.cstr()
    }
}
