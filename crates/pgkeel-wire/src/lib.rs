//! The PostgreSQL wire protocol without I/O: framing of both directions (protocol 3.0 and 3.2),
//! every message type named, lazy views of the fields rules need, and encoders for what pgkeel
//! injects. Frames keep their raw bytes, so forwarding them is byte-identical.
//!
//! ```
//! use pgkeel_wire::{Direction, Framer, FrameRef, MessageType, encode};
//!
//! let bytes = encode::query("SELECT 1").unwrap();
//! let mut framer = Framer::new(Direction::Frontend);
//! framer.expect_startup(); // a fresh client framer expects the startup packet first...
//! let mut framer = Framer::new(Direction::Backend); // ...so read it as already started
//! # let mut framer = Framer::new(Direction::Frontend);
//! # let startup = encode::startup_message(3, 0, &[("user", "u")]).unwrap();
//! # framer.next_frame(&startup).unwrap().unwrap();
//! let header = framer.next_frame(&bytes).unwrap().expect("complete");
//! let frame = FrameRef::new(Direction::Frontend, header.kind, &bytes[..header.len]);
//! assert_eq!(frame.message_type(), MessageType::Query);
//! assert_eq!(frame.query().unwrap().text().unwrap(), b"SELECT 1");
//! ```

mod cursor;
mod direction;
pub mod encode;
mod error;
mod frame;
mod framer;
pub mod message;
mod message_type;
pub mod pg_time;
pub mod sql;

pub use cursor::Cursor;
pub use direction::Direction;
pub use error::WireError;
pub use frame::{Frame, FrameRef};
pub use framer::{
    DEFAULT_MAX_MESSAGE_LEN, FrameHeader, FrameKind, Framer, MAX_STARTUP_PACKET_LEN, StartupCode,
};
pub use message_type::MessageType;
