//! The framer's phases (startup, encryption answers, tagged), frame kinds and lengths, and the
//! owned/borrowed frame API, on hand-written conversations.

use bytes::BytesMut;
use pgkeel_wire::{Direction, FrameKind, Framer, MessageType, StartupCode, encode};

use crate::invariants::decode_chunked;
use crate::support::{client_frame, server_frame, started_client};

#[test]
fn client_phases_follow_the_opening_packets() {
    let mut framer = Framer::new(Direction::Frontend);
    assert!(framer.expects_startup());
    assert_eq!(framer.direction(), Direction::Frontend);
    for (bytes, code) in [
        (encode::gssenc_request(), StartupCode::GssEnc),
        (encode::ssl_request(), StartupCode::Ssl),
    ] {
        let h = framer.next_frame(&bytes).unwrap().unwrap();
        assert_eq!((h.kind, h.len), (FrameKind::Startup(code), 8));
        assert!(
            framer.expects_startup(),
            "a refused request is followed by another packet"
        );
    }
    let startup = encode::startup_message(3, 2, &[("user", "u"), ("database", "d")]).unwrap();
    let h = framer.next_frame(&startup).unwrap().unwrap();
    assert_eq!(
        h.kind,
        FrameKind::Startup(StartupCode::Protocol { major: 3, minor: 2 })
    );
    assert_eq!(h.len, startup.len());
    assert!(!framer.expects_startup());
    // In the tagged phase the same bytes are a message with tag 0.
    let h = framer.next_frame(&[0, 0, 0, 0, 4]).unwrap().unwrap();
    assert_eq!(h.kind, FrameKind::Tagged(0));
    // A proxy that replays a connection can reset the phase.
    framer.expect_startup();
    assert!(framer.expects_startup());
    let h = framer.next_frame(&startup).unwrap().unwrap();
    assert_eq!(
        h.kind,
        FrameKind::Startup(StartupCode::Protocol { major: 3, minor: 2 })
    );
}

#[test]
fn cancel_request_leaves_the_client_in_the_startup_phase() {
    let mut framer = Framer::new(Direction::Frontend);
    let cancel = encode::cancel_request(42, &[1, 2, 3, 4]).unwrap();
    let h = framer.next_frame(&cancel).unwrap().unwrap();
    assert_eq!(
        (h.kind, h.len),
        (FrameKind::Startup(StartupCode::Cancel), 16)
    );
    assert!(framer.expects_startup());
}

#[test]
fn server_phases_follow_the_encryption_answer() {
    // 'S': TLS follows; the framer is back in the tagged phase for whoever decrypts.
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(false);
    let h = framer.next_frame(b"SR\0\0\0\x08").unwrap().unwrap();
    assert_eq!((h.kind, h.len), (FrameKind::SslResponse, 1));
    let h = framer.next_frame(b"R\0\0\0\x08\0\0\0\0").unwrap().unwrap();
    assert_eq!(h.kind, FrameKind::Tagged(b'R'));
    // 'G' answers GSS.
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(true);
    let h = framer.next_frame(b"G").unwrap().unwrap();
    assert_eq!((h.kind, h.len), (FrameKind::GssEncResponse, 1));
    // A server framer never expects a startup packet.
    assert!(!Framer::new(Direction::Backend).expects_startup());
}

#[test]
fn header_lengths() {
    assert_eq!(FrameKind::Tagged(b'Q').header_len(), 5);
    assert_eq!(FrameKind::Startup(StartupCode::Ssl).header_len(), 8);
    assert_eq!(FrameKind::SslResponse.header_len(), 1);
    assert_eq!(FrameKind::GssEncResponse.header_len(), 1);
}

#[test]
fn decode_splits_one_frame_at_a_time_and_keeps_the_rest() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&encode::command_complete("SELECT 1").unwrap());
    buf.extend_from_slice(&encode::ready_for_query(
        pgkeel_wire::message::TransactionStatus::Idle,
    ));
    buf.extend_from_slice(b"Z\0\0"); // the start of the next message
    let mut framer = Framer::new(Direction::Backend);
    let first = framer.decode(&mut buf).unwrap().unwrap();
    assert_eq!(first.message_type(), MessageType::CommandComplete);
    assert_eq!(first.direction(), Direction::Backend);
    assert_eq!(first.kind(), FrameKind::Tagged(b'C'));
    let second = framer.decode(&mut buf).unwrap().unwrap();
    assert_eq!(second.message_type(), MessageType::ReadyForQuery);
    assert_eq!(framer.decode(&mut buf).unwrap(), None);
    assert_eq!(
        &buf[..],
        b"Z\0\0",
        "an incomplete frame stays in the buffer"
    );
    buf.extend_from_slice(b"\0\x05T");
    let third = framer.decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        third.as_ref().ready_for_query().unwrap().status_byte(),
        b'T'
    );
    assert!(buf.is_empty());
    assert_eq!(&first.clone().into_bytes()[..], b"C\0\0\0\x0dSELECT 1\0");
}

#[test]
fn frame_ref_exposes_the_raw_bytes() {
    let bytes = encode::query("SELECT now()").unwrap();
    let frame = client_frame(&bytes);
    let r = frame.as_ref();
    assert_eq!(r.direction(), Direction::Frontend);
    assert_eq!(r.tag(), Some(b'Q'));
    assert_eq!(r.bytes(), &bytes[..]);
    assert_eq!(r.len(), bytes.len());
    assert!(!r.is_empty());
    assert_eq!(r.body(), b"SELECT now()\0");
    let startup = encode::startup_message(3, 0, &[("user", "u")]).unwrap();
    let frame = crate::support::frame_one(Framer::new(Direction::Frontend), &startup);
    assert_eq!(frame.as_ref().tag(), None);
    assert_eq!(frame.as_ref().body(), b"user\0u\0\0");
}

/// The same tag names different messages in each direction.
#[test]
fn direction_decides_the_message_type() {
    let cases: [(u8, &[u8], &str, &str); 5] = [
        (b'D', b"S\0", "Describe", "DataRow"),
        (b'E', b"\0\0\0\0\0", "Execute", "ErrorResponse"),
        (b'C', b"S\0", "Close", "CommandComplete"),
        (b'S', b"", "Sync", "ParameterStatus"),
        (b'H', b"", "Flush", "CopyOutResponse"),
    ];
    for (tag, body, client, server) in cases {
        let bytes = encode::tagged(tag, body).unwrap();
        assert_eq!(client_frame(&bytes).message_type().name(), client);
        assert_eq!(server_frame(&bytes).message_type().name(), server);
    }
    assert_eq!(Direction::Frontend.reverse(), Direction::Backend);
    assert_eq!(Direction::Backend.reverse(), Direction::Frontend);
    assert_eq!(Direction::Frontend.sender(), "client");
    assert_eq!(Direction::Backend.sender(), "server");
}

#[test]
fn unknown_tags_are_framed_and_forwarded() {
    let bytes = encode::tagged(b'~', b"whatever").unwrap();
    for framer in [started_client(), Framer::new(Direction::Backend)] {
        let framed = decode_chunked(framer, &bytes, &[2], &[]);
        assert_eq!(framed.end, Ok(0));
        assert_eq!(framed.frames[0].message_type(), MessageType::Unknown);
        assert_eq!(&framed.frames[0].bytes()[..], &bytes[..]);
    }
}

#[test]
fn authentication_codes_name_the_request() {
    let cases: [(i32, &str); 11] = [
        (0, "AuthenticationOk"),
        (2, "AuthenticationKerberosV5"),
        (3, "AuthenticationCleartextPassword"),
        (5, "AuthenticationMD5Password"),
        (7, "AuthenticationGSS"),
        (8, "AuthenticationGSSContinue"),
        (9, "AuthenticationSSPI"),
        (10, "AuthenticationSASL"),
        (11, "AuthenticationSASLContinue"),
        (12, "AuthenticationSASLFinal"),
        (6, "Authentication"), // SCM credentials: no longer sent, still framed
    ];
    for (code, name) in cases {
        let frame = server_frame(&encode::tagged(b'R', &code.to_be_bytes()).unwrap());
        assert_eq!(frame.message_type().name(), name);
        assert_eq!(
            frame.as_ref().authentication().unwrap().code().unwrap(),
            code
        );
    }
    let short = server_frame(&encode::tagged(b'R', b"\0\0").unwrap());
    assert_eq!(short.message_type(), MessageType::Authentication);
    assert!(short.as_ref().authentication().unwrap().code().is_err());
}
