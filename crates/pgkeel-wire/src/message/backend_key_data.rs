//! BackendKeyData ('K'): the pid and secret key a client needs to cancel a query (the key is
//! 4 bytes in protocol 3.0 and up to 256 bytes in 3.2).

use crate::cursor::Cursor;
use crate::error::WireError;

/// A BackendKeyData message.
#[derive(Debug, Clone, Copy)]
pub struct BackendKeyData<'a> {
    body: &'a [u8],
}

impl<'a> BackendKeyData<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(BackendKeyData { body })
    }

    /// The backend's pid.
    pub fn pid(&self) -> Result<i32, WireError> {
        Cursor::new(self.body, "BackendKeyData").i32()
    }

    /// The secret key.
    pub fn key(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "BackendKeyData");
        cursor.i32()?;
        let key = cursor.rest();
        if key.is_empty() || key.len() > 256 {
            return Err(WireError::Malformed {
                message: "BackendKeyData",
                reason: "key must be 1 to 256 bytes",
            });
        }
        Ok(key)
    }
}
