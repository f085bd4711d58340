//! The result of a simple query: column names and rows of text values (`None` for NULL), read
//! through `pgkeel-wire`'s RowDescription and DataRow views.

use pgkeel_wire::message::{DataRow, RowDescription};

/// One result row of a simple query: each column's text, `None` for SQL NULL.
pub type TextRow = Vec<Option<String>>;

/// Column names and text rows of one statement's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextRows {
    columns: Vec<String>,
    rows: Vec<TextRow>,
}

impl TextRows {
    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows.
    pub fn rows(&self) -> &[TextRow] {
        &self.rows
    }

    /// Consumes the result, giving the rows.
    pub fn into_rows(self) -> Vec<TextRow> {
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
    pub(crate) fn from_description(body: &[u8]) -> Result<Self, String> {
        let columns = RowDescription::from_body(body)
            .fields()
            .map(|field| {
                let field = field.map_err(|e| e.to_string())?;
                String::from_utf8(field.name.to_vec())
                    .map_err(|_| "a RowDescription column name is not UTF-8".to_owned())
            })
            .collect::<Result<_, _>>()?;
        Ok(TextRows {
            columns,
            rows: Vec::new(),
        })
    }

    /// Adds a row from a DataRow body.
    pub(crate) fn push_data_row(&mut self, body: &[u8]) -> Result<(), String> {
        let data = DataRow::from_body(body);
        if usize::from(data.len().map_err(|e| e.to_string())?) != self.columns.len() {
            return Err("DataRow column count differs from RowDescription".to_owned());
        }
        let row = data
            .values()
            .map(|value| match value.map_err(|e| e.to_string())? {
                None => Ok(None),
                Some(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| {
                    "a DataRow value is not UTF-8 (client_encoding is UTF8)".to_owned()
                }),
            })
            .collect::<Result<_, _>>()?;
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
        let mut rows = TextRows::from_description(&desc).unwrap();
        let mut data = vec![0, 2, 0, 0, 0, 2, b'h', b'i'];
        data.extend_from_slice(&(-1i32).to_be_bytes());
        rows.push_data_row(&data).unwrap();
        assert_eq!(rows.columns(), ["a", "b"]);
        assert_eq!(rows.get(0, "a"), Some("hi"));
        assert_eq!(rows.rows()[0][1], None);
        assert!(rows.push_data_row(&[0, 2, 0, 0, 0, 9]).is_err());
        assert!(rows.push_data_row(&[0, 1]).is_err());
        assert!(rows.push_data_row(&[0, 2, 0xff, 0xff, 0xff, 0xfe]).is_err());
        assert!(
            rows.push_data_row(&[0, 2, 0, 0, 0, 1, 0xff, 0, 0, 0, 0])
                .is_err()
        );
        assert_eq!(rows.len(), 1);
        assert!(TextRows::from_description(&[0, 1, b'x']).is_err());
        assert!(TextRows::from_description(&[0xff, 0xff]).is_err());
    }
}
