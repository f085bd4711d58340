//! Random client messages encoded by the oracle (`postgres_protocol::message::frontend`), with
//! the message type and fields our views must read back from them.

use bytes::BytesMut;
use pgkeel_wire::message::TargetKind;
use pgkeel_wire::{FrameRef, MessageType};
use postgres_protocol::IsNull;
use postgres_protocol::message::frontend;
use proptest::collection::vec;
use proptest::prelude::*;

/// A client message after the startup packet.
#[derive(Debug, Clone)]
pub(crate) enum FeMsg {
    Query(String),
    Parse {
        name: String,
        query: String,
        types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        formats: Vec<i16>,
        values: Vec<Option<Vec<u8>>>,
        results: Vec<i16>,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Describe {
        variant: u8,
        name: String,
    },
    Close {
        variant: u8,
        name: String,
    },
    Sync,
    Flush,
    CopyData(Vec<u8>),
    CopyDone,
    CopyFail(String),
    Terminate,
    Password(Vec<u8>),
    SaslInitial {
        mechanism: String,
        data: Vec<u8>,
    },
    SaslResponse(Vec<u8>),
}

/// Text without NUL bytes (any other Unicode scalar value).
pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\x00]{{0,{max}}}")).expect("valid regex")
}

/// A plausible identifier.
pub(crate) fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,15}"
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn no_nul_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..=max)
}

fn variant() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'S'), Just(b'P')]
}

/// Any client message of the tagged phase.
pub(crate) fn fe_msg() -> impl Strategy<Value = FeMsg> {
    prop_oneof![
        3 => text(64).prop_map(FeMsg::Query),
        2 => (prop_oneof![Just(String::new()), ident()], text(64), vec(any::<u32>(), 0..6))
            .prop_map(|(name, query, types)| FeMsg::Parse { name, query, types }),
        2 => (
            prop_oneof![Just(String::new()), ident()],
            prop_oneof![Just(String::new()), ident()],
            vec(0i16..=1, 0..4),
            vec(proptest::option::of(bytes(40)), 0..6),
            vec(0i16..=1, 0..4),
        )
            .prop_map(|(portal, statement, formats, values, results)| FeMsg::Bind {
                portal,
                statement,
                formats,
                values,
                results,
            }),
        2 => (prop_oneof![Just(String::new()), ident()], any::<i32>())
            .prop_map(|(portal, max_rows)| FeMsg::Execute { portal, max_rows }),
        1 => (variant(), ident()).prop_map(|(variant, name)| FeMsg::Describe { variant, name }),
        1 => (variant(), ident()).prop_map(|(variant, name)| FeMsg::Close { variant, name }),
        2 => Just(FeMsg::Sync),
        1 => Just(FeMsg::Flush),
        2 => bytes(300).prop_map(FeMsg::CopyData),
        1 => Just(FeMsg::CopyDone),
        1 => text(40).prop_map(FeMsg::CopyFail),
        1 => Just(FeMsg::Terminate),
        1 => no_nul_bytes(40).prop_map(FeMsg::Password),
        1 => (prop_oneof![Just("SCRAM-SHA-256".to_owned()), ident()], bytes(60))
            .prop_map(|(mechanism, data)| FeMsg::SaslInitial { mechanism, data }),
        1 => bytes(60).prop_map(FeMsg::SaslResponse),
    ]
}

impl FeMsg {
    /// Appends the message as `postgres_protocol` encodes it.
    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        match self {
            FeMsg::Query(sql) => frontend::query(sql, buf).expect("query"),
            FeMsg::Parse { name, query, types } => {
                frontend::parse(name, query, types.iter().copied(), buf).expect("parse");
            }
            FeMsg::Bind {
                portal,
                statement,
                formats,
                values,
                results,
            } => {
                let done = frontend::bind(
                    portal,
                    statement,
                    formats.iter().copied(),
                    values.iter(),
                    |value, buf| match value {
                        Some(v) => {
                            buf.extend_from_slice(v);
                            Ok(IsNull::No)
                        }
                        None => Ok(IsNull::Yes),
                    },
                    results.iter().copied(),
                    buf,
                );
                assert!(done.is_ok(), "bind encodes");
            }
            FeMsg::Execute { portal, max_rows } => {
                frontend::execute(portal, *max_rows, buf).expect("execute");
            }
            FeMsg::Describe { variant, name } => {
                frontend::describe(*variant, name, buf).expect("describe");
            }
            FeMsg::Close { variant, name } => frontend::close(*variant, name, buf).expect("close"),
            FeMsg::Sync => frontend::sync(buf),
            FeMsg::Flush => frontend::flush(buf),
            FeMsg::CopyData(data) => frontend::CopyData::new(&data[..])
                .expect("copy data")
                .write(buf),
            FeMsg::CopyDone => frontend::copy_done(buf),
            FeMsg::CopyFail(message) => frontend::copy_fail(message, buf).expect("copy fail"),
            FeMsg::Terminate => frontend::terminate(buf),
            FeMsg::Password(password) => {
                frontend::password_message(password, buf).expect("password");
            }
            FeMsg::SaslInitial { mechanism, data } => {
                frontend::sasl_initial_response(mechanism, data, buf).expect("sasl initial");
            }
            FeMsg::SaslResponse(data) => frontend::sasl_response(data, buf).expect("sasl"),
        }
    }

    /// The encoded bytes alone.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.to_vec()
    }

    /// The type our framer must report (every 'p' is a `PasswordMessage` until refined).
    pub(crate) fn message_type(&self) -> MessageType {
        match self {
            FeMsg::Query(_) => MessageType::Query,
            FeMsg::Parse { .. } => MessageType::Parse,
            FeMsg::Bind { .. } => MessageType::Bind,
            FeMsg::Execute { .. } => MessageType::Execute,
            FeMsg::Describe { .. } => MessageType::Describe,
            FeMsg::Close { .. } => MessageType::Close,
            FeMsg::Sync => MessageType::Sync,
            FeMsg::Flush => MessageType::Flush,
            FeMsg::CopyData(_) => MessageType::CopyData,
            FeMsg::CopyDone => MessageType::CopyDone,
            FeMsg::CopyFail(_) => MessageType::CopyFail,
            FeMsg::Terminate => MessageType::Terminate,
            FeMsg::Password(_) | FeMsg::SaslInitial { .. } | FeMsg::SaslResponse(_) => {
                MessageType::PasswordMessage
            }
        }
    }

    /// Asserts that our views read back the fields that were encoded.
    pub(crate) fn check(&self, frame: FrameRef<'_>) {
        assert_eq!(frame.message_type(), self.message_type(), "{self:?}");
        let body = frame.body();
        match self {
            FeMsg::Query(sql) => assert_eq!(frame.query().unwrap().text().unwrap(), sql.as_bytes()),
            FeMsg::Parse { name, query, types } => {
                let p = frame.parse().unwrap();
                assert_eq!(p.statement().unwrap(), name.as_bytes());
                assert_eq!(p.query().unwrap(), query.as_bytes());
                assert_eq!(&p.parameter_types().unwrap(), types);
            }
            FeMsg::Bind {
                portal,
                statement,
                values,
                ..
            } => {
                let b = frame.bind().unwrap();
                assert_eq!(b.portal().unwrap(), portal.as_bytes());
                assert_eq!(b.statement().unwrap(), statement.as_bytes());
                let expected: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
                assert_eq!(b.parameters().unwrap(), expected);
            }
            FeMsg::Execute { portal, max_rows } => {
                let e = frame.execute().unwrap();
                assert_eq!(e.portal().unwrap(), portal.as_bytes());
                assert_eq!(e.max_rows().unwrap(), *max_rows);
            }
            FeMsg::Describe { variant, name } | FeMsg::Close { variant, name } => {
                let t = frame.target().unwrap();
                assert_eq!(t.kind_byte().unwrap(), *variant);
                let kind = if *variant == b'S' {
                    TargetKind::Statement
                } else {
                    TargetKind::Portal
                };
                assert_eq!(t.kind().unwrap(), kind);
                assert_eq!(t.name().unwrap(), name.as_bytes());
            }
            FeMsg::Sync | FeMsg::Flush | FeMsg::CopyDone | FeMsg::Terminate => {
                assert!(body.is_empty());
            }
            FeMsg::CopyData(data) => {
                let c = frame.copy_data().unwrap();
                assert_eq!(c.data(), &data[..]);
                assert_eq!(c.sub_tag(), data.first().copied());
            }
            FeMsg::CopyFail(message) => assert_eq!(body, [message.as_bytes(), b"\0"].concat()),
            FeMsg::Password(password) => assert_eq!(body, [&password[..], b"\0"].concat()),
            FeMsg::SaslInitial { mechanism, data } => {
                let t = frame.message_type();
                let refined = t.refine_password(Some(MessageType::AuthenticationSasl));
                assert_eq!(refined, MessageType::SaslInitialResponse);
                let len = (data.len() as i32).to_be_bytes();
                assert_eq!(body, [mechanism.as_bytes(), b"\0", &len, data].concat());
            }
            FeMsg::SaslResponse(data) => {
                let t = frame.message_type();
                let refined = t.refine_password(Some(MessageType::AuthenticationSaslContinue));
                assert_eq!(refined, MessageType::SaslResponse);
                assert_eq!(body, &data[..]);
            }
        }
    }
}
