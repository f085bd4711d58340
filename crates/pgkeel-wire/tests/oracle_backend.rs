//! Server messages encoded by `pgwire` read back through our framer and views with the same
//! fields and the message type names of the PostgreSQL documentation.

use bytes::{Bytes, BytesMut};
use pgkeel_wire::{Direction, FrameKind, Framer, MessageType, WireError};
use pgwire::messages::response::{GssEncResponse, SslResponse};
use pgwire::messages::startup::{BackendKeyData, SecretKey};
use pgwire::messages::{DecodeContext, Message, ProtocolVersion};
use proptest::prelude::*;

use crate::backend_messages::{BeMsg, Column, Key, be_msg};
use crate::invariants::decode_chunked;
use crate::support::{frame_one, server_frame};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_server_message_reads_back(m in be_msg()) {
        let frame = server_frame(&m.to_bytes());
        m.check(frame.as_ref());
    }
}

/// One of each message the oracle can encode, so every name is checked on every run.
fn one_of_each() -> Vec<BeMsg> {
    vec![
        BeMsg::AuthOk,
        BeMsg::AuthCleartext,
        BeMsg::AuthKerberos,
        BeMsg::AuthMd5(*b"salt"),
        BeMsg::AuthSasl(vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]),
        BeMsg::AuthSaslContinue(b"r=nonce,s=c2FsdA==,i=4096".to_vec()),
        BeMsg::AuthSaslFinal(b"v=c2lnbmF0dXJl".to_vec()),
        BeMsg::ParameterStatus {
            name: "server_version".into(),
            value: "18.0".into(),
        },
        BeMsg::BackendKeyData {
            pid: 4242,
            key: Key::I32(-7),
        },
        BeMsg::NegotiateProtocolVersion {
            newest: 0,
            options: vec!["_pq_.unknown".into()],
        },
        BeMsg::ParseComplete,
        BeMsg::BindComplete,
        BeMsg::CloseComplete,
        BeMsg::PortalSuspended,
        BeMsg::NoData,
        BeMsg::EmptyQuery,
        BeMsg::CommandComplete("INSERT 0 5".into()),
        BeMsg::ReadyForQuery(b'T'),
        BeMsg::Error(vec![(b'S', "ERROR".into()), (b'C', "40001".into())]),
        BeMsg::Notice(vec![(b'S', "NOTICE".into()), (b'M', "hello".into())]),
        BeMsg::Notification {
            pid: 1,
            channel: "jobs".into(),
            payload: "{\"id\":1}".into(),
        },
        BeMsg::ParameterDescription(vec![23, 25]),
        BeMsg::RowDescription(vec![Column::int4("id"), Column::int4("name")]),
        BeMsg::DataRow(vec![Some(b"1".to_vec()), None]),
        BeMsg::CopyData(b"w\0\0\0\0".to_vec()),
        BeMsg::CopyDone,
        BeMsg::CopyIn(vec![0, 0]),
        BeMsg::CopyOut(vec![1]),
        BeMsg::CopyBoth(vec![]),
    ]
}

#[test]
fn every_pgwire_message_has_its_documented_name() {
    let all = one_of_each();
    let mut names: Vec<&str> = Vec::new();
    for m in &all {
        let frame = server_frame(&m.to_bytes());
        m.check(frame.as_ref());
        assert_eq!(MessageType::from_name(m.doc_name()), Some(m.message_type()));
        assert!(
            m.message_type().senders().contains(&Direction::Backend),
            "{m:?}"
        );
        names.push(frame.message_type().name());
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "each message gets its own name");
}

#[test]
fn authentication_sasl_lists_mechanisms_and_is_not_ok() {
    let m = BeMsg::AuthSasl(vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]);
    let frame = server_frame(&m.to_bytes());
    assert_eq!(frame.message_type(), MessageType::AuthenticationSasl);
    assert_ne!(frame.message_type(), MessageType::AuthenticationOk);
    let auth = frame.as_ref().authentication().unwrap();
    assert_eq!(auth.code().unwrap(), 10);
    let mechanisms = auth.sasl_mechanisms().unwrap();
    assert_eq!(mechanisms, [&b"SCRAM-SHA-256-PLUS"[..], b"SCRAM-SHA-256"]);
    // The body is the code, each name NUL-terminated, then an empty name.
    assert_eq!(
        frame.as_ref().body(),
        b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
    );
}

#[test]
fn protocol_3_2_backend_key_data_carries_a_32_byte_key() {
    let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
    let m = BackendKeyData::new(9001, SecretKey::Bytes(Bytes::from(key.clone())));
    let mut buf = BytesMut::new();
    m.encode(&mut buf).unwrap();
    assert_eq!(buf.len(), 1 + 4 + 4 + 32);
    let frame = server_frame(&buf);
    let view = frame.as_ref().backend_key_data().unwrap();
    assert_eq!(view.pid().unwrap(), 9001);
    assert_eq!(view.key().unwrap(), &key[..]);
    // The oracle reads our frame's bytes back the same way.
    let mut again = BytesMut::from(&frame.bytes()[..]);
    let ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_2);
    let decoded = BackendKeyData::decode(&mut again, &ctx).unwrap().unwrap();
    assert_eq!(decoded, m);
}

#[test]
fn protocol_3_0_backend_key_data_carries_four_bytes() {
    let m = BackendKeyData::new(77, SecretKey::I32(0x0102_0304));
    let mut buf = BytesMut::new();
    m.encode(&mut buf).unwrap();
    let frame = server_frame(&buf);
    let view = frame.as_ref().backend_key_data().unwrap();
    assert_eq!(view.pid().unwrap(), 77);
    assert_eq!(view.key().unwrap(), [1, 2, 3, 4]);
}

#[test]
fn ssl_and_gss_answers_are_single_bytes() {
    let answers: [(bool, Vec<u8>, FrameKind, MessageType); 4] = [
        (
            false,
            encode_one(SslResponse::Accept),
            FrameKind::SslResponse,
            MessageType::SslResponse,
        ),
        (
            false,
            encode_one(SslResponse::Refuse),
            FrameKind::SslResponse,
            MessageType::SslResponse,
        ),
        (
            true,
            encode_one(GssEncResponse::Accept),
            FrameKind::GssEncResponse,
            MessageType::GssEncResponse,
        ),
        (
            true,
            encode_one(GssEncResponse::Refuse),
            FrameKind::GssEncResponse,
            MessageType::GssEncResponse,
        ),
    ];
    for (gss, bytes, kind, t) in answers {
        assert_eq!(bytes.len(), 1);
        let mut framer = Framer::new(Direction::Backend);
        framer.expect_encryption_response(gss);
        let frame = frame_one(framer, &bytes);
        assert_eq!(frame.kind(), kind);
        assert_eq!(frame.message_type(), t);
        assert_eq!(t.name(), if gss { "GSSENCResponse" } else { "SSLResponse" });
    }
    // 'S' answers SSL only, 'G' answers GSS only.
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(true);
    assert_eq!(
        framer.next_frame(b"S"),
        Err(WireError::BadEncryptionResponse { byte: b'S' })
    );
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(false);
    assert_eq!(
        framer.next_frame(b"G"),
        Err(WireError::BadEncryptionResponse { byte: b'G' })
    );
}

fn encode_one(m: impl Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf).unwrap();
    buf.to_vec()
}

/// A refused SSL request, then the rest of a login: the framer is told once, before the
/// answer, and then reads tagged messages again.
#[test]
fn refused_ssl_then_login() {
    let mut buf = BytesMut::new();
    SslResponse::Refuse.encode(&mut buf).unwrap();
    let login = [
        BeMsg::AuthOk,
        BeMsg::ParameterStatus {
            name: "client_encoding".into(),
            value: "UTF8".into(),
        },
        BeMsg::BackendKeyData {
            pid: 5,
            key: Key::Bytes(vec![0xab; 32]),
        },
        BeMsg::ReadyForQuery(b'I'),
    ];
    for m in &login {
        m.encode(&mut buf);
    }
    let framed = decode_chunked(
        Framer::new(Direction::Backend),
        &buf,
        &[3, 9, 10],
        &[Some(false)],
    );
    assert_eq!(framed.end, Ok(0));
    let names: Vec<&str> = framed
        .frames
        .iter()
        .map(|f| f.message_type().name())
        .collect();
    assert_eq!(
        names,
        [
            "SSLResponse",
            "AuthenticationOk",
            "ParameterStatus",
            "BackendKeyData",
            "ReadyForQuery"
        ]
    );
    for (m, f) in login.iter().zip(&framed.frames[1..]) {
        m.check(f.as_ref());
    }
}

/// An old server answers SSLRequest with an ErrorResponse: the framer reads it as one.
#[test]
fn error_instead_of_an_encryption_answer() {
    let m = BeMsg::Error(vec![
        (b'S', "FATAL".into()),
        (b'C', "0A000".into()),
        (b'M', "unsupported frontend protocol 1234.5679".into()),
    ]);
    let bytes = m.to_bytes();
    for gss in [false, true] {
        let mut framer = Framer::new(Direction::Backend);
        framer.expect_encryption_response(gss);
        let frame = frame_one(framer, &bytes);
        assert_eq!(frame.kind(), FrameKind::Tagged(b'E'));
        m.check(frame.as_ref());
        assert_eq!(
            frame.as_ref().error_fields().unwrap().code().unwrap(),
            Some(&b"0A000"[..])
        );
    }
}

#[test]
fn notice_reads_through_the_error_fields_view() {
    let m = BeMsg::Notice(vec![
        (b'S', "WARNING".into()),
        (b'V', "WARNING".into()),
        (b'C', "01000".into()),
        (b'M', "there is no transaction in progress".into()),
    ]);
    let frame = server_frame(&m.to_bytes());
    assert_eq!(frame.message_type(), MessageType::NoticeResponse);
    let fields = frame.as_ref().error_fields().unwrap();
    assert_eq!(fields.severity().unwrap(), Some(&b"WARNING"[..]));
    assert_eq!(fields.code().unwrap(), Some(&b"01000"[..]));
    assert_eq!(fields.field(b'H').unwrap(), None);
}

/// NULL and the empty value are different values; a row may have no columns at all; values
/// may hold any bytes, NUL included; a row may be wide and a value long.
#[test]
fn data_rows_keep_null_empty_binary_wide_and_long_values_apart() {
    let rows: Vec<Vec<Option<Vec<u8>>>> = vec![
        vec![],
        vec![None],
        vec![Some(vec![])],
        vec![None, Some(vec![]), None],
        vec![Some(b"\0\xff\0".to_vec()), Some(b"-1".to_vec())],
        vec![Some(vec![0xff; 4]); 1600], // a value of four 0xff bytes is not a length of -1
        (0..1664u16)
            .map(|i| (i % 3 != 0).then(|| i.to_be_bytes().to_vec()))
            .collect(),
        vec![Some(vec![b'x'; 1 << 20])],
    ];
    for values in rows {
        let m = BeMsg::DataRow(values.clone());
        let frame = server_frame(&m.to_bytes());
        m.check(frame.as_ref());
        let row = frame.as_ref().data_row().unwrap();
        let nulls = row
            .values()
            .filter(|v| v.as_ref().unwrap().is_none())
            .count();
        assert_eq!(nulls, values.iter().filter(|v| v.is_none()).count());
    }
}

/// Every field of every column, at the ends of its range: OIDs above 2^31 (pgwire keeps them
/// as int4), negative attribute numbers (system columns), variable-width types, typmods.
#[test]
fn row_description_reads_back_every_field_at_its_limits() {
    let extreme = Column {
        name: "ctid".into(),
        table_oid: u32::MAX,
        column: -1,
        type_oid: 2_147_483_648,
        type_len: 6,
        type_modifier: i32::MIN,
        format: 1,
    };
    let variable = Column {
        name: "naïve \"quoted\" name".into(),
        table_oid: 16_384,
        column: i16::MAX,
        type_oid: 1043,
        type_len: -1,
        type_modifier: 68, // varchar(64)
        format: 0,
    };
    let unnamed = Column {
        name: String::new(),
        table_oid: 0,
        column: i16::MIN,
        type_oid: 0,
        type_len: -2, // cstring
        type_modifier: i32::MAX,
        format: 0,
    };
    for columns in [
        vec![],
        vec![extreme.clone()],
        vec![extreme, variable, unnamed.clone(), unnamed],
    ] {
        let m = BeMsg::RowDescription(columns);
        m.check(server_frame(&m.to_bytes()).as_ref());
    }
}

/// A result as the server sends it: the description, the rows, the command tag, ready. The
/// views read the same however the stream was split.
#[test]
fn a_result_stream_reads_back_however_split() {
    let result = [
        BeMsg::RowDescription(vec![Column::int4("id"), Column::int4("note")]),
        BeMsg::DataRow(vec![Some(b"1".to_vec()), None]),
        BeMsg::DataRow(vec![Some(b"2".to_vec()), Some(vec![])]),
        BeMsg::CommandComplete("SELECT 2".into()),
        BeMsg::ReadyForQuery(b'I'),
    ];
    let mut buf = BytesMut::new();
    for m in &result {
        m.encode(&mut buf);
    }
    let every_byte: Vec<usize> = (1..buf.len()).collect();
    for cuts in [&[][..], &[1, 7, 30, 31], &every_byte] {
        let framed = decode_chunked(Framer::new(Direction::Backend), &buf, cuts, &[]);
        assert_eq!(framed.end, Ok(0));
        assert_eq!(framed.frames.len(), result.len());
        for (m, f) in result.iter().zip(&framed.frames) {
            m.check(f.as_ref());
        }
    }
}
