//! DataRow ('D' from the server): one result row, each column a length-prefixed value or NULL.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A DataRow message.
#[derive(Debug, Clone, Copy)]
pub struct DataRow<'a> {
    body: &'a [u8],
}

impl<'a> DataRow<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(DataRow { body })
    }

    /// A view of a DataRow body (the bytes after tag and length).
    pub fn from_body(body: &'a [u8]) -> Self {
        DataRow { body }
    }

    /// The number of columns.
    pub fn len(&self) -> Result<u16, WireError> {
        Cursor::new(self.body, "DataRow").u16()
    }

    /// True for a row of no columns.
    pub fn is_empty(&self) -> Result<bool, WireError> {
        self.len().map(|n| n == 0)
    }

    /// The values in column order, `None` for SQL NULL. A value that overruns the message, a
    /// negative length other than -1 (NULL) and bytes after the last value are errors; an
    /// error is the last item.
    pub fn values(&self) -> Values<'a> {
        let mut cursor = Cursor::new(self.body, "DataRow");
        let left = cursor.u16();
        Values { cursor, left }
    }
}

/// The values of a [`DataRow`].
#[derive(Debug, Clone)]
pub struct Values<'a> {
    cursor: Cursor<'a>,
    left: Result<u16, WireError>,
}

impl<'a> Values<'a> {
    fn value(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        let len = self.cursor.i32()?;
        match usize::try_from(len) {
            Err(_) if len == -1 => Ok(None),
            Err(_) => Err(WireError::Malformed {
                message: "DataRow",
                reason: "negative value length other than -1",
            }),
            Ok(len) => self.cursor.take(len).map(Some),
        }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Result<Option<&'a [u8]>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let value = match &self.left {
            Ok(0) if self.cursor.is_empty() => return None,
            Ok(0) => Err(WireError::Malformed {
                message: "DataRow",
                reason: "bytes after the last value",
            }),
            Ok(_) => self.value(),
            Err(e) => Err(e.clone()),
        };
        match (&value, &mut self.left) {
            (Ok(_), Ok(left)) => *left -= 1,
            _ => {
                // An error ends the iteration.
                self.left = Ok(0);
                self.cursor.rest();
            }
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_null_and_text() {
        let body = [0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'h', b'i'];
        let row = DataRow::from_body(&body);
        assert_eq!(row.len().unwrap(), 2);
        let values: Vec<_> = row.values().collect::<Result<_, _>>().unwrap();
        assert_eq!(values, [None, Some(&b"hi"[..])]);
    }

    #[test]
    fn truncated_rows_are_errors() {
        for body in [
            &[0, 1, 0, 0, 0, 9, b'x'][..],
            &[0],
            &[0, 1, 0xff, 0xff, 0xff, 0xfe],
            &[0, 0, b'x'],
        ] {
            let results: Vec<_> = DataRow::from_body(body).values().collect();
            assert_eq!(results.len(), 1, "{body:?}");
            assert!(results[0].is_err(), "{body:?}");
        }
        let trailing = [0, 1, 0xff, 0xff, 0xff, 0xff, b'x'];
        let results: Vec<_> = DataRow::from_body(&trailing).values().collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0], Ok(None));
        assert!(results[1].is_err());
    }
}
