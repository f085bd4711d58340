//! CommandComplete ('C' from the server): the command tag, e.g. `INSERT 0 5` or `COMMIT`.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A CommandComplete message.
#[derive(Debug, Clone, Copy)]
pub struct CommandComplete<'a> {
    body: &'a [u8],
}

impl<'a> CommandComplete<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(CommandComplete { body })
    }

    /// The whole tag, e.g. `INSERT 0 5`.
    pub fn tag(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "CommandComplete").cstr()
    }

    /// The row count at the end of the tag, if it has one (`SELECT 3` gives 3).
    pub fn rows(&self) -> Result<Option<u64>, WireError> {
        let tag = self.tag()?;
        let last = tag.rsplit(|b| *b == b' ').next().unwrap_or(&[]);
        if tag.len() == last.len() {
            return Ok(None);
        }
        Ok(std::str::from_utf8(last).ok().and_then(|s| s.parse().ok()))
    }
}
