//! The untagged client packets that carry data: StartupMessage (parameters) and
//! CancelRequest (pid and a 4-byte key, or up to 256 bytes in protocol 3.2).

use crate::cursor::Cursor;
use crate::error::WireError;
use crate::framer::StartupCode;

/// One startup parameter: (name, value).
pub type Parameter<'a> = (&'a [u8], &'a [u8]);

/// A StartupMessage: protocol version and `name=value` parameters.
#[derive(Debug, Clone, Copy)]
pub struct StartupMessage<'a> {
    major: u16,
    minor: u16,
    body: &'a [u8],
}

impl<'a> StartupMessage<'a> {
    pub(crate) fn new(code: StartupCode, body: &'a [u8]) -> Result<Self, WireError> {
        match code {
            StartupCode::Protocol { major, minor } => Ok(StartupMessage { major, minor, body }),
            _ => Err(WireError::Malformed {
                message: "StartupMessage",
                reason: "not a protocol startup packet",
            }),
        }
    }

    /// The requested protocol version, e.g. `(3, 0)`.
    pub fn version(&self) -> (u16, u16) {
        (self.major, self.minor)
    }

    /// The parameters in order (`user`, `database`, `application_name`, `replication`, ...).
    pub fn parameters(&self) -> Result<Vec<Parameter<'a>>, WireError> {
        let mut cursor = Cursor::new(self.body, "StartupMessage");
        let mut params = Vec::new();
        loop {
            let name = cursor.cstr()?;
            if name.is_empty() {
                return Ok(params);
            }
            params.push((name, cursor.cstr()?));
        }
    }

    /// The value of one parameter.
    pub fn parameter(&self, name: &str) -> Result<Option<&'a [u8]>, WireError> {
        Ok(self
            .parameters()?
            .into_iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v))
    }
}

/// A CancelRequest: the target backend's pid and its secret key.
#[derive(Debug, Clone, Copy)]
pub struct CancelRequest<'a> {
    body: &'a [u8],
}

impl<'a> CancelRequest<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(CancelRequest { body })
    }

    /// The backend pid to cancel.
    pub fn pid(&self) -> Result<i32, WireError> {
        Cursor::new(self.body, "CancelRequest").i32()
    }

    /// The secret key (4 bytes in protocol 3.0, up to 256 in 3.2).
    pub fn key(&self) -> Result<&'a [u8], WireError> {
        let mut cursor = Cursor::new(self.body, "CancelRequest");
        cursor.i32()?;
        Ok(cursor.rest())
    }
}
