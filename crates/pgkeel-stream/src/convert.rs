//! Turns decoded row changes into events: the relation cache (layouts from `R` messages,
//! custom type names from `Y`), key extraction, typed values, and unchanged TOAST handling.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::Error;
use crate::event::{ColumnInfo, Event, Op, Row};
use crate::lsn::Lsn;
use crate::pgoutput::{Datum, Message, Oid, OldTuple, Relation, Tuple};
use crate::value::{self, CustomType, TypeLookup};

/// The first OID of objects created by users (`FirstNormalObjectId`): below it, built in.
const FIRST_NORMAL_OID: Oid = 16384;

/// Relations and types seen on this replication connection.
#[derive(Debug, Default)]
pub(crate) struct Relations {
    relations: HashMap<Oid, Relation>,
    /// Types that are not built in (enums, domains, their arrays), read from pg_type at start.
    types: HashMap<Oid, CustomType>,
}

impl Relations {
    /// Remembers a relation's layout (replacing an older one); returns a `schema` event when
    /// it replaces a different layout of the same table (ALTER TABLE while streaming). `lsn`
    /// is where the Relation message is.
    pub(crate) fn insert(&mut self, relation: Relation, lsn: Lsn) -> Option<Event> {
        let changed = self.relations.get(&relation.oid).is_some_and(|known| {
            known.columns != relation.columns
                || known.name != relation.name
                || known.namespace != relation.namespace
        });
        let event = changed.then(|| {
            let mut event = table_event(Event::new(Lsn::ZERO, lsn, 0, Op::Schema), &relation);
            event.columns = Some(
                relation
                    .columns
                    .iter()
                    .map(|c| ColumnInfo {
                        name: c.name.clone(),
                        type_name: tokio_postgres::types::Type::from_oid(c.type_oid)
                            .map(|t| t.name().to_owned()),
                        type_oid: c.type_oid,
                        key: c.key,
                    })
                    .collect(),
            );
            event
        });
        self.relations.insert(relation.oid, relation);
        event
    }

    /// Whether values of `oid` can be typed: built in (below 16384), or read from pg_type.
    pub(crate) fn knows_type(&self, oid: Oid) -> bool {
        oid < FIRST_NORMAL_OID || self.types.contains_key(&oid)
    }

    /// Remembers every type unknown so far as text-like (`Other`): after reading pg_type
    /// failed, so it is not read again for each message.
    pub(crate) fn mark_unknown_types_as_text(&mut self) {
        let unknown: Vec<Oid> = self
            .relations
            .values()
            .flat_map(|r| r.columns.iter().map(|c| c.type_oid))
            .filter(|oid| !self.knows_type(*oid))
            .collect();
        for oid in unknown {
            self.types.insert(oid, CustomType::Other);
        }
    }

    /// Uses `types` to convert values of types that are not built in.
    pub(crate) fn set_types(&mut self, types: HashMap<Oid, CustomType>) {
        self.types = types;
    }

    fn get(&self, oid: Oid) -> Result<&Relation, Error> {
        self.relations.get(&oid).ok_or_else(|| {
            Error::protocol(format!(
                "a change refers to relation {oid}, but no Relation message described it"
            ))
        })
    }

    /// The events of one message, if it is a change (insert, update, delete, truncate,
    /// message). `lsn` is where the message is in the WAL. Commit LSN, time and ordinal are
    /// filled in when the transaction commits.
    pub(crate) fn events(&self, message: Message, lsn: Lsn) -> Result<Vec<Event>, Error> {
        let blank = |op| Event::new(Lsn::ZERO, lsn, 0, op);
        match message {
            Message::Insert { relation, new, .. } => {
                let rel = self.get(relation)?;
                let mut event = table_event(blank(Op::Insert), rel);
                let (row, _) = row(&self.types, rel, &new, None)?;
                event.key = key(rel, &row);
                event.json_null = json_nulls(rel, &new, Some(&row));
                event.new = Some(row);
                Ok(vec![event])
            }
            Message::Update {
                relation, old, new, ..
            } => {
                let rel = self.get(relation)?;
                let mut event = table_event(blank(Op::Update), rel);
                let full_old = match &old {
                    Some(OldTuple::Full(t)) => Some(t),
                    _ => None,
                };
                let (new_row, unchanged) = row(&self.types, rel, &new, full_old)?;
                event.key = key(rel, &new_row);
                if let Some(old) = &old {
                    event.old = Some(old_row(&self.types, rel, old)?);
                    event.old_json_null = json_nulls(rel, old.tuple(), event.old.as_ref());
                }
                event.json_null = json_nulls(rel, &new, Some(&new_row));
                event.new = Some(new_row);
                event.unchanged_toast = unchanged;
                Ok(vec![event])
            }
            Message::Delete { relation, old, .. } => {
                let rel = self.get(relation)?;
                let mut event = table_event(blank(Op::Delete), rel);
                let old_row = old_row(&self.types, rel, &old)?;
                event.key = key(rel, &old_row);
                event.old_json_null = json_nulls(rel, old.tuple(), Some(&old_row));
                event.old = Some(old_row);
                Ok(vec![event])
            }
            Message::Truncate {
                cascade,
                restart_identity,
                relations,
                ..
            } => relations
                .iter()
                .map(|oid| {
                    let mut event = table_event(blank(Op::Truncate), self.get(*oid)?);
                    event.cascade = Some(cascade);
                    event.restart_identity = Some(restart_identity);
                    Ok(event)
                })
                .collect(),
            Message::LogicalMessage {
                transactional,
                prefix,
                content,
                ..
            } => {
                let mut event = blank(Op::Message);
                event.prefix = Some(prefix);
                event.content = Some(text_or_hex(&content));
                event.transactional = Some(transactional);
                Ok(vec![event])
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The json/jsonb columns shown in `row` whose value in `tuple` is the JSON `null`.
fn json_nulls(rel: &Relation, tuple: &Tuple, row: Option<&Row>) -> Vec<String> {
    rel.columns
        .iter()
        .zip(tuple)
        .filter(|(column, datum)| {
            matches!(datum, Datum::Text(text) if crate::value::is_json_null(column.type_oid, text))
                && row.is_some_and(|r| r.contains_key(&column.name))
        })
        .map(|(column, _)| column.name.clone())
        .collect()
}

fn table_event(mut event: Event, rel: &Relation) -> Event {
    event.schema = Some(rel.namespace.clone());
    event.table = Some(rel.name.clone());
    event
}

fn check_width(rel: &Relation, tuple: &Tuple) -> Result<(), Error> {
    if tuple.len() == rel.columns.len() {
        return Ok(());
    }
    Err(Error::protocol(format!(
        "a row of {}.{} has {} values but its relation has {} columns",
        rel.namespace,
        rel.name,
        tuple.len(),
        rel.columns.len()
    )))
}

/// The row as JSON, and the unchanged TOAST columns that could not be filled from `old`.
fn row(
    types: &dyn TypeLookup,
    rel: &Relation,
    tuple: &Tuple,
    old: Option<&Tuple>,
) -> Result<(Row, Vec<String>), Error> {
    check_width(rel, tuple)?;
    let mut out = Row::new();
    let mut unchanged = Vec::new();
    for (i, (column, datum)) in rel.columns.iter().zip(tuple).enumerate() {
        let datum = match (datum, old.and_then(|o| o.get(i))) {
            (Datum::UnchangedToast, Some(filled @ (Datum::Text(_) | Datum::Binary(_)))) => filled,
            (datum, _) => datum,
        };
        match datum {
            Datum::UnchangedToast => unchanged.push(column.name.clone()),
            other => {
                out.insert(column.name.clone(), json(types, column.type_oid, other));
            }
        }
    }
    Ok((out, unchanged))
}

/// The old row: every column for REPLICA IDENTITY FULL, the key columns for a key tuple.
fn old_row(types: &dyn TypeLookup, rel: &Relation, old: &OldTuple) -> Result<Row, Error> {
    let tuple = old.tuple();
    check_width(rel, tuple)?;
    let full = matches!(old, OldTuple::Full(_));
    Ok(rel
        .columns
        .iter()
        .zip(tuple)
        .filter(|(column, datum)| (full || column.key) && !matches!(datum, Datum::UnchangedToast))
        .map(|(column, datum)| (column.name.clone(), json(types, column.type_oid, datum)))
        .collect())
}

/// The replica identity columns of a row (with REPLICA IDENTITY FULL every column is one;
/// with NOTHING there is no key).
fn key(rel: &Relation, row: &Row) -> Option<Row> {
    if !rel.columns.iter().any(|c| c.key) {
        return None;
    }
    Some(
        rel.columns
            .iter()
            .filter(|c| c.key)
            .filter_map(|c| row.get(&c.name).map(|v| (c.name.clone(), v.clone())))
            .collect(),
    )
}

fn json(types: &dyn TypeLookup, type_oid: Oid, datum: &Datum) -> Value {
    match datum {
        Datum::Null | Datum::UnchangedToast => Value::Null,
        Datum::Text(text) => value::to_json_with(type_oid, text, types),
        Datum::Binary(bytes) => Value::String(hex(bytes)),
    }
}

fn text_or_hex(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => hex(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
