//! Hand-made malformed messages: each gives the error that names the problem and its offset,
//! and leaves the decoder's state as it was.

use bytes::Bytes;
use pgkeel_stream::pgoutput::{DecodeErrorKind, Decoder, Message};

fn decode(version: u32, data: &[u8]) -> Result<Message, pgkeel_stream::pgoutput::DecodeError> {
    Decoder::new(version).decode(&Bytes::copy_from_slice(data))
}

/// An Insert into relation 16384 of `tuple` (column count included).
fn insert(tuple: &[u8]) -> Vec<u8> {
    let mut m = vec![b'I', 0, 0, 0x40, 0, b'N'];
    m.extend_from_slice(tuple);
    m
}

#[test]
fn empty_and_unknown_messages() {
    let e = decode(1, b"").unwrap_err();
    assert_eq!(
        (e.kind(), e.tag(), e.offset()),
        (&DecodeErrorKind::Empty, None, 0)
    );
    let e = decode(4, b"Z\0\0").unwrap_err();
    assert_eq!(
        (e.kind(), e.tag(), e.offset()),
        (&DecodeErrorKind::UnknownTag, Some(b'Z'), 0)
    );
    assert!(e.is_protocol_mismatch());
    assert!(
        e.to_string().contains("unknown pgoutput message tag 'Z'"),
        "{e}"
    );
}

#[test]
fn a_truncated_field_names_the_field_and_offset() {
    // Begin: final LSN (8), commit time (8), xid (4) — the xid is cut after 2 bytes.
    let mut begin = vec![b'B'];
    begin.extend([0; 16]);
    begin.extend([0, 0]);
    let e = decode(1, &begin).unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::Truncated {
            field: "xid",
            needed: 4,
            remaining: 2
        }
    );
    assert_eq!(e.offset(), 17);
    assert!(e.is_truncated());
    assert_eq!(
        e.to_string(),
        "malformed pgoutput Begin message ('B') at byte 17: truncated xid: needs 4 bytes, 2 left"
    );
}

#[test]
fn bad_tuple_and_value_kinds() {
    let e = decode(1, &[b'I', 0, 0, 0x40, 0, b'K', 0, 0]).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (
            &DecodeErrorKind::BadTupleKind {
                expected: "N",
                found: b'K'
            },
            5
        )
    );
    let e = decode(1, &[b'D', 0, 0, 0x40, 0, b'N', 0, 0]).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::BadTupleKind { found: b'N', .. }
    ));
    // Update with an old key, then something other than N.
    let e = decode(1, &[b'U', 0, 0, 0x40, 0, b'K', 0, 0, b'K', 0, 0]).unwrap_err();
    assert_eq!(e.offset(), 8);
    let e = decode(1, &insert(&[0, 2, b'n', b'x'])).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (&DecodeErrorKind::BadDatumKind { found: b'x' }, 9)
    );
}

#[test]
fn negative_lengths_are_refused() {
    let e = decode(1, &insert(&[0, 1, b't', 0xff, 0xff, 0xff, 0xff])).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (
            &DecodeErrorKind::NegativeLength {
                field: "column value length",
                length: -1
            },
            9
        )
    );
    let e = decode(1, &[b'T', 0x80, 0, 0, 0, 0]).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::NegativeLength {
            field: "relation count",
            ..
        }
    ));
    let mut m = vec![b'M', 1];
    m.extend([0; 8]);
    m.extend(b"p\0");
    m.extend((-5i32).to_be_bytes());
    let e = decode(1, &m).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::NegativeLength { length: -5, .. }
    ));
}

#[test]
fn a_value_longer_than_the_message_is_truncated_not_allocated() {
    let e = decode(1, &insert(&[0, 1, b'b', 0x7f, 0xff, 0xff, 0xff, 1, 2])).unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::Truncated {
            field: "column value",
            needed: i32::MAX as usize,
            remaining: 2
        }
    );
    // 65535 columns announced, none there.
    let e = decode(1, &insert(&[0xff, 0xff])).unwrap_err();
    assert!(e.is_truncated());
}

#[test]
fn names_must_be_terminated_utf8() {
    let mut origin = vec![b'O'];
    origin.extend([0; 8]);
    origin.extend(b"ab\xffc\0");
    let e = decode(1, &origin).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (
            &DecodeErrorKind::InvalidUtf8 {
                field: "origin name"
            },
            11
        )
    );
    origin.truncate(9);
    origin.extend(b"abc");
    let e = decode(1, &origin).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (
            &DecodeErrorKind::UnterminatedString {
                field: "origin name"
            },
            9
        )
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let e = decode(2, b"E!").unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (&DecodeErrorKind::TrailingBytes { count: 1 }, 1)
    );
}

#[test]
fn messages_of_later_versions_are_refused() {
    let e = decode(1, b"E").unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::NotInProtocolVersion {
            needs: 2,
            version: 1
        }
    );
    assert!(e.to_string().contains("from protocol version 2"), "{e}");
    let e = decode(2, &[b'K'; 1]).unwrap_err();
    assert!(matches!(
        e.kind(),
        DecodeErrorKind::NotInProtocolVersion { needs: 3, .. }
    ));
    assert_eq!(decode(2, b"E"), Ok(Message::StreamStop));
}

#[test]
fn stream_abort_has_abort_info_only_with_protocol_4_and_when_sent() {
    let short = [b'A', 0, 0, 0, 5, 0, 0, 0, 6];
    let mut long = short.to_vec();
    long.extend(0x10_u64.to_be_bytes());
    long.extend(77_i64.to_be_bytes());
    for version in 2..=4 {
        assert_eq!(
            decode(version, &short),
            Ok(Message::StreamAbort {
                xid: 5,
                subxid: 6,
                abort_lsn: None,
                abort_time: None
            })
        );
    }
    assert_eq!(
        decode(4, &long),
        Ok(Message::StreamAbort {
            xid: 5,
            subxid: 6,
            abort_lsn: Some(pgkeel_stream::Lsn(0x10)),
            abort_time: Some(pgkeel_stream::pgoutput::PgTimestamp(77)),
        })
    );
    let e = decode(3, &long).unwrap_err();
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes { count: 16 });
    let e = decode(4, &long[..20]).unwrap_err();
    assert!(e.is_truncated());
}

#[test]
fn the_streamed_block_state_follows_start_and_stop_but_not_errors() {
    let mut d = Decoder::new(2);
    let insert_in_stream = Bytes::from_static(&[b'I', 0, 0, 0, 9, 0, 0, 0x40, 0, b'N', 0, 0]);
    let insert_outside = Bytes::from_static(&[b'I', 0, 0, 0x40, 0, b'N', 0, 0]);
    assert!(!d.in_stream());
    // Outside a block, the xid would be read as the relation: 4 bytes too many.
    assert!(d.decode(&insert_in_stream).is_err());
    // A malformed Stream Start does not open a block.
    assert!(d.decode(&Bytes::from_static(b"S\0\0")).is_err());
    assert!(!d.in_stream());
    d.decode(&Bytes::from_static(&[b'S', 0, 0, 0, 9, 1]))
        .unwrap();
    assert!(d.in_stream());
    assert_eq!(
        d.decode(&insert_in_stream),
        Ok(Message::Insert {
            xid: Some(9),
            relation: 0x4000,
            new: vec![]
        })
    );
    assert!(d.decode(&Bytes::from_static(b"E?")).is_err());
    assert!(d.in_stream());
    d.decode(&Bytes::from_static(b"E")).unwrap();
    assert!(!d.in_stream());
    assert_eq!(
        d.decode(&insert_outside),
        Ok(Message::Insert {
            xid: None,
            relation: 0x4000,
            new: vec![]
        })
    );
    d.decode(&Bytes::from_static(&[b'S', 0, 0, 0, 9, 0]))
        .unwrap();
    d.reset();
    assert!(!d.in_stream());
}

#[test]
fn values_are_slices_of_the_message() {
    let data = Bytes::from(insert(&[0, 1, b't', 0, 0, 0, 3, b'a', b'b', b'c']));
    let Ok(Message::Insert { new, .. }) = Decoder::new(1).decode(&data) else {
        panic!("not an insert");
    };
    let [pgkeel_stream::pgoutput::Datum::Text(value)] = new.as_slice() else {
        panic!("{new:?}");
    };
    assert_eq!(value.as_ref(), b"abc");
    // Same memory: no copy was made.
    assert_eq!(value.as_ptr(), data[13..].as_ptr());
}
