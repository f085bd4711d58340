//! Client messages encoded by `postgres_protocol` (the encoder tokio-postgres uses) read back
//! through our framer and views with the same fields.

use std::collections::BTreeMap;

use bytes::BytesMut;
use pgkeel_wire::message::TargetKind;
use pgkeel_wire::{Direction, FrameKind, Framer, MessageType, StartupCode};
use postgres_protocol::message::frontend;
use proptest::collection::btree_map;
use proptest::prelude::*;

use crate::backend_messages::BeMsg;
use crate::frontend_messages::{FeMsg, fe_msg, ident, text};
use crate::support::{client_frame, frame_one, server_frame};

fn startup_bytes(params: &BTreeMap<String, String>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let params = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    frontend::startup_message(params, &mut buf).unwrap();
    buf.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_client_message_reads_back(m in fe_msg()) {
        let frame = client_frame(&m.to_bytes());
        m.check(frame.as_ref());
    }

    #[test]
    fn startup_parameters_read_back_in_order(params in btree_map(ident(), text(24), 0..8)) {
        let bytes = startup_bytes(&params);
        let frame = frame_one(Framer::new(Direction::Frontend), &bytes);
        let startup_30 = StartupCode::Protocol { major: 3, minor: 0 };
        prop_assert_eq!(frame.kind(), FrameKind::Startup(startup_30));
        prop_assert_eq!(frame.message_type(), MessageType::StartupMessage);
        let view = frame.as_ref().startup_message().unwrap();
        prop_assert_eq!(view.version(), (3, 0));
        let want: Vec<(&[u8], &[u8])> =
            params.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        prop_assert_eq!(view.parameters().unwrap(), want);
        for (k, v) in &params {
            prop_assert_eq!(view.parameter(k).unwrap(), Some(v.as_bytes()));
        }
        prop_assert_eq!(view.parameter("no such parameter").unwrap(), None);
    }

    #[test]
    fn cancel_request_reads_back(pid in any::<i32>(), key in any::<i32>()) {
        let mut buf = BytesMut::new();
        frontend::cancel_request(pid, key, &mut buf);
        let mut framer = Framer::new(Direction::Frontend);
        let frame = frame_one(framer.clone(), &buf);
        prop_assert_eq!(frame.kind(), FrameKind::Startup(StartupCode::Cancel));
        prop_assert_eq!(frame.message_type(), MessageType::CancelRequest);
        let view = frame.as_ref().cancel_request().unwrap();
        prop_assert_eq!(view.pid().unwrap(), pid);
        prop_assert_eq!(view.key().unwrap(), &key.to_be_bytes()[..]);
        // A cancel packet is the whole conversation; the framer still expects a startup.
        framer.next_frame(&buf).unwrap().unwrap();
        prop_assert!(framer.expects_startup());
    }
}

#[test]
fn ssl_request_keeps_the_client_in_the_startup_phase() {
    let mut ssl = BytesMut::new();
    frontend::ssl_request(&mut ssl);
    assert_eq!(&ssl[..], &pgkeel_wire::encode::ssl_request()[..]);
    let mut framer = Framer::new(Direction::Frontend);
    let header = framer.next_frame(&ssl).unwrap().unwrap();
    assert_eq!(header.kind, FrameKind::Startup(StartupCode::Ssl));
    assert_eq!(header.len, 8);
    assert!(
        framer.expects_startup(),
        "after 'N' the client sends its startup packet"
    );
    let mut startup = BytesMut::new();
    frontend::startup_message([("user", "alice"), ("database", "app")], &mut startup).unwrap();
    let header = framer.next_frame(&startup).unwrap().unwrap();
    assert_eq!(
        header.kind,
        FrameKind::Startup(StartupCode::Protocol { major: 3, minor: 0 })
    );
    assert!(!framer.expects_startup());
    let mut query = BytesMut::new();
    frontend::query("SELECT 1", &mut query).unwrap();
    let header = framer.next_frame(&query).unwrap().unwrap();
    assert_eq!(header.kind, FrameKind::Tagged(b'Q'));
}

#[test]
fn extended_query_pipeline_reads_back() {
    let messages = [
        FeMsg::Parse {
            name: "s1".into(),
            query: "SELECT $1::int + $2".into(),
            types: vec![23, 0],
        },
        FeMsg::Bind {
            portal: "p1".into(),
            statement: "s1".into(),
            formats: vec![1],
            values: vec![Some(7i32.to_be_bytes().to_vec()), None],
            results: vec![0],
        },
        FeMsg::Describe {
            variant: b'P',
            name: "p1".into(),
        },
        FeMsg::Execute {
            portal: "p1".into(),
            max_rows: 100,
        },
        FeMsg::Close {
            variant: b'S',
            name: "s1".into(),
        },
        FeMsg::Sync,
    ];
    let mut buf = BytesMut::new();
    for m in &messages {
        m.encode(&mut buf);
    }
    let framed =
        crate::invariants::decode_chunked(crate::support::started_client(), &buf, &[], &[]);
    assert_eq!(framed.end, Ok(0));
    let names: Vec<&str> = framed
        .frames
        .iter()
        .map(|f| f.message_type().name())
        .collect();
    assert_eq!(
        names,
        ["Parse", "Bind", "Describe", "Execute", "Close", "Sync"]
    );
    for (m, f) in messages.iter().zip(&framed.frames) {
        m.check(f.as_ref());
    }
    let bind = framed.frames[1].as_ref();
    let params = bind.bind().unwrap().parameters().unwrap();
    assert_eq!(params, [Some(&[0, 0, 0, 7][..]), None]);
    let close = framed.frames[4].as_ref();
    assert_eq!(
        close.target().unwrap().kind().unwrap(),
        TargetKind::Statement
    );
}

#[test]
fn unnamed_statement_and_portal_have_empty_names() {
    let mut buf = BytesMut::new();
    frontend::describe(b'S', "", &mut buf).unwrap();
    let frame = client_frame(&buf);
    let target = frame.as_ref().target().unwrap();
    assert_eq!(target.kind().unwrap(), TargetKind::Statement);
    assert_eq!(target.name().unwrap(), b"");
    let mut buf = BytesMut::new();
    frontend::execute("", 0, &mut buf).unwrap();
    let frame = client_frame(&buf);
    let execute = frame.as_ref().execute().unwrap();
    assert_eq!(execute.portal().unwrap(), b"");
    assert_eq!(execute.max_rows().unwrap(), 0);
}

/// The client's 'p' is named from the last authentication request of the server: a SCRAM
/// exchange is SASLInitialResponse then SASLResponse; after a cleartext request, a password.
#[test]
fn password_family_is_named_by_the_auth_exchange() {
    let server = [
        BeMsg::AuthSasl(vec!["SCRAM-SHA-256".into()]),
        BeMsg::AuthSaslContinue(b"r=abc,s=c2FsdA==,i=4096".to_vec()),
        BeMsg::AuthCleartext,
    ];
    let mut client = Vec::new();
    let mut buf = BytesMut::new();
    frontend::sasl_initial_response("SCRAM-SHA-256", b"n,,n=,r=abc", &mut buf).unwrap();
    client.push(buf.split().to_vec());
    frontend::sasl_response(b"c=biws,r=abc,p=proof", &mut buf).unwrap();
    client.push(buf.split().to_vec());
    frontend::password_message(b"secret", &mut buf).unwrap();
    client.push(buf.split().to_vec());
    let want = [
        MessageType::SaslInitialResponse,
        MessageType::SaslResponse,
        MessageType::PasswordMessage,
    ];
    for ((request, response), want) in server.iter().zip(&client).zip(want) {
        let last_auth = server_frame(&request.to_bytes()).message_type();
        assert!(last_auth.is_authentication());
        let frame = client_frame(response);
        assert_eq!(frame.message_type(), MessageType::PasswordMessage);
        assert_eq!(frame.message_type().refine_password(Some(last_auth)), want);
    }
}

#[test]
fn copy_in_messages_read_back() {
    let mut buf = BytesMut::new();
    frontend::CopyData::new(&b"1\tone\n"[..])
        .unwrap()
        .write(&mut buf);
    let frame = client_frame(&buf.split());
    assert_eq!(frame.message_type(), MessageType::CopyData);
    assert_eq!(frame.as_ref().copy_data().unwrap().data(), b"1\tone\n");
    frontend::copy_done(&mut buf);
    assert_eq!(
        client_frame(&buf.split()).message_type(),
        MessageType::CopyDone
    );
    frontend::copy_fail("client gave up", &mut buf).unwrap();
    let frame = client_frame(&buf.split());
    assert_eq!(frame.message_type(), MessageType::CopyFail);
    assert_eq!(frame.as_ref().body(), b"client gave up\0");
    frontend::terminate(&mut buf);
    assert_eq!(
        client_frame(&buf.split()).message_type(),
        MessageType::Terminate
    );
}
