//! Random server messages encoded by the oracle (`pgwire::messages`), with the message type
//! and fields our views must read back from them. DataRow and RowDescription are also read by
//! a second oracle (`postgres_protocol`'s backend parser), value by value and field by field.

use bytes::{Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use pgkeel_wire::message::{Field, TransactionStatus};
use pgkeel_wire::{FrameRef, MessageType};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{
    CopyBothResponse, CopyData, CopyDone, CopyInResponse, CopyOutResponse,
};
use pgwire::messages::data::{
    DataRow, FieldDescription, NoData, ParameterDescription, RowDescription,
};
use pgwire::messages::extendedquery::{
    BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::response::{
    self, CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse, NotificationResponse,
    ReadyForQuery,
};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus, SecretKey,
};
use postgres_protocol::message::backend;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::frontend_messages::{ident, text};

/// The secret key of a BackendKeyData: an int4 (protocol 3.0) or 4..=256 bytes (3.2).
#[derive(Debug, Clone)]
pub(crate) enum Key {
    I32(i32),
    Bytes(Vec<u8>),
}

impl Key {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match self {
            Key::I32(k) => k.to_be_bytes().to_vec(),
            Key::Bytes(b) => b.clone(),
        }
    }
}

/// One column of a RowDescription, every field as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) table_oid: u32,
    pub(crate) column: i16,
    pub(crate) type_oid: u32,
    pub(crate) type_len: i16,
    pub(crate) type_modifier: i32,
    pub(crate) format: i16,
}

impl Column {
    /// The column our view read (a name that is not UTF-8 gets replacement characters, so it
    /// cannot equal one that was sent).
    pub(crate) fn from_field(f: Field<'_>) -> Self {
        Column {
            name: String::from_utf8_lossy(f.name).into_owned(),
            table_oid: f.table_oid,
            column: f.column,
            type_oid: f.type_oid,
            type_len: f.type_len,
            type_modifier: f.type_modifier,
            format: f.format,
        }
    }

    /// A column of type int4 from no table.
    pub(crate) fn int4(name: &str) -> Self {
        Column {
            name: name.to_owned(),
            table_oid: 0,
            column: 0,
            type_oid: 23,
            type_len: 4,
            type_modifier: -1,
            format: 0,
        }
    }
}

/// Any column: any name without NUL, every number over its whole range.
pub(crate) fn column() -> impl Strategy<Value = Column> {
    (
        prop_oneof![ident(), text(30)],
        any::<u32>(),
        any::<i16>(),
        any::<u32>(),
        any::<i16>(),
        any::<i32>(),
        prop_oneof![0i16..=1, any::<i16>()],
    )
        .prop_map(
            |(name, table_oid, column, type_oid, type_len, type_modifier, format)| Column {
                name,
                table_oid,
                column,
                type_oid,
                type_len,
                type_modifier,
                format,
            },
        )
}

/// The values of any row: NULLs, empty values and binary bytes, and rows of no columns.
pub(crate) fn row_values() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    vec(proptest::option::of(vec(any::<u8>(), 0..40)), 0..6)
}

/// A server message.
#[derive(Debug, Clone)]
pub(crate) enum BeMsg {
    AuthOk,
    AuthCleartext,
    AuthKerberos,
    AuthMd5([u8; 4]),
    AuthSasl(Vec<String>),
    AuthSaslContinue(Vec<u8>),
    AuthSaslFinal(Vec<u8>),
    ParameterStatus {
        name: String,
        value: String,
    },
    BackendKeyData {
        pid: i32,
        key: Key,
    },
    NegotiateProtocolVersion {
        newest: i32,
        options: Vec<String>,
    },
    ParseComplete,
    BindComplete,
    CloseComplete,
    PortalSuspended,
    NoData,
    EmptyQuery,
    CommandComplete(String),
    ReadyForQuery(u8),
    Error(Vec<(u8, String)>),
    Notice(Vec<(u8, String)>),
    Notification {
        pid: i32,
        channel: String,
        payload: String,
    },
    ParameterDescription(Vec<u32>),
    RowDescription(Vec<Column>),
    DataRow(Vec<Option<Vec<u8>>>),
    CopyData(Vec<u8>),
    CopyDone,
    CopyIn(Vec<i16>),
    CopyOut(Vec<i16>),
    CopyBoth(Vec<i16>),
}

/// The field types PostgreSQL sends in ErrorResponse/NoticeResponse.
const FIELD_TYPES: &[u8] = b"SVCMDHPpqWstcdnFLR";

fn error_fields() -> impl Strategy<Value = Vec<(u8, String)>> {
    vec((prop::sample::select(FIELD_TYPES), text(40)), 0..8)
}

fn command_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|n| format!("SELECT {n}")),
        any::<u32>().prop_map(|n| format!("INSERT 0 {n}")),
        any::<u32>().prop_map(|n| format!("UPDATE {n}")),
        Just("COMMIT".to_owned()),
        Just("CREATE TABLE".to_owned()),
        text(30),
    ]
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any::<i32>().prop_map(Key::I32),
        // PostgreSQL 18 sends 32 bytes.
        vec(any::<u8>(), 32).prop_map(Key::Bytes),
        vec(any::<u8>(), 4..=256).prop_map(Key::Bytes),
    ]
}

/// Any server message of the tagged phase.
pub(crate) fn be_msg() -> impl Strategy<Value = BeMsg> {
    prop_oneof![
        1 => Just(BeMsg::AuthOk),
        1 => Just(BeMsg::AuthCleartext),
        1 => Just(BeMsg::AuthKerberos),
        1 => any::<[u8; 4]>().prop_map(BeMsg::AuthMd5),
        1 => vec(prop_oneof![Just("SCRAM-SHA-256".to_owned()),
                Just("SCRAM-SHA-256-PLUS".to_owned()), ident()], 1..3)
            .prop_map(BeMsg::AuthSasl),
        1 => vec(any::<u8>(), 0..80).prop_map(BeMsg::AuthSaslContinue),
        1 => vec(any::<u8>(), 0..80).prop_map(BeMsg::AuthSaslFinal),
        2 => (ident(), text(30)).prop_map(|(name, value)| BeMsg::ParameterStatus { name, value }),
        1 => (any::<i32>(), key()).prop_map(|(pid, key)| BeMsg::BackendKeyData { pid, key }),
        1 => (0i32..=2, vec("_pq_\\.[a-z_]{1,10}", 0..3))
            .prop_map(|(newest, options)| BeMsg::NegotiateProtocolVersion { newest, options }),
        1 => Just(BeMsg::ParseComplete),
        1 => Just(BeMsg::BindComplete),
        1 => Just(BeMsg::CloseComplete),
        1 => Just(BeMsg::PortalSuspended),
        1 => Just(BeMsg::NoData),
        1 => Just(BeMsg::EmptyQuery),
        3 => command_tag().prop_map(BeMsg::CommandComplete),
        3 => prop::sample::select(&b"ITE"[..]).prop_map(BeMsg::ReadyForQuery),
        2 => error_fields().prop_map(BeMsg::Error),
        1 => error_fields().prop_map(BeMsg::Notice),
        1 => (any::<i32>(), ident(), text(60))
            .prop_map(|(pid, channel, payload)| BeMsg::Notification { pid, channel, payload }),
        1 => vec(any::<u32>(), 0..5).prop_map(BeMsg::ParameterDescription),
        2 => vec(column(), 0..5).prop_map(BeMsg::RowDescription),
        4 => row_values().prop_map(BeMsg::DataRow),
        3 => vec(any::<u8>(), 0..600).prop_map(BeMsg::CopyData),
        1 => Just(BeMsg::CopyDone),
        1 => vec(0i16..=1, 0..4).prop_map(BeMsg::CopyIn),
        1 => vec(0i16..=1, 0..4).prop_map(BeMsg::CopyOut),
        1 => vec(0i16..=1, 0..4).prop_map(BeMsg::CopyBoth),
    ]
}

fn status(byte: u8) -> response::TransactionStatus {
    match byte {
        b'T' => response::TransactionStatus::Transaction,
        b'E' => response::TransactionStatus::Error,
        _ => response::TransactionStatus::Idle,
    }
}

fn data_row(values: &[Option<Vec<u8>>]) -> DataRow {
    let mut data = BytesMut::new();
    for value in values {
        match value {
            Some(v) => {
                data.extend_from_slice(&(v.len() as i32).to_be_bytes());
                data.extend_from_slice(v);
            }
            None => data.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    DataRow::new(data, values.len() as i16)
}

impl BeMsg {
    /// The message as a `pgwire` backend message.
    pub(crate) fn to_pgwire(&self) -> PgWireBackendMessage {
        use PgWireBackendMessage as M;
        match self.clone() {
            BeMsg::AuthOk => M::Authentication(Authentication::Ok),
            BeMsg::AuthCleartext => M::Authentication(Authentication::CleartextPassword),
            BeMsg::AuthKerberos => M::Authentication(Authentication::KerberosV5),
            BeMsg::AuthMd5(salt) => M::Authentication(Authentication::MD5Password(salt.to_vec())),
            BeMsg::AuthSasl(m) => M::Authentication(Authentication::SASL(m)),
            BeMsg::AuthSaslContinue(d) => {
                M::Authentication(Authentication::SASLContinue(Bytes::from(d)))
            }
            BeMsg::AuthSaslFinal(d) => M::Authentication(Authentication::SASLFinal(Bytes::from(d))),
            BeMsg::ParameterStatus { name, value } => {
                M::ParameterStatus(ParameterStatus::new(name, value))
            }
            BeMsg::BackendKeyData { pid, key } => {
                let secret_key = match key {
                    Key::I32(k) => SecretKey::I32(k),
                    Key::Bytes(b) => SecretKey::Bytes(Bytes::from(b)),
                };
                M::BackendKeyData(BackendKeyData::new(pid, secret_key))
            }
            BeMsg::NegotiateProtocolVersion { newest, options } => {
                M::NegotiateProtocolVersion(NegotiateProtocolVersion::new(newest, options))
            }
            BeMsg::ParseComplete => M::ParseComplete(ParseComplete::new()),
            BeMsg::BindComplete => M::BindComplete(BindComplete::new()),
            BeMsg::CloseComplete => M::CloseComplete(CloseComplete::new()),
            BeMsg::PortalSuspended => M::PortalSuspended(PortalSuspended::new()),
            BeMsg::NoData => M::NoData(NoData::new()),
            BeMsg::EmptyQuery => M::EmptyQueryResponse(EmptyQueryResponse::new()),
            BeMsg::CommandComplete(tag) => M::CommandComplete(CommandComplete::new(tag)),
            BeMsg::ReadyForQuery(s) => M::ReadyForQuery(ReadyForQuery::new(status(s))),
            BeMsg::Error(fields) => M::ErrorResponse(ErrorResponse::new(fields)),
            BeMsg::Notice(fields) => M::NoticeResponse(NoticeResponse::new(fields)),
            BeMsg::Notification {
                pid,
                channel,
                payload,
            } => M::NotificationResponse(NotificationResponse::new(pid, channel, payload)),
            BeMsg::ParameterDescription(types) => {
                M::ParameterDescription(ParameterDescription::new(types))
            }
            BeMsg::RowDescription(columns) => M::RowDescription(RowDescription::new(
                columns
                    .into_iter()
                    .map(|c| {
                        FieldDescription::new(
                            c.name,
                            c.table_oid as i32, // pgwire keeps the OID as int4 bits
                            c.column,
                            c.type_oid,
                            c.type_len,
                            c.type_modifier,
                            c.format,
                        )
                    })
                    .collect(),
            )),
            BeMsg::DataRow(values) => M::DataRow(data_row(&values)),
            BeMsg::CopyData(d) => M::CopyData(CopyData::new(Bytes::from(d))),
            BeMsg::CopyDone => M::CopyDone(CopyDone::new()),
            BeMsg::CopyIn(f) => M::CopyInResponse(CopyInResponse::new(0, f.len() as i16, f)),
            BeMsg::CopyOut(f) => M::CopyOutResponse(CopyOutResponse::new(0, f.len() as i16, f)),
            BeMsg::CopyBoth(f) => M::CopyBothResponse(CopyBothResponse::new(0, f.len() as i16, f)),
        }
    }

    /// Appends the message as `pgwire` encodes it.
    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        self.to_pgwire().encode(buf).expect("pgwire encodes");
    }

    /// The encoded bytes alone.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.to_vec()
    }

    /// The type our framer must report.
    pub(crate) fn message_type(&self) -> MessageType {
        use MessageType as T;
        match self {
            BeMsg::AuthOk => T::AuthenticationOk,
            BeMsg::AuthCleartext => T::AuthenticationCleartextPassword,
            BeMsg::AuthKerberos => T::AuthenticationKerberosV5,
            BeMsg::AuthMd5(_) => T::AuthenticationMd5Password,
            BeMsg::AuthSasl(_) => T::AuthenticationSasl,
            BeMsg::AuthSaslContinue(_) => T::AuthenticationSaslContinue,
            BeMsg::AuthSaslFinal(_) => T::AuthenticationSaslFinal,
            BeMsg::ParameterStatus { .. } => T::ParameterStatus,
            BeMsg::BackendKeyData { .. } => T::BackendKeyData,
            BeMsg::NegotiateProtocolVersion { .. } => T::NegotiateProtocolVersion,
            BeMsg::ParseComplete => T::ParseComplete,
            BeMsg::BindComplete => T::BindComplete,
            BeMsg::CloseComplete => T::CloseComplete,
            BeMsg::PortalSuspended => T::PortalSuspended,
            BeMsg::NoData => T::NoData,
            BeMsg::EmptyQuery => T::EmptyQueryResponse,
            BeMsg::CommandComplete(_) => T::CommandComplete,
            BeMsg::ReadyForQuery(_) => T::ReadyForQuery,
            BeMsg::Error(_) => T::ErrorResponse,
            BeMsg::Notice(_) => T::NoticeResponse,
            BeMsg::Notification { .. } => T::NotificationResponse,
            BeMsg::ParameterDescription(_) => T::ParameterDescription,
            BeMsg::RowDescription(_) => T::RowDescription,
            BeMsg::DataRow(_) => T::DataRow,
            BeMsg::CopyData(_) => T::CopyData,
            BeMsg::CopyDone => T::CopyDone,
            BeMsg::CopyIn(_) => T::CopyInResponse,
            BeMsg::CopyOut(_) => T::CopyOutResponse,
            BeMsg::CopyBoth(_) => T::CopyBothResponse,
        }
    }

    /// The documented name, as the PostgreSQL protocol chapter spells it.
    pub(crate) fn doc_name(&self) -> &'static str {
        match self {
            BeMsg::AuthOk => "AuthenticationOk",
            BeMsg::AuthCleartext => "AuthenticationCleartextPassword",
            BeMsg::AuthKerberos => "AuthenticationKerberosV5",
            BeMsg::AuthMd5(_) => "AuthenticationMD5Password",
            BeMsg::AuthSasl(_) => "AuthenticationSASL",
            BeMsg::AuthSaslContinue(_) => "AuthenticationSASLContinue",
            BeMsg::AuthSaslFinal(_) => "AuthenticationSASLFinal",
            BeMsg::ParameterStatus { .. } => "ParameterStatus",
            BeMsg::BackendKeyData { .. } => "BackendKeyData",
            BeMsg::NegotiateProtocolVersion { .. } => "NegotiateProtocolVersion",
            BeMsg::ParseComplete => "ParseComplete",
            BeMsg::BindComplete => "BindComplete",
            BeMsg::CloseComplete => "CloseComplete",
            BeMsg::PortalSuspended => "PortalSuspended",
            BeMsg::NoData => "NoData",
            BeMsg::EmptyQuery => "EmptyQueryResponse",
            BeMsg::CommandComplete(_) => "CommandComplete",
            BeMsg::ReadyForQuery(_) => "ReadyForQuery",
            BeMsg::Error(_) => "ErrorResponse",
            BeMsg::Notice(_) => "NoticeResponse",
            BeMsg::Notification { .. } => "NotificationResponse",
            BeMsg::ParameterDescription(_) => "ParameterDescription",
            BeMsg::RowDescription(_) => "RowDescription",
            BeMsg::DataRow(_) => "DataRow",
            BeMsg::CopyData(_) => "CopyData",
            BeMsg::CopyDone => "CopyDone",
            BeMsg::CopyIn(_) => "CopyInResponse",
            BeMsg::CopyOut(_) => "CopyOutResponse",
            BeMsg::CopyBoth(_) => "CopyBothResponse",
        }
    }

    /// Asserts that our views read back the fields that were encoded.
    pub(crate) fn check(&self, frame: FrameRef<'_>) {
        let t = frame.message_type();
        assert_eq!(t, self.message_type(), "{self:?}");
        assert_eq!(t.name(), self.doc_name());
        let body = frame.body();
        match self {
            BeMsg::AuthOk | BeMsg::AuthCleartext | BeMsg::AuthKerberos => {
                let a = frame.authentication().unwrap();
                let code = match self {
                    BeMsg::AuthOk => 0,
                    BeMsg::AuthKerberos => 2,
                    _ => 3,
                };
                assert_eq!(a.code().unwrap(), code);
                assert!(a.data().unwrap().is_empty());
            }
            BeMsg::AuthMd5(salt) => {
                let a = frame.authentication().unwrap();
                assert_eq!(a.code().unwrap(), 5);
                assert_eq!(a.data().unwrap(), salt);
            }
            BeMsg::AuthSasl(mechanisms) => {
                let a = frame.authentication().unwrap();
                assert_eq!(a.code().unwrap(), 10);
                let got = a.sasl_mechanisms().unwrap();
                let want: Vec<&[u8]> = mechanisms.iter().map(|m| m.as_bytes()).collect();
                assert_eq!(got, want);
            }
            BeMsg::AuthSaslContinue(data) | BeMsg::AuthSaslFinal(data) => {
                let a = frame.authentication().unwrap();
                let code = if matches!(self, BeMsg::AuthSaslContinue(_)) {
                    11
                } else {
                    12
                };
                assert_eq!(a.code().unwrap(), code);
                assert_eq!(a.data().unwrap(), &data[..]);
            }
            BeMsg::ParameterStatus { name, value } => {
                let p = frame.parameter_status().unwrap();
                assert_eq!(p.name().unwrap(), name.as_bytes());
                assert_eq!(p.value().unwrap(), value.as_bytes());
            }
            BeMsg::BackendKeyData { pid, key } => {
                let k = frame.backend_key_data().unwrap();
                assert_eq!(k.pid().unwrap(), *pid);
                assert_eq!(k.key().unwrap(), &key.bytes()[..]);
            }
            BeMsg::CommandComplete(tag) => {
                let c = frame.command_complete().unwrap();
                assert_eq!(c.tag().unwrap(), tag.as_bytes());
                let rows = tag
                    .rsplit_once(' ')
                    .and_then(|(_, n)| n.parse::<u64>().ok());
                assert_eq!(c.rows().unwrap(), rows);
            }
            BeMsg::ReadyForQuery(s) => {
                let r = frame.ready_for_query().unwrap();
                assert_eq!(r.status_byte(), *s);
                assert_eq!(Some(r.status().unwrap()), TransactionStatus::from_byte(*s));
            }
            BeMsg::Error(fields) | BeMsg::Notice(fields) => {
                let e = frame.error_fields().unwrap();
                assert!(e.is_well_formed());
                let want: Vec<(u8, &[u8])> =
                    fields.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
                assert_eq!(e.fields().unwrap(), want);
                let first = |kind: u8| {
                    fields
                        .iter()
                        .find(|(k, _)| *k == kind)
                        .map(|(_, v)| v.as_bytes())
                };
                assert_eq!(e.code().unwrap(), first(b'C'));
                assert_eq!(e.message().unwrap(), first(b'M'));
                assert_eq!(e.severity().unwrap(), first(b'V').or(first(b'S')));
            }
            BeMsg::Notification {
                pid,
                channel,
                payload,
            } => {
                let n = frame.notification().unwrap();
                assert_eq!(n.pid().unwrap(), *pid);
                assert_eq!(n.channel().unwrap(), channel.as_bytes());
                assert_eq!(n.payload().unwrap(), payload.as_bytes());
            }
            BeMsg::CopyData(data) => {
                let c = frame.copy_data().unwrap();
                assert_eq!(c.data(), &data[..]);
            }
            BeMsg::ParseComplete
            | BeMsg::BindComplete
            | BeMsg::CloseComplete
            | BeMsg::PortalSuspended
            | BeMsg::NoData
            | BeMsg::EmptyQuery
            | BeMsg::CopyDone => assert!(body.is_empty()),
            BeMsg::DataRow(values) => {
                assert_eq!(&body[..2], &(values.len() as i16).to_be_bytes());
                let row = frame.data_row().unwrap();
                assert_eq!(usize::from(row.len().unwrap()), values.len());
                assert_eq!(row.is_empty().unwrap(), values.is_empty());
                let got: Vec<Option<&[u8]>> = row.values().collect::<Result<_, _>>().unwrap();
                let want: Vec<Option<&[u8]>> = values.iter().map(Option::as_deref).collect();
                assert_eq!(got, want, "NULL stays NULL, empty stays empty");
                assert_eq!(oracle_values(frame.bytes()), *values);
            }
            BeMsg::RowDescription(columns) => {
                assert_eq!(&body[..2], &(columns.len() as i16).to_be_bytes());
                let description = frame.row_description().unwrap();
                assert_eq!(usize::from(description.len().unwrap()), columns.len());
                assert_eq!(description.is_empty().unwrap(), columns.is_empty());
                let got: Vec<Column> = description
                    .fields()
                    .map(|f| Column::from_field(f.unwrap()))
                    .collect();
                assert_eq!(got, *columns);
                assert_eq!(oracle_columns(frame.bytes()), *columns);
            }
            BeMsg::ParameterDescription(types) => {
                assert_eq!(body.len(), 2 + 4 * types.len());
            }
            BeMsg::NegotiateProtocolVersion { newest, .. } => {
                assert_eq!(&body[..4], &newest.to_be_bytes());
            }
            BeMsg::CopyIn(f) | BeMsg::CopyOut(f) | BeMsg::CopyBoth(f) => {
                assert_eq!(body.len(), 3 + 2 * f.len());
            }
        }
    }
}

/// Parses one server message with `postgres_protocol`, asserting it uses all the bytes.
pub(crate) fn oracle_parse(bytes: &[u8]) -> backend::Message {
    let mut buf = BytesMut::from(bytes);
    let message = backend::Message::parse(&mut buf)
        .unwrap()
        .expect("complete message");
    assert!(buf.is_empty(), "the oracle consumed every byte");
    message
}

/// A DataRow's values as `postgres_protocol` reads them.
fn oracle_values(bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
    let backend::Message::DataRow(row) = oracle_parse(bytes) else {
        panic!("the oracle reads no DataRow");
    };
    row.ranges()
        .map(|range| Ok(range.map(|r| row.buffer()[r].to_vec())))
        .collect()
        .unwrap()
}

/// A RowDescription's columns as `postgres_protocol` reads them.
fn oracle_columns(bytes: &[u8]) -> Vec<Column> {
    let backend::Message::RowDescription(description) = oracle_parse(bytes) else {
        panic!("the oracle reads no RowDescription");
    };
    description
        .fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_owned(),
                table_oid: f.table_oid(),
                column: f.column_id(),
                type_oid: f.type_oid(),
                type_len: f.type_size(),
                type_modifier: f.type_modifier(),
                format: f.format(),
            })
        })
        .collect()
        .unwrap()
}
