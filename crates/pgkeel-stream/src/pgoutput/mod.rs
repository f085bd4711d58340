//! pgoutput, PostgreSQL's built-in logical decoding output: its messages and their decoder.
//! Public for consumers of raw pgoutput bytes (another replication client, benchmarks,
//! fuzzing): feed [`Decoder::decode`] every XLogData payload of one stream, in order.
//!
//! ```
//! use bytes::Bytes;
//! use pgkeel_stream::pgoutput::{Decoder, Message};
//!
//! let mut decoder = Decoder::new(1);
//! // Begin: final LSN, commit time, xid.
//! let mut begin = vec![b'B'];
//! begin.extend_from_slice(&0x16_B374_D848u64.to_be_bytes());
//! begin.extend_from_slice(&0i64.to_be_bytes());
//! begin.extend_from_slice(&42u32.to_be_bytes());
//! let message = decoder.decode(&Bytes::from(begin)).unwrap();
//! assert!(matches!(message, Message::Begin { xid: 42, .. }));
//! assert!(decoder.decode(&Bytes::from_static(b"B")).unwrap_err().is_truncated());
//! ```

mod decode;
mod error;
mod message;
mod reader;

pub use decode::{Decoder, MAX_PROTO_VERSION};
pub use error::{DecodeError, DecodeErrorKind, message_name};
pub use message::{Column, Datum, Message, Oid, OldTuple, PgTimestamp, Relation, Tuple, Xid};
