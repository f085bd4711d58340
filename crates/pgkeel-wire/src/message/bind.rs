//! Bind ('B'): bind parameters to a prepared statement, creating a portal.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A Bind message.
#[derive(Debug, Clone, Copy)]
pub struct Bind<'a> {
    body: &'a [u8],
}

impl<'a> Bind<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Bind { body })
    }

    /// The destination portal (empty for the unnamed portal).
    pub fn portal(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "Bind").cstr()
    }

    /// The source prepared statement.
    pub fn statement(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "Bind");
        cursor.cstr()?;
        cursor.cstr()
    }

    /// The parameter values (`None` for NULL), in order.
    pub fn parameters(&self) -> Result<Vec<Option<&'a [u8]>>, WireError> {
        let mut cursor = Cursor::new(self.body, "Bind");
        cursor.cstr()?;
        cursor.cstr()?;
        let formats = cursor.i16()?.max(0) as usize;
        cursor.take(formats * 2)?;
        let count = cursor.i16()?.max(0);
        (0..count)
            .map(|_| {
                let len = cursor.i32()?;
                if len < 0 {
                    Ok(None)
                } else {
                    cursor.take(len as usize).map(Some)
                }
            })
            .collect()
    }
}
