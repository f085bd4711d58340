//! Fuzz target: arbitrary bytes into both framers, in every starting state, and into every view
//! of every frame. Checks what the integration tests check (`tests/invariants.rs` is shared):
//! framing whole, in chunks and over a slice agree (errors included), frames cover a prefix of
//! the input, each view opens exactly for its own message type, and DataRow/RowDescription
//! values are the bytes their lengths announce (also over the input taken as a bare body).
//! Any panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgkeel_wire::message::{DataRow, RowDescription};
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer, StartupCode, encode};

#[allow(dead_code)]
#[path = "../../crates/pgkeel-wire/tests/invariants.rs"]
mod invariants;

use invariants::{
    check_data_row, check_framed, check_row_description, decode_chunked, exercise_views,
    next_frame_all,
};

// Input layout: `[mode, chunk, bytes...]`. `mode` bit 0: the client framer has already read
// a startup packet; bits 1-2: the server framer expects nothing / an SSL answer / a GSS
// answer; bit 7: a small maximum message length (`mode & 0x7f` * 8). `chunk`: the size of
// the pieces fed incrementally (0 means 1).
fuzz_target!(|data: &[u8]| {
    let [mode, chunk, input @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk).max(1);
    let cuts: Vec<usize> = (chunk..input.len()).step_by(chunk).collect();
    let max_len = (mode & 0x80 != 0).then(|| u32::from(mode & 0x7f) * 8);

    let mut client = Framer::new(Direction::Frontend);
    if mode & 1 != 0 {
        let startup = encode::startup_message(3, 0, &[("user", "fuzz")]).unwrap_or_default();
        if !matches!(client.next_frame(&startup), Ok(Some(_))) {
            panic!("a valid startup packet did not frame");
        }
    }
    let mut server = Framer::new(Direction::Backend);
    match (mode >> 1) & 3 {
        1 => server.expect_encryption_response(false),
        2 => server.expect_encryption_response(true),
        _ => {}
    }
    for framer in [client, server] {
        let framer = match max_len {
            Some(max) => framer.with_max_message_len(max),
            None => framer,
        };
        let whole = decode_chunked(framer.clone(), input, &[], &[]);
        assert_eq!(decode_chunked(framer.clone(), input, &cuts, &[]), whole);
        assert_eq!(next_frame_all(framer, input, &[]), whole);
        let concat = whole.concat();
        assert_eq!(&input[..concat.len()], &concat[..]);
        for frame in &whole.frames {
            check_framed(frame);
            exercise_views(frame.as_ref());
        }
    }

    // The same bytes as one frame of any kind, as if a caller built a FrameRef by hand.
    let kind = match mode % 6 {
        0 => FrameKind::Tagged(input.first().copied().unwrap_or(0)),
        1 => FrameKind::Startup(StartupCode::Protocol { major: 3, minor: 0 }),
        2 => FrameKind::Startup(StartupCode::Cancel),
        3 => FrameKind::Startup(StartupCode::Ssl),
        4 => FrameKind::SslResponse,
        _ => FrameKind::GssEncResponse,
    };
    for direction in [Direction::Frontend, Direction::Backend] {
        exercise_views(FrameRef::new(direction, kind, input));
    }

    // The same bytes as the body of a DataRow and of a RowDescription.
    check_data_row(DataRow::from_body(input), input);
    check_row_description(RowDescription::from_body(input), input);
});
