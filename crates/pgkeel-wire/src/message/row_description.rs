//! RowDescription ('T' from the server): the name, source and type of each result column.

use crate::cursor::Cursor;
use crate::error::WireError;

/// A RowDescription message.
#[derive(Debug, Clone, Copy)]
pub struct RowDescription<'a> {
    body: &'a [u8],
}

/// One column of a [`RowDescription`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The column name.
    pub name: &'a [u8],
    /// The OID of the table it comes from, 0 if none.
    pub table_oid: u32,
    /// Its attribute number in that table, 0 if none.
    pub column: i16,
    /// The OID of its data type.
    pub type_oid: u32,
    /// The type's size (`pg_type.typlen`), negative for variable width.
    pub type_len: i16,
    /// The type modifier (`pg_attribute.atttypmod`).
    pub type_modifier: i32,
    /// 0 for text, 1 for binary.
    pub format: i16,
}

impl<'a> RowDescription<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Result<Self, WireError> {
        Ok(RowDescription { body })
    }

    /// A view of a RowDescription body (the bytes after tag and length).
    pub fn from_body(body: &'a [u8]) -> Self {
        RowDescription { body }
    }

    /// The number of columns.
    pub fn len(&self) -> Result<u16, WireError> {
        Cursor::new(self.body, "RowDescription").u16()
    }

    /// True when the statement returns no columns.
    pub fn is_empty(&self) -> Result<bool, WireError> {
        self.len().map(|n| n == 0)
    }

    /// The columns in order. A field cut short and bytes after the last field are errors; an
    /// error is the last item.
    pub fn fields(&self) -> Fields<'a> {
        let mut cursor = Cursor::new(self.body, "RowDescription");
        let left = cursor.u16();
        Fields { cursor, left }
    }
}

/// The columns of a [`RowDescription`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    cursor: Cursor<'a>,
    left: Result<u16, WireError>,
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<Field<'a>, WireError> {
        let c = &mut self.cursor;
        Ok(Field {
            name: c.cstr()?,
            table_oid: c.u32()?,
            column: c.i16()?,
            type_oid: c.u32()?,
            type_len: c.i16()?,
            type_modifier: c.i32()?,
            format: c.i16()?,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let field = match &self.left {
            Ok(0) if self.cursor.is_empty() => return None,
            Ok(0) => Err(WireError::Malformed {
                message: "RowDescription",
                reason: "bytes after the last field",
            }),
            Ok(_) => self.field(),
            Err(e) => Err(e.clone()),
        };
        match (&field, &mut self.left) {
            (Ok(_), Ok(left)) => *left -= 1,
            _ => {
                // An error ends the iteration.
                self.left = Ok(0);
                self.cursor.rest();
            }
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_field() {
        let mut body = vec![0, 2];
        for (name, oid) in [("a", 23u32), ("b", 25)] {
            body.extend_from_slice(name.as_bytes());
            body.push(0);
            body.extend_from_slice(&7u32.to_be_bytes());
            body.extend_from_slice(&1i16.to_be_bytes());
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&(-1i16).to_be_bytes());
            body.extend_from_slice(&(-1i32).to_be_bytes());
            body.extend_from_slice(&0i16.to_be_bytes());
        }
        let fields: Vec<_> = RowDescription::from_body(&body)
            .fields()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!((fields[0].name, fields[0].type_oid), (&b"a"[..], 23));
        assert_eq!((fields[1].name, fields[1].table_oid), (&b"b"[..], 7));
        assert!(
            RowDescription::from_body(&[0, 1, b'x'])
                .fields()
                .next()
                .unwrap()
                .is_err()
        );
        assert!(
            RowDescription::from_body(&[])
                .fields()
                .next()
                .unwrap()
                .is_err()
        );
        body.push(b'x');
        let results: Vec<_> = RowDescription::from_body(&body).fields().collect();
        assert_eq!(results.len(), 3, "two fields, then the trailing byte");
        assert!(results[..2].iter().all(Result::is_ok));
        assert!(results[2].is_err());
    }
}
