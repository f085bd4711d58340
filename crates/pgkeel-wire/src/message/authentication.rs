//! Authentication requests ('R'): the auth code (0 ok, 3 cleartext, 5 MD5, 10 SASL, ...) and
//! its data (MD5 salt, SASL mechanism list, SASL server messages).

use crate::cursor::Cursor;
use crate::error::WireError;

/// An authentication request from the server.
#[derive(Debug, Clone, Copy)]
pub struct Authentication<'a> {
    body: &'a [u8],
}

impl<'a> Authentication<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Authentication { body })
    }

    /// The auth code (0 = ok, 3 = cleartext, 5 = MD5, 10 = SASL, 11 = SASL continue, ...).
    pub fn code(&self) -> Result<i32, WireError> {
        Cursor::new(self.body, "Authentication").i32()
    }

    /// The bytes after the code (MD5 salt, SASL data).
    pub fn data(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "Authentication");
        cursor.i32()?;
        Ok(cursor.rest())
    }

    /// The mechanisms offered by an AuthenticationSASL request.
    pub fn sasl_mechanisms(&self) -> Result<Vec<&'a [u8]>, WireError> {
        let mut cursor = Cursor::new(self.body, "AuthenticationSASL");
        cursor.i32()?;
        let mut mechanisms = Vec::new();
        loop {
            let name = cursor.cstr()?;
            if name.is_empty() {
                return Ok(mechanisms);
            }
            mechanisms.push(name);
        }
    }
}
