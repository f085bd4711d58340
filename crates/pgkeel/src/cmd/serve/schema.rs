//! The schema cache: tables, views and their columns and primary keys in the configured
//! schemas, loaded from the catalog in one query, with a generation number and load time.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::time_format::serialize_rfc3339;

/// A marker in the SQL, so proxy rules can target the schema load (`onParse(query=...)`).
pub(crate) const MARKER: &str = "pgkeel: schema cache";

/// One column.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) data_type: String,
    pub(crate) nullable: bool,
}

/// One table, view, materialized view or foreign table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) columns: Vec<Column>,
    pub(crate) primary_key: Vec<String>,
}

/// The cache as served on `/schema`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SchemaCache {
    pub(crate) generation: u64,
    #[serde(serialize_with = "serialize_rfc3339")]
    pub(crate) loaded_at: SystemTime,
    pub(crate) load_ms: u64,
    pub(crate) schemas: Vec<String>,
    pub(crate) tables: Vec<Table>,
}

impl SchemaCache {
    /// The cache before the first load.
    pub(crate) fn empty() -> Self {
        SchemaCache {
            generation: 0,
            loaded_at: SystemTime::UNIX_EPOCH,
            load_ms: 0,
            schemas: Vec::new(),
            tables: Vec::new(),
        }
    }

    pub(crate) fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }
}

fn kind(relkind: &str) -> &'static str {
    match relkind {
        "r" | "p" => "table",
        "v" => "view",
        "m" => "materialized_view",
        "f" => "foreign_table",
        _ => "other",
    }
}

/// Reads the tables of `schemas`.
pub(crate) async fn load(
    client: &tokio_postgres::Client,
    schemas: &[String],
) -> Result<(Vec<Table>, Duration), tokio_postgres::Error> {
    let started = std::time::Instant::now();
    let sql = format!(
        "/* {MARKER} */ \
         SELECT n.nspname::text, c.relname::text, c.relkind::text, a.attname::text, \
                format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                array_position(i.indkey, a.attnum) \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary \
         WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
         ORDER BY 1, 2, a.attnum"
    );
    let rows = client.query(&sql, &[&schemas]).await?;
    let mut tables: Vec<Table> = Vec::new();
    let mut keys: Vec<Vec<(i32, String)>> = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        let relkind: String = row.get(2);
        let column: Option<String> = row.get(3);
        let is_new = tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name);
        if is_new {
            tables.push(Table {
                schema,
                name,
                kind: kind(&relkind),
                columns: Vec::new(),
                primary_key: Vec::new(),
            });
            keys.push(Vec::new());
        }
        let (Some(table), Some(key)) = (tables.last_mut(), keys.last_mut()) else {
            continue;
        };
        if let Some(column) = column {
            let pk_position: Option<i32> = row.get(6);
            if let Some(position) = pk_position {
                key.push((position, column.clone()));
            }
            table.columns.push(Column {
                name: column,
                data_type: row.get::<_, Option<String>>(4).unwrap_or_default(),
                nullable: row.get::<_, Option<bool>>(5).unwrap_or(true),
            });
        }
    }
    for (table, mut key) in tables.iter_mut().zip(keys) {
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
    }
    Ok((tables, started.elapsed()))
}
