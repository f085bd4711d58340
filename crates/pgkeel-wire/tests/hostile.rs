//! Hostile input: arbitrary and corrupted bytes into both framers (in every starting state)
//! and every view never panic, frame the same however they are split, and cover a prefix of
//! the input.

use bytes::BytesMut;
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer, StartupCode};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::backend_messages::be_msg;
use crate::frontend_messages::fe_msg;
use crate::invariants::{Framed, check_framed, decode_chunked, exercise_views, next_frame_all};
use crate::support::started_client;

/// The states a framer can be in when hostile bytes arrive.
#[derive(Debug, Clone, Copy)]
enum Start {
    FreshClient,
    StartedClient,
    Server,
    ServerAwaitingSsl,
    ServerAwaitingGss,
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::FreshClient),
        Just(Start::StartedClient),
        Just(Start::Server),
        Just(Start::ServerAwaitingSsl),
        Just(Start::ServerAwaitingGss),
    ]
}

fn framer(start: Start, max_len: Option<u32>) -> Framer {
    let mut framer = match start {
        Start::FreshClient => Framer::new(Direction::Frontend),
        Start::StartedClient => started_client(),
        Start::Server | Start::ServerAwaitingSsl | Start::ServerAwaitingGss => {
            Framer::new(Direction::Backend)
        }
    };
    match start {
        Start::ServerAwaitingSsl => framer.expect_encryption_response(false),
        Start::ServerAwaitingGss => framer.expect_encryption_response(true),
        _ => {}
    }
    match max_len {
        Some(max) => framer.with_max_message_len(max),
        None => framer,
    }
}

/// Frames `input` whole, in chunks and over a slice; asserts they agree (errors included),
/// that the frames are a prefix of the input, and exercises every view of every frame.
fn frame_hostile(framer: &Framer, input: &[u8], cuts: &[Index]) -> Framed {
    let whole = decode_chunked(framer.clone(), input, &[], &[]);
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.sort_unstable();
    let chunked = decode_chunked(framer.clone(), input, &points, &[]);
    assert_eq!(chunked, whole, "framing garbage is split-invariant too");
    assert_eq!(next_frame_all(framer.clone(), input, &[]), whole);
    let concat = whole.concat();
    assert_eq!(&input[..concat.len()], &concat[..]);
    if let Ok(left) = whole.end {
        assert_eq!(concat.len() + left, input.len());
    }
    for frame in &whole.frames {
        check_framed(frame);
        exercise_views(frame.as_ref());
    }
    whole
}

fn any_kind() -> impl Strategy<Value = FrameKind> {
    prop_oneof![
        any::<u8>().prop_map(FrameKind::Tagged),
        prop::sample::select(&b"QPBEDCSHdcfXpRKZTDANIVvnt123sGWF"[..]).prop_map(FrameKind::Tagged),
        (any::<u16>())
            .prop_map(|minor| FrameKind::Startup(StartupCode::Protocol { major: 3, minor })),
        Just(FrameKind::Startup(StartupCode::Ssl)),
        Just(FrameKind::Startup(StartupCode::GssEnc)),
        Just(FrameKind::Startup(StartupCode::Cancel)),
        Just(FrameKind::SslResponse),
        Just(FrameKind::GssEncResponse),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Frontend), Just(Direction::Backend)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        start in start(),
        max_len in proptest::option::of(0u32..200),
        input in vec(any::<u8>(), 0..600),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let framer = framer(start, max_len);
        frame_hostile(&framer, &input, &cuts);
    }

    /// Valid messages with a few bytes overwritten reach deeper into the views than noise.
    #[test]
    fn corrupted_messages_never_panic(
        client in vec(fe_msg(), 1..8),
        server in vec(be_msg(), 1..8),
        flips in vec((any::<Index>(), any::<u8>()), 1..6),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let mut buf = BytesMut::new();
        for m in &client {
            m.encode(&mut buf);
        }
        let mut input = buf.split().to_vec();
        for (at, byte) in &flips {
            let i = at.index(input.len());
            input[i] = *byte;
        }
        frame_hostile(&started_client(), &input, &cuts);
        for m in &server {
            m.encode(&mut buf);
        }
        let mut input = buf.to_vec();
        for (at, byte) in &flips {
            let i = at.index(input.len());
            input[i] = *byte;
        }
        frame_hostile(&Framer::new(Direction::Backend), &input, &cuts);
    }

    /// A view over any bytes, even ones a framer would never produce, returns errors only.
    #[test]
    fn views_over_arbitrary_frames_never_panic(
        direction in direction(),
        kind in any_kind(),
        bytes in vec(any::<u8>(), 0..64),
    ) {
        exercise_views(FrameRef::new(direction, kind, &bytes));
    }

    /// Every message body truncated anywhere: views answer with errors, not panics.
    #[test]
    fn truncated_bodies_never_panic(
        client in fe_msg(),
        server in be_msg(),
        keep in any::<Index>(),
    ) {
        for (direction, bytes) in [
            (Direction::Frontend, client.to_bytes()),
            (Direction::Backend, server.to_bytes()),
        ] {
            let cut = 5 + keep.index(bytes.len() - 4);
            let kind = FrameKind::Tagged(bytes[0]);
            exercise_views(FrameRef::new(direction, kind, &bytes[..cut]));
        }
    }
}
