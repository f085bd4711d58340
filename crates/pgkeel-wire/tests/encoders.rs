//! Our `encode::*` output parsed by the oracles (`postgres_protocol`'s backend parser for
//! server messages, `pgwire`'s decoders for client ones) and by our own framer and views; and
//! the inputs the encoders must refuse rather than write a corrupt frame.

use std::collections::BTreeMap;

use bytes::BytesMut;
use pgkeel_wire::message::TransactionStatus;
use pgkeel_wire::{Direction, FrameKind, Framer, MessageType, StartupCode, WireError, encode};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::{ErrorResponse, NoticeResponse};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::{SecretKey, Startup};
use pgwire::messages::{
    DecodeContext, Message, PgWireFrontendMessage, ProtocolVersion, SslNegotiationMetaMessage,
};
use postgres_protocol::message::backend;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use crate::backend_messages::oracle_parse;
use crate::frontend_messages::{ident, text};
use crate::support::{client_frame, frame_one, server_frame};

/// A decoding context for the tagged phase of a client.
fn tagged_ctx() -> DecodeContext {
    let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    ctx.awaiting_frontend_ssl = false;
    ctx.awaiting_frontend_startup = false;
    ctx
}

fn startup_ctx(version: ProtocolVersion) -> DecodeContext {
    let mut ctx = DecodeContext::new(version);
    ctx.awaiting_frontend_ssl = false;
    ctx
}

fn fields() -> impl Strategy<Value = Vec<(u8, String)>> {
    vec((1u8..=255, text(40)), 0..8)
}

fn borrowed(fields: &[(u8, String)]) -> Vec<(u8, &[u8])> {
    fields.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn error_response_parses_in_both_oracles(fields in fields()) {
        let bytes = encode::error_response(&borrowed(&fields)).unwrap();
        prop_assert!(matches!(oracle_parse(&bytes), backend::Message::ErrorResponse(_)));
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = ErrorResponse::decode(&mut buf, &DecodeContext::default()).unwrap().unwrap();
        prop_assert_eq!(&decoded.fields, &fields);
        let frame = server_frame(&bytes);
        prop_assert_eq!(frame.message_type(), MessageType::ErrorResponse);
        let view = frame.as_ref().error_fields().unwrap();
        prop_assert!(view.is_well_formed());
        prop_assert_eq!(view.fields().unwrap(), borrowed(&fields));
    }

    #[test]
    fn notice_response_parses_in_both_oracles(fields in fields()) {
        let bytes = encode::notice_response(&borrowed(&fields)).unwrap();
        prop_assert!(matches!(oracle_parse(&bytes), backend::Message::NoticeResponse(_)));
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = NoticeResponse::decode(&mut buf, &DecodeContext::default()).unwrap().unwrap();
        prop_assert_eq!(&decoded.fields, &fields);
        let frame = server_frame(&bytes);
        prop_assert_eq!(frame.message_type(), MessageType::NoticeResponse);
        let view = frame.as_ref().error_fields().unwrap();
        prop_assert_eq!(view.fields().unwrap(), borrowed(&fields));
    }

    #[test]
    fn command_complete_parses(tag in text(60)) {
        let bytes = encode::command_complete(&tag).unwrap();
        let backend::Message::CommandComplete(body) = oracle_parse(&bytes) else {
            panic!("not a CommandComplete");
        };
        prop_assert_eq!(body.tag().unwrap(), tag.as_str());
        let frame = server_frame(&bytes);
        prop_assert_eq!(frame.as_ref().command_complete().unwrap().tag().unwrap(), tag.as_bytes());
    }

    #[test]
    fn query_parses_in_pgwire(sql in text(200)) {
        let bytes = encode::query(&sql).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = Query::decode(&mut buf, &tagged_ctx()).unwrap().unwrap();
        prop_assert_eq!(&decoded.query, &sql);
        prop_assert!(buf.is_empty());
        let frame = client_frame(&bytes);
        prop_assert_eq!(frame.as_ref().query().unwrap().text().unwrap(), sql.as_bytes());
    }

    #[test]
    fn execute_parses_in_pgwire(
        portal in prop_oneof![Just(String::new()), ident()],
        max_rows in any::<i32>(),
    ) {
        let bytes = encode::execute(&portal, max_rows).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = Execute::decode(&mut buf, &tagged_ctx()).unwrap().unwrap();
        // pgwire reads the unnamed portal as None.
        prop_assert_eq!(decoded.name.unwrap_or_default(), portal.clone());
        prop_assert_eq!(decoded.max_rows, max_rows);
        let frame = client_frame(&bytes);
        let view = frame.as_ref().execute().unwrap();
        prop_assert_eq!(view.portal().unwrap(), portal.as_bytes());
        prop_assert_eq!(view.max_rows().unwrap(), max_rows);
    }

    #[test]
    fn startup_message_parses_in_pgwire(
        minor in prop_oneof![Just(0u16), Just(2u16)],
        params in btree_map(ident(), text(24), 0..8),
    ) {
        let pairs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let bytes = encode::startup_message(3, minor, &pairs).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = Startup::decode(&mut buf, &startup_ctx(ProtocolVersion::PROTOCOL3_0))
            .unwrap()
            .unwrap();
        prop_assert_eq!(decoded.protocol_number_major, 3);
        prop_assert_eq!(decoded.protocol_number_minor, minor);
        prop_assert_eq!(&decoded.parameters, &params);
        let frame = frame_one(Framer::new(Direction::Frontend), &bytes);
        let code = StartupCode::Protocol { major: 3, minor };
        prop_assert_eq!(frame.kind(), FrameKind::Startup(code));
        let view = frame.as_ref().startup_message().unwrap();
        prop_assert_eq!(view.version(), (3, minor));
        let got: BTreeMap<String, String> = view
            .parameters()
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                let k = String::from_utf8(k.to_vec()).unwrap();
                (k, String::from_utf8(v.to_vec()).unwrap())
            })
            .collect();
        prop_assert_eq!(got, params);
    }

    #[test]
    fn cancel_request_parses_in_pgwire(pid in any::<i32>(), key in any::<[u8; 4]>()) {
        let bytes = encode::cancel_request(pid, &key).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        let ctx = startup_ctx(ProtocolVersion::PROTOCOL3_0);
        let decoded = CancelRequest::decode(&mut buf, &ctx).unwrap().unwrap();
        prop_assert_eq!(decoded.pid, pid);
        prop_assert_eq!(decoded.secret_key, SecretKey::I32(i32::from_be_bytes(key)));
    }
}

#[test]
fn ready_for_query_parses_in_postgres_protocol() {
    for status in [
        TransactionStatus::Idle,
        TransactionStatus::InTransaction,
        TransactionStatus::Failed,
    ] {
        let bytes = encode::ready_for_query(status);
        let backend::Message::ReadyForQuery(body) = oracle_parse(&bytes) else {
            panic!("not a ReadyForQuery");
        };
        assert_eq!(body.status(), status.byte());
        let frame = server_frame(&bytes);
        assert_eq!(
            frame.as_ref().ready_for_query().unwrap().status().unwrap(),
            status
        );
    }
}

/// What a fault proxy injects: `ERROR 40001` reads back as a serialization failure.
#[test]
fn injected_serialization_failure_reads_back() {
    let fields = encode::error_fields("ERROR", "40001", "injected by pgkeel");
    assert_eq!(fields.map(|(k, _)| k), [b'S', b'V', b'C', b'M']);
    let bytes = encode::error_response(&fields).unwrap();
    let mut buf = BytesMut::from(&bytes[..]);
    let decoded = ErrorResponse::decode(&mut buf, &DecodeContext::default())
        .unwrap()
        .unwrap();
    let want: Vec<(u8, String)> = vec![
        (b'S', "ERROR".into()),
        (b'V', "ERROR".into()),
        (b'C', "40001".into()),
        (b'M', "injected by pgkeel".into()),
    ];
    assert_eq!(decoded.fields, want);
    let frame = server_frame(&bytes);
    let view = frame.as_ref().error_fields().unwrap();
    assert_eq!(view.code().unwrap(), Some(&b"40001"[..]));
    assert_eq!(view.severity().unwrap(), Some(&b"ERROR"[..]));
    assert_eq!(view.message().unwrap(), Some(&b"injected by pgkeel"[..]));
}

/// Protocol 3.2: a 32-byte cancel key, as PostgreSQL 18 hands out, through pgwire, our framer
/// and our view.
#[test]
fn cancel_request_with_a_32_byte_key() {
    let key: Vec<u8> = (0u8..32).collect();
    let bytes = encode::cancel_request(31337, &key).unwrap();
    assert_eq!(bytes.len(), 12 + 32);
    assert_eq!(&bytes[4..8], &80_877_102u32.to_be_bytes());
    let mut buf = BytesMut::from(&bytes[..]);
    let ctx = startup_ctx(ProtocolVersion::PROTOCOL3_2);
    let decoded = CancelRequest::decode(&mut buf, &ctx).unwrap().unwrap();
    assert_eq!(decoded.pid, 31337);
    assert_eq!(decoded.secret_key, SecretKey::Bytes(key.clone().into()));
    let frame = frame_one(Framer::new(Direction::Frontend), &bytes);
    assert_eq!(frame.message_type(), MessageType::CancelRequest);
    let view = frame.as_ref().cancel_request().unwrap();
    assert_eq!(view.pid().unwrap(), 31337);
    assert_eq!(view.key().unwrap(), &key[..]);
    // The longest key protocol 3.2 allows still frames.
    let longest = encode::cancel_request(1, &[7; 256]).unwrap();
    let frame = frame_one(Framer::new(Direction::Frontend), &longest);
    assert_eq!(
        frame
            .as_ref()
            .cancel_request()
            .unwrap()
            .key()
            .unwrap()
            .len(),
        256
    );
}

#[test]
fn encryption_requests_parse_in_pgwire() {
    let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    let mut buf = BytesMut::from(&encode::ssl_request()[..]);
    let decoded = PgWireFrontendMessage::decode(&mut buf, &ctx)
        .unwrap()
        .unwrap();
    assert!(matches!(
        decoded,
        PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresSsl(_))
    ));
    assert!(buf.is_empty());
    let mut buf = BytesMut::from(&encode::gssenc_request()[..]);
    let decoded = PgWireFrontendMessage::decode(&mut buf, &ctx)
        .unwrap()
        .unwrap();
    assert!(matches!(
        decoded,
        PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresGss(_))
    ));
    ctx.awaiting_frontend_ssl = false;
    ctx.awaiting_frontend_startup = false;
    let mut buf = BytesMut::from(&[encode::sync(), encode::terminate()].concat()[..]);
    let sync = PgWireFrontendMessage::decode(&mut buf, &ctx)
        .unwrap()
        .unwrap();
    assert!(matches!(sync, PgWireFrontendMessage::Sync(_)));
    let terminate = PgWireFrontendMessage::decode(&mut buf, &ctx)
        .unwrap()
        .unwrap();
    assert!(matches!(terminate, PgWireFrontendMessage::Terminate(_)));
    for (bytes, t) in [
        (encode::ssl_request(), MessageType::SslRequest),
        (encode::gssenc_request(), MessageType::GssEncRequest),
    ] {
        assert_eq!(
            frame_one(Framer::new(Direction::Frontend), &bytes).message_type(),
            t
        );
    }
    assert_eq!(
        client_frame(&encode::sync()).message_type(),
        MessageType::Sync
    );
    assert_eq!(
        client_frame(&encode::terminate()).message_type(),
        MessageType::Terminate
    );
    let mut framer = Framer::new(Direction::Backend);
    framer.expect_encryption_response(false);
    let refused = frame_one(framer, &[encode::ENCRYPTION_REFUSED]);
    assert_eq!(refused.message_type(), MessageType::SslResponse);
}

fn malformed(message: &'static str) -> impl Fn(Result<Vec<u8>, WireError>) {
    move |r| match r {
        Err(WireError::Malformed { message: m, .. }) => assert_eq!(m, message),
        other => panic!("expected Malformed {message}, got {other:?}"),
    }
}

/// A NUL inside a C string, a field type 0, or a key outside 1..=256 would make a frame the
/// server misreads; the encoders refuse them.
#[test]
fn encoders_refuse_what_would_corrupt_a_frame() {
    malformed("Query")(encode::query("SELECT 1\0; DROP TABLE t"));
    malformed("Execute")(encode::execute("p\0", 0));
    malformed("CommandComplete")(encode::command_complete("SELECT\0 1"));
    malformed("ErrorResponse")(encode::error_response(&[(b'M', b"a\0b")]));
    malformed("ErrorResponse")(encode::error_response(&[(0, b"terminator")]));
    malformed("NoticeResponse")(encode::notice_response(&[(b'M', b"\0")]));
    malformed("StartupMessage")(encode::startup_message(3, 0, &[("user\0", "u")]));
    malformed("StartupMessage")(encode::startup_message(3, 0, &[("user", "u\0")]));
    malformed("CancelRequest")(encode::cancel_request(1, &[]));
    malformed("CancelRequest")(encode::cancel_request(1, &[0; 257]));
}

/// An empty parameter name is the startup packet's terminator: encoding one would make the
/// server stop reading there and reject the packet ("expected terminator as last byte").
#[test]
fn startup_message_refuses_an_empty_parameter_name() {
    malformed("StartupMessage")(encode::startup_message(3, 0, &[("", "x"), ("user", "u")]));
}

/// The server and our framer reject startup packets above 10000 bytes; the encoder refuses to
/// write one, and what it accepts always frames.
#[test]
fn startup_message_fits_the_startup_packet_limit() {
    let big = "x".repeat(10_000);
    malformed("StartupMessage")(encode::startup_message(3, 0, &[("options", &big)]));
    // The largest that fits: 8 header bytes + "options\0" + value + "\0" + final "\0".
    let value = "x".repeat(10_000 - 8 - 8 - 1 - 1);
    let bytes = encode::startup_message(3, 0, &[("options", &value)]).unwrap();
    assert_eq!(bytes.len(), 10_000);
    let frame = frame_one(Framer::new(Direction::Frontend), &bytes);
    let view = frame.as_ref().startup_message().unwrap();
    assert_eq!(view.parameter("options").unwrap(), Some(value.as_bytes()));
    malformed("StartupMessage")(encode::startup_message(
        3,
        0,
        &[("options", &format!("{value}x"))],
    ));
}

#[test]
fn tagged_builds_any_message() {
    let bytes = encode::tagged(b'd', b"payload").unwrap();
    assert_eq!(bytes, b"d\0\0\0\x0bpayload");
    let frame = server_frame(&bytes);
    assert_eq!(frame.as_ref().copy_data().unwrap().data(), b"payload");
}
