//! Hostile input: arbitrary and corrupted bytes into both framers (in every starting state)
//! and every view never panic, frame the same however they are split, and cover a prefix of
//! the input. A damaged DataRow or RowDescription yields its intact values, then an error.

use bytes::BytesMut;
use pgkeel_wire::message::{DataRow, RowDescription};
use pgkeel_wire::{Direction, FrameKind, FrameRef, Framer, StartupCode, encode};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::backend_messages::{BeMsg, Column, be_msg, column, row_values};
use crate::frontend_messages::fe_msg;
use crate::invariants::{
    Framed, check_data_row, check_framed, check_row_description, decode_chunked, exercise_views,
    next_frame_all,
};
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

/// The body of `m` cut short at `keep` (strictly shorter), and with `extra` bytes appended.
fn damaged(m: &BeMsg, keep: Index, extra: &[u8]) -> [Vec<u8>; 2] {
    let bytes = m.to_bytes();
    let body = &bytes[5..];
    [
        body[..keep.index(body.len())].to_vec(),
        [body, extra].concat(),
    ]
}

/// Asserts that `got` is the first values of `want`, then one error: all of them when the
/// body was extended, fewer when it was cut (none when there were none).
fn intact_prefix_then_error<T: PartialEq + std::fmt::Debug, E>(
    got: &[Result<T, E>],
    want: &[T],
    extended: bool,
) {
    let (last, intact) = got.split_last().expect("a damaged body yields an error");
    assert!(last.is_err(), "the last item is the error");
    if extended {
        assert_eq!(
            intact.len(),
            want.len(),
            "every value before the extra bytes"
        );
    } else {
        assert!(
            intact.len() < want.len() || want.is_empty(),
            "the cut value is not read"
        );
    }
    for (got, want) in intact.iter().zip(want) {
        assert_eq!(got.as_ref().ok(), Some(want));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// DataRow and RowDescription cut anywhere short of their end, or with bytes after the
    /// last value: the values before the damage read back exactly, then comes one error; no
    /// garbage value, no panic.
    #[test]
    fn damaged_rows_read_their_intact_prefix_then_an_error(
        values in row_values(),
        columns in vec(column(), 0..5),
        keep in any::<Index>(),
        extra in vec(any::<u8>(), 1..8),
    ) {
        let want: Vec<Option<&[u8]>> = values.iter().map(Option::as_deref).collect();
        let [cut, longer] = damaged(&BeMsg::DataRow(values.clone()), keep, &extra);
        for (body, extended) in [(&cut, false), (&longer, true)] {
            let got: Vec<_> = DataRow::from_body(body).values().collect();
            intact_prefix_then_error(&got, &want, extended);
            check_data_row(DataRow::from_body(body), body);
            let frame = encode::tagged(b'D', body).unwrap();
            exercise_views(FrameRef::new(Direction::Backend, FrameKind::Tagged(b'D'), &frame));
        }

        let [cut, longer] = damaged(&BeMsg::RowDescription(columns.clone()), keep, &extra);
        for (body, extended) in [(&cut, false), (&longer, true)] {
            let got: Vec<_> = RowDescription::from_body(body)
                .fields()
                .map(|f| f.map(Column::from_field))
                .collect();
            intact_prefix_then_error(&got, &columns, extended);
            check_row_description(RowDescription::from_body(body), body);
            let frame = encode::tagged(b'T', body).unwrap();
            exercise_views(FrameRef::new(Direction::Backend, FrameKind::Tagged(b'T'), &frame));
        }
    }

    /// Any bytes as a DataRow or RowDescription body: the honesty checks hold.
    #[test]
    fn arbitrary_row_bodies_are_read_honestly(body in vec(any::<u8>(), 0..80)) {
        check_data_row(DataRow::from_body(&body), &body);
        check_row_description(RowDescription::from_body(&body), &body);
    }
}
