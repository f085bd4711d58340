//! Small helpers: framers in a known state and framing one message that must be complete.

use pgkeel_wire::{Direction, Frame, Framer, encode};

use crate::invariants::{check_framed, decode_chunked};

/// A client framer past the startup packet (the tagged phase).
pub(crate) fn started_client() -> Framer {
    let mut framer = Framer::new(Direction::Frontend);
    let startup = encode::startup_message(3, 0, &[("user", "u")]).expect("startup");
    let header = framer
        .next_frame(&startup)
        .expect("frames")
        .expect("complete");
    assert_eq!(header.len, startup.len());
    assert!(!framer.expects_startup());
    framer
}

/// Frames `bytes`, which must be exactly one complete frame, both whole and byte by byte.
pub(crate) fn frame_one(framer: Framer, bytes: &[u8]) -> Frame {
    let whole = decode_chunked(framer.clone(), bytes, &[], &[]);
    assert_eq!(whole.end, Ok(0), "one complete frame");
    assert_eq!(whole.frames.len(), 1, "exactly one frame");
    let every_byte: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(decode_chunked(framer, bytes, &every_byte, &[]), whole);
    let frame = whole.frames.into_iter().next().expect("one frame");
    check_framed(&frame);
    assert_eq!(&frame.bytes()[..], bytes);
    frame
}

/// A server framer's single frame.
pub(crate) fn server_frame(bytes: &[u8]) -> Frame {
    frame_one(Framer::new(Direction::Backend), bytes)
}

/// A client frame of the tagged phase.
pub(crate) fn client_frame(bytes: &[u8]) -> Frame {
    frame_one(started_client(), bytes)
}
