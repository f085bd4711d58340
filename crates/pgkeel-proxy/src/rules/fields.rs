//! The fields `on<Message>(field="regex")` can match, per message type, and how to read them
//! from a frame. Names follow Citus's failure tests (`query`, `command`, `state`, ...) plus
//! friendlier aliases (`statement`, `portal`, `code`, `status`, ...).

use std::borrow::Cow;

use pgkeel_wire::message::TransactionStatus;
use pgkeel_wire::{FrameRef, MessageType};

/// A readable field of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    Query,
    Statement,
    Portal,
    MaxRows,
    TargetKind,
    TargetName,
    Command,
    ErrorPart(u8),
    Status,
    State,
    ParamName,
    ParamValue,
    Pid,
    Channel,
    Payload,
    Data,
    Protocol,
    StartupParam(String),
    AuthCode,
    Mechanisms,
}

/// The keyword names accepted for a message type (for errors and docs).
pub(crate) fn names_for(ty: MessageType) -> &'static [&'static str] {
    use MessageType as T;
    match ty {
        T::Query => &["query"],
        T::Parse => &["query", "name", "statement"],
        T::Bind => &[
            "portal",
            "statement",
            "destination_portal",
            "prepared_statement",
        ],
        T::Execute => &["portal", "name", "max_rows", "max_rows_to_return"],
        T::Describe | T::Close => &["kind", "type", "name"],
        T::CommandComplete => &["command"],
        T::ErrorResponse | T::NoticeResponse => &["code", "severity", "message", "detail", "hint"],
        T::ReadyForQuery => &["status", "state"],
        T::ParameterStatus => &["name", "value"],
        T::BackendKeyData | T::CancelRequest => &["pid"],
        T::NotificationResponse => &["channel", "payload", "pid"],
        T::CopyData => &["data"],
        T::StartupMessage => &[
            "protocol",
            "user",
            "database",
            "application_name",
            "replication",
            "options",
            "<any startup parameter>",
        ],
        t if t.is_authentication() => &["code", "mechanisms"],
        _ => &[],
    }
}

/// Resolves `name` for message type `ty`.
pub(crate) fn lookup(ty: MessageType, name: &str) -> Option<Field> {
    use MessageType as T;
    Some(match (ty, name) {
        (T::Query | T::Parse, "query") => Field::Query,
        (T::Parse, "name" | "statement") => Field::Statement,
        (T::Bind, "portal" | "destination_portal") => Field::Portal,
        (T::Bind, "statement" | "prepared_statement") => Field::Statement,
        (T::Execute, "portal" | "name") => Field::Portal,
        (T::Execute, "max_rows" | "max_rows_to_return") => Field::MaxRows,
        (T::Describe | T::Close, "kind" | "type") => Field::TargetKind,
        (T::Describe | T::Close, "name") => Field::TargetName,
        (T::CommandComplete, "command") => Field::Command,
        (T::ErrorResponse | T::NoticeResponse, "code") => Field::ErrorPart(b'C'),
        (T::ErrorResponse | T::NoticeResponse, "severity") => Field::ErrorPart(b'V'),
        (T::ErrorResponse | T::NoticeResponse, "message") => Field::ErrorPart(b'M'),
        (T::ErrorResponse | T::NoticeResponse, "detail") => Field::ErrorPart(b'D'),
        (T::ErrorResponse | T::NoticeResponse, "hint") => Field::ErrorPart(b'H'),
        (T::ReadyForQuery, "status") => Field::Status,
        (T::ReadyForQuery, "state") => Field::State,
        (T::ParameterStatus, "name") => Field::ParamName,
        (T::ParameterStatus, "value") => Field::ParamValue,
        (T::BackendKeyData | T::CancelRequest | T::NotificationResponse, "pid") => Field::Pid,
        (T::NotificationResponse, "channel") => Field::Channel,
        (T::NotificationResponse, "payload") => Field::Payload,
        (T::CopyData, "data") => Field::Data,
        (T::StartupMessage, "protocol") => Field::Protocol,
        (T::StartupMessage, param) => Field::StartupParam(param.to_owned()),
        (t, "code") if t.is_authentication() => Field::AuthCode,
        (t, "mechanisms") if t.is_authentication() => Field::Mechanisms,
        _ => return None,
    })
}

fn text<'a>(value: impl Into<Cow<'a, [u8]>>) -> Option<Cow<'a, [u8]>> {
    Some(value.into())
}

/// Reads `field` from `frame`; `None` when the message lacks it or is malformed.
pub(crate) fn read<'a>(field: &Field, frame: &FrameRef<'a>) -> Option<Cow<'a, [u8]>> {
    match field {
        Field::Query => match frame.message_type() {
            MessageType::Query => text(frame.query().ok()?.text().ok()?),
            _ => text(frame.parse().ok()?.query().ok()?),
        },
        Field::Statement => match frame.message_type() {
            MessageType::Parse => text(frame.parse().ok()?.statement().ok()?),
            _ => text(frame.bind().ok()?.statement().ok()?),
        },
        Field::Portal => match frame.message_type() {
            MessageType::Bind => text(frame.bind().ok()?.portal().ok()?),
            _ => text(frame.execute().ok()?.portal().ok()?),
        },
        Field::MaxRows => text(
            frame
                .execute()
                .ok()?
                .max_rows()
                .ok()?
                .to_string()
                .into_bytes(),
        ),
        Field::TargetKind => {
            let kind = frame.target().ok()?.kind_byte().ok()?;
            // Citus renders the kind as a word; accept both the letter and the word.
            let word: &[u8] = match kind {
                b'S' => b"S prepared_statement",
                b'P' => b"P portal",
                _ => return None,
            };
            text(word)
        }
        Field::TargetName => text(frame.target().ok()?.name().ok()?),
        Field::Command => text(frame.command_complete().ok()?.tag().ok()?),
        Field::ErrorPart(kind) => {
            let fields = frame.error_fields().ok()?;
            let value = if *kind == b'V' {
                fields.severity().ok()??
            } else {
                fields.field(*kind).ok()??
            };
            text(value)
        }
        Field::Status => text(vec![frame.ready_for_query().ok()?.status_byte()]),
        Field::State => {
            let word: &[u8] = match frame.ready_for_query().ok()?.status().ok()? {
                TransactionStatus::Idle => b"idle",
                TransactionStatus::InTransaction => b"in_transaction_block",
                TransactionStatus::Failed => b"in_failed_transaction_block",
            };
            text(word)
        }
        Field::ParamName => text(frame.parameter_status().ok()?.name().ok()?),
        Field::ParamValue => text(frame.parameter_status().ok()?.value().ok()?),
        Field::Pid => {
            let pid = match frame.message_type() {
                MessageType::BackendKeyData => frame.backend_key_data().ok()?.pid().ok()?,
                MessageType::CancelRequest => frame.cancel_request().ok()?.pid().ok()?,
                _ => frame.notification().ok()?.pid().ok()?,
            };
            text(pid.to_string().into_bytes())
        }
        Field::Channel => text(frame.notification().ok()?.channel().ok()?),
        Field::Payload => text(frame.notification().ok()?.payload().ok()?),
        Field::Data => text(frame.copy_data().ok()?.data()),
        Field::Protocol => {
            let (major, minor) = frame.startup_message().ok()?.version();
            text(format!("{major}.{minor}").into_bytes())
        }
        Field::StartupParam(name) => text(frame.startup_message().ok()?.parameter(name).ok()??),
        Field::AuthCode => text(
            frame
                .authentication()
                .ok()?
                .code()
                .ok()?
                .to_string()
                .into_bytes(),
        ),
        Field::Mechanisms => {
            let list = frame.authentication().ok()?.sasl_mechanisms().ok()?;
            text(list.join(&b' '))
        }
    }
}
