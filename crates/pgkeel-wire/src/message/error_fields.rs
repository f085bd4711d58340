//! ErrorResponse ('E') and NoticeResponse ('N') from the server: a list of typed fields
//! (`S`/`V` severity, `C` SQLSTATE, `M` message, `D` detail, `H` hint, ...).

use crate::cursor::Cursor;
use crate::error::WireError;

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Copy)]
pub struct ErrorFields<'a> {
    body: &'a [u8],
}

impl<'a> ErrorFields<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(ErrorFields { body })
    }

    /// All fields in order, as (field type byte, value).
    pub fn fields(&self) -> Result<Vec<(u8, &'a [u8])>, WireError> {
        let mut cursor = Cursor::new(self.body, "ErrorResponse");
        let mut fields = Vec::new();
        loop {
            let kind = cursor.u8()?;
            if kind == 0 {
                return Ok(fields);
            }
            fields.push((kind, cursor.cstr()?));
        }
    }

    /// One field's value.
    pub fn field(&self, kind: u8) -> Result<Option<&'a [u8]>, WireError> {
        Ok(self
            .fields()?
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v))
    }

    /// The SQLSTATE (`C`).
    pub fn code(&self) -> Result<Option<&'a [u8]>, WireError> {
        self.field(b'C')
    }

    /// The severity, non-localized (`V`) when present, else `S`.
    pub fn severity(&self) -> Result<Option<&'a [u8]>, WireError> {
        Ok(self.field(b'V')?.or(self.field(b'S')?))
    }

    /// The primary message (`M`).
    pub fn message(&self) -> Result<Option<&'a [u8]>, WireError> {
        self.field(b'M')
    }

    /// True when there are no bytes after the terminating NUL.
    pub fn is_well_formed(&self) -> bool {
        let mut cursor = Cursor::new(self.body, "ErrorResponse");
        loop {
            match cursor.u8() {
                Ok(0) => return cursor.is_empty(),
                Ok(_) => {
                    if cursor.cstr().is_err() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }
}
