//! Framing does not depend on how the bytes arrive: a valid conversation fed whole, in random
//! chunks, one byte at a time, or through `next_frame` over a slice gives the same frames, whose
//! concatenation is the input.

use std::collections::BTreeMap;

use bytes::BytesMut;
use pgkeel_wire::{Direction, Framer, MessageType, encode};
use postgres_protocol::message::frontend;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::backend_messages::{BeMsg, be_msg};
use crate::frontend_messages::{FeMsg, fe_msg, ident, text};
use crate::invariants::{Framed, check_framed, decode_chunked, next_frame_all};

/// What the client sends before its startup packet.
#[derive(Debug, Clone, Copy)]
enum Opening {
    Plain,
    Ssl,
    Gss,
    /// libpq with `gssencmode=prefer`: GSS refused, then SSL refused.
    GssThenSsl,
    /// SSL answered by an ErrorResponse (a server too old to understand the request).
    SslAnsweredByError,
}

#[derive(Debug, Clone)]
enum Start {
    /// Protocol 3.0, encoded by `postgres_protocol`.
    Startup30(BTreeMap<String, String>),
    /// Protocol 3.2, encoded by us (the oracle only speaks 3.0).
    Startup32(BTreeMap<String, String>),
    /// A cancel connection: the only packet (32-byte keys are PostgreSQL 18's).
    Cancel { pid: i32, key: Vec<u8> },
}

#[derive(Debug, Clone)]
struct Conversation {
    opening: Opening,
    start: Start,
    client: Vec<FeMsg>,
    server: Vec<BeMsg>,
}

fn opening() -> impl Strategy<Value = Opening> {
    prop_oneof![
        3 => Just(Opening::Plain),
        2 => Just(Opening::Ssl),
        1 => Just(Opening::Gss),
        1 => Just(Opening::GssThenSsl),
        1 => Just(Opening::SslAnsweredByError),
    ]
}

fn parameters() -> impl Strategy<Value = BTreeMap<String, String>> {
    (text(16), btree_map(ident(), text(20), 0..5)).prop_map(|(user, mut params)| {
        params.insert("user".to_owned(), user);
        params
    })
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        4 => parameters().prop_map(Start::Startup30),
        2 => parameters().prop_map(Start::Startup32),
        1 => (any::<i32>(), prop_oneof![vec(any::<u8>(), 4), vec(any::<u8>(), 32)])
            .prop_map(|(pid, key)| Start::Cancel { pid, key }),
    ]
}

fn conversation() -> impl Strategy<Value = Conversation> {
    (
        opening(),
        start(),
        vec(fe_msg(), 0..24),
        vec(be_msg(), 0..32),
    )
        .prop_map(|(opening, start, client, server)| Conversation {
            opening,
            start,
            client,
            server,
        })
}

/// A client stream: its bytes and the type of each frame.
fn client_stream(c: &Conversation) -> (Vec<u8>, Vec<MessageType>) {
    let mut buf = BytesMut::new();
    let mut types = Vec::new();
    match c.opening {
        Opening::Plain => {}
        Opening::Ssl | Opening::SslAnsweredByError => {
            frontend::ssl_request(&mut buf);
            types.push(MessageType::SslRequest);
        }
        Opening::Gss => {
            buf.extend_from_slice(&encode::gssenc_request());
            types.push(MessageType::GssEncRequest);
        }
        Opening::GssThenSsl => {
            buf.extend_from_slice(&encode::gssenc_request());
            frontend::ssl_request(&mut buf);
            types.extend([MessageType::GssEncRequest, MessageType::SslRequest]);
        }
    }
    match &c.start {
        Start::Startup30(params) => {
            let params = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            frontend::startup_message(params, &mut buf).expect("startup");
            types.push(MessageType::StartupMessage);
        }
        Start::Startup32(params) => {
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            buf.extend_from_slice(&encode::startup_message(3, 2, &params).expect("startup"));
            types.push(MessageType::StartupMessage);
        }
        Start::Cancel { pid, key } => {
            buf.extend_from_slice(&encode::cancel_request(*pid, key).expect("cancel"));
            types.push(MessageType::CancelRequest);
            return (buf.to_vec(), types);
        }
    }
    for m in &c.client {
        m.encode(&mut buf);
        types.push(m.message_type());
    }
    (buf.to_vec(), types)
}

/// A server stream: its bytes, the type of each frame, and when the framer must be told that
/// an encryption response comes next (a proxy learns it from the client's request).
fn server_stream(c: &Conversation) -> (Vec<u8>, Vec<MessageType>, Vec<Option<bool>>) {
    let mut buf = BytesMut::new();
    let mut types = Vec::new();
    let mut expect = Vec::new();
    let refused = |gss: bool, buf: &mut BytesMut, types: &mut Vec<_>, expect: &mut Vec<_>| {
        buf.extend_from_slice(&[encode::ENCRYPTION_REFUSED]);
        types.push(if gss {
            MessageType::GssEncResponse
        } else {
            MessageType::SslResponse
        });
        expect.push(Some(gss));
    };
    match c.opening {
        Opening::Plain => {}
        Opening::Ssl => refused(false, &mut buf, &mut types, &mut expect),
        Opening::Gss => refused(true, &mut buf, &mut types, &mut expect),
        Opening::GssThenSsl => {
            refused(true, &mut buf, &mut types, &mut expect);
            refused(false, &mut buf, &mut types, &mut expect);
        }
        Opening::SslAnsweredByError => {
            let fields = encode::error_fields("FATAL", "08P01", "unsupported frontend protocol");
            buf.extend_from_slice(&encode::error_response(&fields).expect("error"));
            types.push(MessageType::ErrorResponse);
            expect.push(Some(false));
            // The server closes the connection after a FATAL error.
            return (buf.to_vec(), types, expect);
        }
    }
    if matches!(c.start, Start::Cancel { .. }) {
        // The server closes a cancel connection without a word.
        return (buf.to_vec(), types, expect);
    }
    for m in &c.server {
        m.encode(&mut buf);
        types.push(m.message_type());
        expect.push(None);
    }
    (buf.to_vec(), types, expect)
}

fn cut_points(input_len: usize, cuts: &[Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input_len + 1)).collect();
    points.sort_unstable();
    points.dedup();
    points
}

/// Frames `input` four ways and asserts they agree and cover the input exactly.
fn frame_every_way(
    direction: Direction,
    input: &[u8],
    cuts: &[Index],
    expect: &[Option<bool>],
) -> Framed {
    let whole = decode_chunked(Framer::new(direction), input, &[], expect);
    assert_eq!(whole.end, Ok(0), "a valid stream frames without leftovers");
    assert_eq!(whole.concat(), input, "frames concatenate to the input");
    for frame in &whole.frames {
        check_framed(frame);
    }
    let chunked = decode_chunked(
        Framer::new(direction),
        input,
        &cut_points(input.len(), cuts),
        expect,
    );
    assert_eq!(chunked, whole, "random chunks");
    let every_byte: Vec<usize> = (1..input.len()).collect();
    let bytewise = decode_chunked(Framer::new(direction), input, &every_byte, expect);
    assert_eq!(bytewise, whole, "one byte at a time");
    let sliced = next_frame_all(Framer::new(direction), input, expect);
    assert_eq!(sliced, whole, "next_frame over a slice");
    whole
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn client_stream_frames_the_same_however_split(
        c in conversation(),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let (input, types) = client_stream(&c);
        let framed = frame_every_way(Direction::Frontend, &input, &cuts, &[]);
        let got: Vec<MessageType> = framed.frames.iter().map(|f| f.message_type()).collect();
        prop_assert_eq!(got, types);
        // The tagged messages after the startup packet carry the fields that were encoded.
        if !matches!(c.start, Start::Cancel { .. }) {
            let tagged = framed.frames.len() - c.client.len();
            for (m, f) in c.client.iter().zip(&framed.frames[tagged..]) {
                m.check(f.as_ref());
            }
        }
    }

    #[test]
    fn server_stream_frames_the_same_however_split(
        c in conversation(),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let (input, types, expect) = server_stream(&c);
        let framed = frame_every_way(Direction::Backend, &input, &cuts, &expect);
        let got: Vec<MessageType> = framed.frames.iter().map(|f| f.message_type()).collect();
        prop_assert_eq!(&got, &types);
        let closed_early = matches!(c.start, Start::Cancel { .. })
            || matches!(c.opening, Opening::SslAnsweredByError);
        if !closed_early {
            let skip = types.len() - c.server.len();
            for (m, f) in c.server.iter().zip(&framed.frames[skip..]) {
                m.check(f.as_ref());
            }
        }
    }

    /// A stream cut short yields the frames that fit, then asks for more: the leftover is the
    /// partial frame, never an error.
    #[test]
    fn truncated_stream_yields_the_complete_prefix(
        c in conversation(),
        keep in any::<Index>(),
    ) {
        for (direction, (input, expect)) in [
            (Direction::Frontend, (client_stream(&c).0, Vec::new())),
            (Direction::Backend, { let (i, _, e) = server_stream(&c); (i, e) }),
        ] {
            let full = decode_chunked(Framer::new(direction), &input, &[], &expect);
            let cut = keep.index(input.len() + 1);
            let part = decode_chunked(Framer::new(direction), &input[..cut], &[], &expect);
            let n = part.frames.len();
            prop_assert_eq!(&part.frames[..], &full.frames[..n]);
            let consumed: usize = part.frames.iter().map(|f| f.bytes().len()).sum();
            prop_assert_eq!(part.end, Ok(cut - consumed));
            if n < full.frames.len() {
                prop_assert!(cut - consumed < full.frames[n].bytes().len());
            }
        }
    }
}
