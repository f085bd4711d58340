//! NotificationResponse ('A'): a NOTIFY delivered to a listening session.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A NotificationResponse message.
#[derive(Debug, Clone, Copy)]
pub struct NotificationResponse<'a> {
    body: &'a [u8],
}

impl<'a> NotificationResponse<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(NotificationResponse { body })
    }

    /// The notifying backend's pid.
    pub fn pid(&self) -> Result<i32, WireError> {
        Cursor::new(self.body, "NotificationResponse").i32()
    }

    /// The channel name.
    pub fn channel(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "NotificationResponse");
        cursor.i32()?;
        cursor.cstr()
    }

    /// The payload.
    pub fn payload(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "NotificationResponse");
        cursor.i32()?;
        cursor.cstr()?;
        cursor.cstr()
    }
}
