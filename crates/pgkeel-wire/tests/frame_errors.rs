//! Each malformed framing input is a specific `WireError`: lengths below 4 or above the
//! maximum, startup packets out of range or with unknown codes, a TLS handshake instead of a
//! startup packet, and bad answers to an encryption request.

use pgkeel_wire::{
    DEFAULT_MAX_MESSAGE_LEN, Direction, FrameKind, Framer, MAX_STARTUP_PACKET_LEN, WireError,
};

use crate::support::started_client;

fn err(framer: &mut Framer, bytes: &[u8]) -> WireError {
    framer.next_frame(bytes).expect_err("an error")
}

#[test]
fn tagged_length_below_four_is_an_error() {
    for len in 0..4u32 {
        let mut bytes = vec![b'Z'];
        bytes.extend_from_slice(&len.to_be_bytes());
        let e = err(&mut Framer::new(Direction::Backend), &bytes);
        assert_eq!(e, WireError::LengthTooSmall { tag: b'Z', len });
        let e = err(
            &mut started_client(),
            &[&[b'Q'][..], &len.to_be_bytes()].concat(),
        );
        assert_eq!(e, WireError::LengthTooSmall { tag: b'Q', len });
    }
    // Length 4 is an empty body, which is fine (Sync, CopyDone, ...).
    assert!(
        Framer::new(Direction::Backend)
            .next_frame(b"c\0\0\0\x04")
            .unwrap()
            .is_some()
    );
}

#[test]
fn declared_length_above_the_maximum_is_an_error() {
    let mut framer = Framer::new(Direction::Backend).with_max_message_len(1024);
    let e = err(&mut framer, b"D\0\0\x04\x01");
    assert_eq!(
        e,
        WireError::LengthTooLarge {
            tag: b'D',
            len: 1025,
            max: 1024
        }
    );
    // Exactly the maximum is accepted (and incomplete).
    let mut framer = Framer::new(Direction::Backend).with_max_message_len(1024);
    assert_eq!(framer.next_frame(b"D\0\0\x04\x00"), Ok(None));
    // The default is PostgreSQL's 1 GiB - 1.
    let over = (DEFAULT_MAX_MESSAGE_LEN + 1).to_be_bytes();
    let e = err(
        &mut Framer::new(Direction::Backend),
        &[&[b'd'][..], &over].concat(),
    );
    assert_eq!(
        e,
        WireError::LengthTooLarge {
            tag: b'd',
            len: DEFAULT_MAX_MESSAGE_LEN + 1,
            max: DEFAULT_MAX_MESSAGE_LEN
        }
    );
    let e = err(&mut started_client(), b"Q\xff\xff\xff\xff");
    assert!(matches!(
        e,
        WireError::LengthTooLarge {
            tag: b'Q',
            len: u32::MAX,
            ..
        }
    ));
    // A maximum below 4 is raised to 4, so an empty body still frames.
    let mut framer = Framer::new(Direction::Backend).with_max_message_len(0);
    assert!(framer.next_frame(b"1\0\0\0\x04").unwrap().is_some());
    assert!(matches!(
        err(&mut framer, b"1\0\0\0\x05"),
        WireError::LengthTooLarge { max: 4, .. }
    ));
}

#[test]
fn startup_length_out_of_range_is_an_error() {
    for len in [0u32, 4, 7, MAX_STARTUP_PACKET_LEN + 1, 65_536, 0x00ff_ffff] {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(&196_608u32.to_be_bytes());
        let e = err(&mut Framer::new(Direction::Frontend), &bytes);
        assert_eq!(
            e,
            WireError::BadStartupLength {
                len,
                max: MAX_STARTUP_PACKET_LEN
            }
        );
    }
    // SSLRequest and GSSENCRequest are exactly 8 bytes.
    for code in [80_877_103u32, 80_877_104] {
        let bytes = [&12u32.to_be_bytes()[..], &code.to_be_bytes(), &[0; 4]].concat();
        let e = err(&mut Framer::new(Direction::Frontend), &bytes);
        assert!(matches!(
            e,
            WireError::Malformed {
                message: "encryption request",
                ..
            }
        ));
    }
    // A CancelRequest carries a key of at most 256 bytes.
    let bytes = [
        &(12u32 + 257).to_be_bytes()[..],
        &80_877_102u32.to_be_bytes(),
    ]
    .concat();
    let e = err(&mut Framer::new(Direction::Frontend), &bytes);
    assert!(matches!(
        e,
        WireError::Malformed {
            message: "CancelRequest",
            ..
        }
    ));
    // ... and at least one: PostgreSQL rejects an empty key ("invalid length of cancel key").
    for len in [8u32, 11, 12] {
        let bytes = [
            &len.to_be_bytes()[..],
            &80_877_102u32.to_be_bytes(),
            &[0; 4],
        ]
        .concat();
        let e = err(&mut Framer::new(Direction::Frontend), &bytes);
        assert_eq!(malformed_message(&e), Some("CancelRequest"), "{len}");
    }
    let one_byte_key = [
        &13u32.to_be_bytes()[..],
        &80_877_102u32.to_be_bytes(),
        &[0, 0, 0, 1, 0xaa],
    ]
    .concat();
    let frame = crate::support::frame_one(Framer::new(Direction::Frontend), &one_byte_key);
    let view = frame.as_ref().cancel_request().unwrap();
    assert_eq!(view.key().unwrap(), [0xaa]);
}

fn malformed_message(e: &WireError) -> Option<&'static str> {
    match e {
        WireError::Malformed { message, .. } => Some(message),
        _ => None,
    }
}

#[test]
fn unknown_startup_codes_are_errors() {
    // Protocol 2.0, 4.0, and a request code PostgreSQL does not define.
    for code in [0x0002_0000u32, 0x0004_0000, 80_877_105, 1234 << 16] {
        let bytes = [&8u32.to_be_bytes()[..], &code.to_be_bytes()].concat();
        let e = err(&mut Framer::new(Direction::Frontend), &bytes);
        assert_eq!(e, WireError::UnknownStartupCode { code });
    }
}

#[test]
fn tls_client_hello_first_is_direct_tls() {
    // A TLS 1.2/1.3 ClientHello record header: handshake (0x16), version 3.1, length.
    let hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    for n in 1..=hello.len() {
        assert_eq!(
            err(&mut Framer::new(Direction::Frontend), &hello[..n]),
            WireError::DirectTls
        );
    }
    // Only for the first packet: once started, 0x16 is just an unknown tag.
    let header = started_client()
        .next_frame(b"\x16\0\0\0\x04")
        .unwrap()
        .unwrap();
    assert_eq!(header.kind, FrameKind::Tagged(0x16));
}

#[test]
fn bad_encryption_responses_are_errors() {
    for (gss, byte) in [
        (false, b'X'),
        (false, b'G'),
        (true, b'S'),
        (true, 0),
        (false, 0x16),
    ] {
        let mut framer = Framer::new(Direction::Backend);
        framer.expect_encryption_response(gss);
        assert_eq!(
            err(&mut framer, &[byte]),
            WireError::BadEncryptionResponse { byte }
        );
    }
    // Nothing yet: ask for more.
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(false);
    assert_eq!(framer.next_frame(b""), Ok(None));
}
