//! Views over malformed bodies answer with errors: C strings without their NUL, counts that
//! promise more than the body holds, an ErrorResponse without its terminator, and frames of
//! another message type.

use pgkeel_wire::{
    Direction, FrameKind, FrameRef, Framer, MessageType, StartupCode, WireError, encode,
};

use crate::support::{client_frame, server_frame};

#[test]
fn truncated_c_strings_in_views_are_errors() {
    let missing_nul = |tag: u8, body: &[u8]| encode::tagged(tag, body).unwrap();
    let query = client_frame(&missing_nul(b'Q', b"SELECT 1"));
    assert!(matches!(
        query.as_ref().query().unwrap().text(),
        Err(WireError::Malformed {
            message: "Query",
            ..
        })
    ));
    let parse = client_frame(&missing_nul(b'P', b"stmt\0SELECT"));
    let view = parse.as_ref().parse().unwrap();
    assert_eq!(view.statement().unwrap(), b"stmt");
    assert!(view.query().is_err());
    assert!(view.parameter_types().is_err());
    let parse = client_frame(&missing_nul(b'P', b"s\0q\0\0\x02\0\0\0\x17"));
    assert!(
        parse.as_ref().parse().unwrap().parameter_types().is_err(),
        "2 types declared, 1 sent"
    );
    let bind = client_frame(&missing_nul(b'B', b"portal\0stmt\0\0\0\0\x01\0\0\0\x10abc"));
    let view = bind.as_ref().bind().unwrap();
    assert_eq!(view.statement().unwrap(), b"stmt");
    assert!(
        view.parameters().is_err(),
        "a 16-byte value with 3 bytes sent"
    );
    let execute = client_frame(&missing_nul(b'E', b"portal\0\0\0"));
    assert!(execute.as_ref().execute().unwrap().max_rows().is_err());
    let describe = client_frame(&missing_nul(b'D', b"Sname"));
    assert!(describe.as_ref().target().unwrap().name().is_err());
    let describe = client_frame(&missing_nul(b'D', b""));
    assert!(describe.as_ref().target().unwrap().kind().is_err());
    let describe = client_frame(&missing_nul(b'D', b"X\0"));
    assert!(describe.as_ref().target().unwrap().kind().is_err());
    assert_eq!(
        describe.as_ref().target().unwrap().kind_byte().unwrap(),
        b'X'
    );
    let status = server_frame(&missing_nul(b'S', b"TimeZone\0UTC"));
    let view = status.as_ref().parameter_status().unwrap();
    assert_eq!(view.name().unwrap(), b"TimeZone");
    assert!(view.value().is_err());
    let complete = server_frame(&missing_nul(b'C', b"SELECT 1"));
    assert!(complete.as_ref().command_complete().unwrap().tag().is_err());
    assert!(
        complete
            .as_ref()
            .command_complete()
            .unwrap()
            .rows()
            .is_err()
    );
    let notify = server_frame(&missing_nul(b'A', b"\0\0\0\x01chan\0payload"));
    let view = notify.as_ref().notification().unwrap();
    assert_eq!(view.pid().unwrap(), 1);
    assert_eq!(view.channel().unwrap(), b"chan");
    assert!(view.payload().is_err());
    let sasl = server_frame(&missing_nul(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0"));
    assert!(
        sasl.as_ref()
            .authentication()
            .unwrap()
            .sasl_mechanisms()
            .is_err(),
        "no empty name"
    );
    let key = server_frame(&missing_nul(b'K', b"\0\0\0\x01"));
    assert!(
        key.as_ref().backend_key_data().unwrap().key().is_err(),
        "an empty key"
    );
    let key = server_frame(&missing_nul(b'K', &[0; 4 + 257]));
    assert!(
        key.as_ref().backend_key_data().unwrap().key().is_err(),
        "a 257-byte key"
    );
    let ready = server_frame(&missing_nul(b'Z', b""));
    assert!(ready.as_ref().ready_for_query().is_err());
    let ready = server_frame(&missing_nul(b'Z', b"X"));
    assert!(ready.as_ref().ready_for_query().unwrap().status().is_err());
    let startup = [&12u32.to_be_bytes()[..], &196_608u32.to_be_bytes(), b"user"].concat();
    let frame = crate::support::frame_one(Framer::new(Direction::Frontend), &startup);
    assert!(
        frame
            .as_ref()
            .startup_message()
            .unwrap()
            .parameters()
            .is_err()
    );
    // A CancelRequest view over a pid cut short (built by hand; the framer refuses it).
    let cancel = [
        &10u32.to_be_bytes()[..],
        &80_877_102u32.to_be_bytes(),
        &[0, 0],
    ]
    .concat();
    let kind = FrameKind::Startup(StartupCode::Cancel);
    let view = FrameRef::new(Direction::Frontend, kind, &cancel);
    assert!(view.cancel_request().unwrap().pid().is_err());
    assert!(view.cancel_request().unwrap().key().is_err());
}

#[test]
fn error_response_without_terminator_is_an_error() {
    for body in [&b""[..], b"SERROR\0C40001\0", b"SERROR", b"M\0\0trailing"] {
        let frame = server_frame(&encode::tagged(b'E', body).unwrap());
        let view = frame.as_ref().error_fields().unwrap();
        assert!(!view.is_well_formed(), "{body:?}");
        if !body.ends_with(b"\0\0trailing") {
            assert!(matches!(
                view.fields(),
                Err(WireError::Malformed {
                    message: "ErrorResponse",
                    ..
                })
            ));
            assert!(view.code().is_err());
            assert!(view.severity().is_err());
            assert!(view.message().is_err());
        }
    }
}

#[test]
fn views_refuse_frames_of_another_type() {
    let query = client_frame(&encode::query("SELECT 1").unwrap());
    let q = query.as_ref();
    assert!(q.parse().is_err());
    assert!(q.execute().is_err());
    assert!(q.error_fields().is_err());
    assert!(q.authentication().is_err());
    assert!(q.startup_message().is_err());
    // 'E' from the client is Execute, from the server ErrorResponse.
    let execute = encode::execute("", 0).unwrap();
    let as_client = client_frame(&execute);
    assert!(as_client.as_ref().execute().is_ok());
    assert!(as_client.as_ref().error_fields().is_err());
    let as_server = server_frame(&execute);
    assert!(as_server.as_ref().execute().is_err());
    assert!(as_server.as_ref().error_fields().is_ok());
    // 'R' from the client is not an authentication request.
    let r = FrameRef::new(
        Direction::Frontend,
        FrameKind::Tagged(b'R'),
        b"R\0\0\0\x08\0\0\0\0",
    );
    assert_eq!(r.message_type(), MessageType::Unknown);
    assert!(r.authentication().is_err());
}
