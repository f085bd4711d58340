//! Column values typed from type OIDs: the text form pgoutput sends, turned into JSON.
//!
//! | type | JSON |
//! |---|---|
//! | int2, int4, int8, oid, xid, xid8, cid | number |
//! | float4, float8 | number; `NaN`, `Infinity`, `-Infinity` as strings |
//! | numeric | string, every digit kept (`NaN` and infinities too) |
//! | bool | `true` / `false` |
//! | json, jsonb | the embedded value (a string if it does not parse); numbers beyond f64 precision inside it lose digits |
//! | timestamptz | `2026-11-22T10:00:00.123456Z`: UTC, always six fractional digits |
//! | timestamp | `2026-11-22T10:00:00.123456` |
//! | int2vector, oidvector | array of numbers |
//! | arrays (`_int4`, …) | arrays (nested for more dimensions) of converted elements |
//! | everything else (text, uuid, date, time, interval, bytea, enums, …) | the text form |
//!
//! Assumptions about the walsender session: `DateStyle=ISO` (other styles, BC dates and
//! `infinity` stay strings as sent), `bytea_output=hex`. Any `TimeZone` works: the offset in
//! a timestamptz is applied. Text that is not UTF-8 (a database in another encoding) becomes a
//! `\x`-hex string like bytea, for every type, so no byte is lost or replaced; a text form a
//! rule cannot parse is kept as its string, so no value is ever dropped.
//!
//! Types that are not built in (enums, domains, arrays of those) are described by a
//! [`TypeLookup`], filled from pgoutput's `Y` messages and the catalog; without one, such a
//! value is its text form.

mod array;
mod time;
mod types;

use std::collections::HashMap;

use serde_json::{Number, Value};
use tokio_postgres::types::{Kind, Type};

pub use array::{ArrayError, ArrayItem, parse_array};
pub(crate) use time::iso8601;
use types::Scalar;

/// How far domain and array descriptions are followed (a lookup that loops stops here).
const MAX_TYPE_DEPTH: u32 = 8;

/// What a type that is not built in is, as far as conversion cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomType {
    /// An enum: its label, as a string.
    Enum,
    /// A domain: converted like its base type.
    Domain {
        /// The base type's OID.
        base: u32,
    },
    /// An array (delimiter `,`) of `element`.
    Array {
        /// The element type's OID.
        element: u32,
    },
    /// Anything else (composite, range, …): its text form.
    Other,
}

/// Describes types that are not built in.
pub trait TypeLookup {
    /// What `oid` is, if known.
    fn custom_type(&self, oid: u32) -> Option<CustomType>;
}

/// No custom types are known: their values are their text form.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCustomTypes;

impl TypeLookup for NoCustomTypes {
    fn custom_type(&self, _oid: u32) -> Option<CustomType> {
        None
    }
}

impl TypeLookup for HashMap<u32, CustomType> {
    fn custom_type(&self, oid: u32) -> Option<CustomType> {
        self.get(&oid).copied()
    }
}

/// Converts the text form of a value of type `type_oid` to JSON; types that are not built in
/// are text.
pub fn to_json(type_oid: u32, text: &[u8]) -> Value {
    to_json_with(type_oid, text, &NoCustomTypes)
}

/// True for a `json`/`jsonb` value that is the JSON `null` (not SQL NULL): it converts to
/// `null` like SQL NULL, so events list such columns apart (`json_null`).
pub(crate) fn is_json_null(type_oid: u32, text: &[u8]) -> bool {
    types::scalar(type_oid) == Some(Scalar::Json) && text.trim_ascii() == b"null"
}

/// Converts the text form of a value of type `type_oid` to JSON, asking `types` about types
/// that are not built in.
pub fn to_json_with(type_oid: u32, text: &[u8], types: &dyn TypeLookup) -> Value {
    match std::str::from_utf8(text) {
        Ok(text) => convert(type_oid, text, types, 0),
        Err(_) => Value::String(hex(text)),
    }
}

/// `\x` followed by the bytes in lower-case hexadecimal, as PostgreSQL writes bytea.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("\\x");
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn convert(oid: u32, text: &str, types: &dyn TypeLookup, depth: u32) -> Value {
    if let Some(scalar) = types::scalar(oid) {
        return scalar_value(scalar, text);
    }
    if let Some(ty) = Type::from_oid(oid) {
        return match ty.kind() {
            Kind::Array(element) if element.oid() != types::BOX => {
                array_value(element.oid(), text, types, depth)
            }
            _ => string(text),
        };
    }
    if depth >= MAX_TYPE_DEPTH {
        return string(text);
    }
    match types.custom_type(oid) {
        Some(CustomType::Domain { base }) => convert(base, text, types, depth + 1),
        Some(CustomType::Array { element }) if element != types::BOX => {
            array_value(element, text, types, depth + 1)
        }
        _ => string(text),
    }
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn scalar_value(scalar: Scalar, text: &str) -> Value {
    let converted = match scalar {
        Scalar::Integer => integer(text),
        Scalar::Float => float(text),
        Scalar::Bool => match text {
            "t" => Some(Value::Bool(true)),
            "f" => Some(Value::Bool(false)),
            _ => None,
        },
        Scalar::Json => serde_json::from_str(text).ok(),
        Scalar::Timestamp => time::timestamp(text).map(Value::String),
        Scalar::Timestamptz => time::timestamptz(text).map(Value::String),
        Scalar::IntVector => text
            .split_ascii_whitespace()
            .map(integer)
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
    };
    converted.unwrap_or_else(|| string(text))
}

fn integer(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(Value::Number(n.into()));
    }
    text.parse::<u64>().ok().map(|n| Value::Number(n.into()))
}

/// Finite floats are numbers; `NaN`, `Infinity` and `-Infinity` (no JSON number can hold
/// them) stay strings.
fn float(text: &str) -> Option<Value> {
    Number::from_f64(text.parse().ok()?).map(Value::Number)
}

fn array_value(element: u32, text: &str, types: &dyn TypeLookup, depth: u32) -> Value {
    match parse_array(text, ',') {
        Ok(items) => items_value(element, items, types, depth),
        Err(_) => string(text),
    }
}

fn items_value(element: u32, items: Vec<ArrayItem>, types: &dyn TypeLookup, depth: u32) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|item| match item {
                ArrayItem::Null => Value::Null,
                ArrayItem::Text(text) => convert(element, &text, types, depth),
                ArrayItem::Array(inner) => items_value(element, inner, types, depth),
            })
            .collect(),
    )
}
