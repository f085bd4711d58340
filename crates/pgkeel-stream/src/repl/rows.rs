//! The result of a simple query: column names and rows of text values (`None` for NULL), read
//! from RowDescription ('T') and DataRow ('D').

use crate::repl::reader::Reader;

/// One result row: each column's text, `None` for SQL NULL.
pub type Row = Vec<Option<String>>;

/// Column names and rows of one statement's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Row>,
}

impl Rows {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Consumes the result, giving the rows.
    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The position of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value of column `name` in row `row`; `None` if either is missing or it is NULL.
    pub fn get(&self, row: usize, name: &str) -> Option<&str> {
        self.rows.get(row)?.get(self.column(name)?)?.as_deref()
    }

    /// Starts a result from a RowDescription body.
    pub(crate) fn from_description(body: &[u8]) -> Result<Self, &'static str> {
        let bad = "malformed RowDescription";
        let mut r = Reader::new(body);
        let count = r.i16().ok_or(bad)?;
        let count = usize::try_from(count).map_err(|_| bad)?;
        let mut columns = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let name = r.cstr().ok_or(bad)?;
            // table oid, attnum, type oid, typlen, typmod, format
            r.take(4 + 2 + 4 + 2 + 4 + 2).ok_or(bad)?;
            columns.push(String::from_utf8(name.to_vec()).map_err(|_| bad)?);
        }
        Ok(Rows {
            columns,
            rows: Vec::new(),
        })
    }

    /// Adds a row from a DataRow body.
    pub(crate) fn push_data_row(&mut self, body: &[u8]) -> Result<(), &'static str> {
        let bad = "malformed DataRow";
        let mut r = Reader::new(body);
        let count = usize::try_from(r.i16().ok_or(bad)?).map_err(|_| bad)?;
        if count != self.columns.len() {
            return Err("DataRow column count differs from RowDescription");
        }
        let mut row = Vec::with_capacity(count);
        for _ in 0..count {
            let len = r.i32().ok_or(bad)?;
            if len < 0 {
                row.push(None);
                continue;
            }
            let bytes = r.take(len as usize).ok_or(bad)?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| "a DataRow value is not UTF-8 (client_encoding is UTF8)")?;
            row.push(Some(text));
        }
        self.rows.push(row);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_description_and_rows() {
        let mut desc = vec![0, 2];
        for name in ["a", "b"] {
            desc.extend_from_slice(name.as_bytes());
            desc.push(0);
            desc.extend_from_slice(&[0; 18]);
        }
        let mut rows = Rows::from_description(&desc).unwrap();
        let mut data = vec![0, 2, 0, 0, 0, 2, b'h', b'i'];
        data.extend_from_slice(&(-1i32).to_be_bytes());
        rows.push_data_row(&data).unwrap();
        assert_eq!(rows.columns(), ["a", "b"]);
        assert_eq!(rows.get(0, "a"), Some("hi"));
        assert_eq!(rows.rows()[0][1], None);
        assert!(rows.push_data_row(&[0, 2, 0, 0, 0, 9]).is_err());
        assert!(rows.push_data_row(&[0, 1]).is_err());
        assert!(Rows::from_description(&[0, 1, b'x']).is_err());
        assert!(Rows::from_description(&[0xff, 0xff]).is_err());
    }
}
