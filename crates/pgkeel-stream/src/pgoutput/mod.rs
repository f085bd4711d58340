//! pgoutput, PostgreSQL's built-in logical decoding output: its messages and their decoder.

mod decode;
mod error;
mod message;
mod reader;

pub use decode::{Decoder, MAX_PROTO_VERSION};
pub use error::{DecodeError, DecodeErrorKind, message_name};
pub use message::{Column, Datum, Message, Oid, OldTuple, PgTimestamp, Relation, Tuple, Xid};
