//! Query ('Q'): a simple-protocol query string.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A Query message.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    body: &'a [u8],
}

impl<'a> Query<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(Query { body })
    }

    /// The query text (in the client encoding; usually UTF-8).
    pub fn text(&self) -> Result<&'a [u8], WireError> {
        Cursor::new(self.body, "Query").cstr()
    }
}
