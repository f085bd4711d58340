//! The target of Describe ('D') and Close ('C') from the client: a statement or a portal.

use crate::cursor::Cursor;
use crate::error::WireError;

/// What a Describe or Close refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

/// The target of a Describe or Close message.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    body: &'a [u8],
}

impl<'a> Target<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Target { body })
    }

    /// Statement or portal.
    pub fn kind(&self) -> Result<TargetKind, WireError> {
        match Cursor::new(self.body, "Describe/Close").u8()? {
            b'S' => Ok(TargetKind::Statement),
            b'P' => Ok(TargetKind::Portal),
            _ => Err(WireError::Malformed {
                message: "Describe/Close",
                reason: "target kind is neither 'S' nor 'P'",
            }),
        }
    }

    /// The raw kind byte (`S` or `P`).
    pub fn kind_byte(&self) -> Result<u8, WireError> {
        Cursor::new(self.body, "Describe/Close").u8()
    }

    /// The statement or portal name (empty for the unnamed one).
    pub fn name(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "Describe/Close");
        cursor.u8()?;
        cursor.cstr()
    }
}
