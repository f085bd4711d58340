//! A change event: one per inserted, updated or deleted row, truncated table, logical
//! message or changed table layout, serialized as one JSON object. `(commit_lsn, ordinal)` identifies an event, so a
//! sink that sees an event twice (delivery is at least once) can drop the duplicate.

use serde::Serialize;

use crate::lsn::Lsn;

/// Column name → value, in column order.
pub type Row = serde_json::Map<String, serde_json::Value>;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A row was inserted.
    Insert,
    /// A row was updated.
    Update,
    /// A row was deleted.
    Delete,
    /// A table was truncated.
    Truncate,
    /// A logical message (`pg_logical_emit_message`).
    Message,
    /// A table's published layout changed (ALTER TABLE): its new columns, before the first
    /// change in the new layout.
    Schema,
}

/// One column of a table's layout, in a `schema` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// Its type's name for built-in types (`int4`, `text`, `jsonb`, ...); absent for enums,
    /// domains and other types of the database (see `type_oid`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Its type's oid.
    pub type_oid: u32,
    /// Part of the replica identity (the key).
    pub key: bool,
}

/// One change, as delivered to sinks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The commit record's LSN of the transaction (for two-phase: of COMMIT PREPARED).
    pub commit_lsn: Lsn,
    /// Where this change is in the WAL.
    pub lsn: Lsn,
    /// The transaction id (absent for non-transactional logical messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xid: Option<u32>,
    /// Commit time, ISO 8601 UTC with microseconds (absent for non-transactional messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<String>,
    /// Position of the event within its transaction, from 0.
    pub ordinal: u32,
    /// The table's schema (absent for messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The table (absent for messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// What happened.
    pub op: Op,
    /// The replica identity columns: of the new row for inserts and updates, of the old row
    /// for deletes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Row>,
    /// The row after an insert or update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Row>,
    /// The row before an update or delete, when the replica identity provides it (the key
    /// columns only, or every column with REPLICA IDENTITY FULL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Row>,
    /// Columns whose TOASTed value did not change and was not sent (and could not be filled
    /// from the old row); they are absent from `new`, never shown as null.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchanged_toast: Vec<String>,
    /// `json`/`jsonb` columns of `new` whose value is the JSON value `null`: in `new` they
    /// show as `null`, like SQL NULL, and only this list tells them apart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub json_null: Vec<String>,
    /// The same for `old`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub old_json_null: Vec<String>,
    /// Truncate: `TRUNCATE ... CASCADE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade: Option<bool>,
    /// Truncate: `TRUNCATE ... RESTART IDENTITY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_identity: Option<bool>,
    /// Logical message: its prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Logical message: its content (text when it is UTF-8, else `\x`-hex like bytea).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Logical message: whether it was emitted inside the transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactional: Option<bool>,
    /// Schema: the table's columns in the new layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnInfo>>,
}

impl Event {
    /// An event with every optional part empty.
    pub fn new(commit_lsn: Lsn, lsn: Lsn, ordinal: u32, op: Op) -> Self {
        Event {
            commit_lsn,
            lsn,
            xid: None,
            commit_time: None,
            ordinal,
            schema: None,
            table: None,
            op,
            key: None,
            new: None,
            old: None,
            unchanged_toast: Vec::new(),
            json_null: Vec::new(),
            old_json_null: Vec::new(),
            cascade: None,
            restart_identity: None,
            prefix: None,
            columns: None,
            content: None,
            transactional: None,
        }
    }

    /// Appends the event as one JSON line (with the newline) to `out`.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Serializing plain data into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}
