//! How `error(...)` is carried out without desynchronising client and server.
//!
//! On a server message, the injected ErrorResponse simply replaces it (FATAL: then the
//! connection closes). On a client request the proxy does not forge the server's side of the
//! conversation; it sends the server a harmless request that fails with a unique marker name,
//! so the server itself aborts the transaction, ignores the rest of an extended-protocol batch
//! and reports the right ReadyForQuery status; the server's marker error is then replaced by
//! the injected one on its way to the client:
//! - Query / FunctionCall: sent as `CLOSE <marker>` (no such cursor, SQLSTATE 34000);
//! - Parse, Bind, Describe, Execute, Close, Flush, Sync: `Execute` of portal `<marker>` (no such
//!   portal, 34000), and the client's messages up to its Sync are swallowed (the server would
//!   ignore them after an error anyway);
//! - CopyData / CopyDone during COPY FROM STDIN: `CopyFail(<marker>)`, and the rest of the copy
//!   data is swallowed.
//!
//! Anything else from the client (startup, password, Terminate, ...) gets a FATAL error.

use pgkeel_wire::{MessageType, encode};

use crate::connection::Poison;
use crate::rules::InjectedError;

/// What the client-side loop does instead of forwarding the matched request.
#[derive(Debug)]
pub(crate) enum ClientSidePlan {
    /// Send these bytes to the server, expect the marker error, swallow as told.
    Poison {
        to_server: Vec<u8>,
        poison: Poison,
        swallow: Swallow,
    },
    /// Send this FATAL ErrorResponse to the client and close.
    Fatal(Vec<u8>),
}

/// Client messages to drop after a poisoned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Swallow {
    /// Nothing.
    #[default]
    Nothing,
    /// Everything up to (not including) the next Sync, which is forwarded.
    UntilSync,
    /// CopyData, CopyDone and CopyFail, until another message arrives.
    CopyData,
}

/// The ErrorResponse bytes for `error`, with `severity` overriding its own when given.
pub(crate) fn error_bytes(error: &InjectedError, severity: Option<&str>) -> Vec<u8> {
    let severity = severity.unwrap_or(&error.severity);
    let mut fields: Vec<(u8, &[u8])> =
        encode::error_fields(severity, &error.code, &error.message).to_vec();
    if let Some(detail) = &error.detail {
        fields.push((b'D', detail.as_bytes()));
    }
    if let Some(hint) = &error.hint {
        fields.push((b'H', hint.as_bytes()));
    }
    // The rule compiler refuses NUL bytes, so encoding cannot fail; fall back to a bare error.
    encode::error_response(&fields).unwrap_or_else(|_| {
        let fallback = encode::error_fields("ERROR", "XX000", "injected error");
        encode::error_response(&fallback).unwrap_or_default()
    })
}

/// Plans the injection of `error` in place of a client message of type `ty`.
pub(crate) fn plan_client_side(
    error: &InjectedError,
    ty: MessageType,
    conn: u64,
    seq: u64,
) -> ClientSidePlan {
    if error.is_fatal() {
        return ClientSidePlan::Fatal(error_bytes(error, None));
    }
    let marker = format!("pgkeel_injected_{conn}_{seq}");
    let poison = Poison {
        marker: marker.clone(),
        replacement: error_bytes(error, None),
    };
    let plan = |to_server: Result<Vec<u8>, _>, swallow| match to_server {
        Ok(to_server) => ClientSidePlan::Poison {
            to_server,
            poison: poison.clone(),
            swallow,
        },
        Err(_) => ClientSidePlan::Fatal(error_bytes(error, Some("FATAL"))),
    };
    match ty {
        MessageType::Query | MessageType::FunctionCall => {
            plan(encode::query(&format!("CLOSE {marker}")), Swallow::Nothing)
        }
        MessageType::Sync => plan(
            encode::execute(&marker, 0).map(|mut bytes| {
                bytes.extend_from_slice(&encode::sync());
                bytes
            }),
            Swallow::Nothing,
        ),
        MessageType::Parse
        | MessageType::Bind
        | MessageType::Describe
        | MessageType::Execute
        | MessageType::Close
        | MessageType::Flush => plan(encode::execute(&marker, 0), Swallow::UntilSync),
        MessageType::CopyData | MessageType::CopyDone => {
            let mut body = marker.as_bytes().to_vec();
            body.push(0);
            plan(encode::tagged(b'f', &body), Swallow::CopyData)
        }
        _ => ClientSidePlan::Fatal(error_bytes(error, Some("FATAL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(severity: &str) -> InjectedError {
        InjectedError {
            severity: severity.into(),
            code: "40001".into(),
            message: "retry".into(),
            detail: None,
            hint: None,
        }
    }

    #[test]
    fn plans_by_message_type() {
        match plan_client_side(&error("ERROR"), MessageType::Query, 3, 9) {
            ClientSidePlan::Poison {
                to_server,
                poison,
                swallow,
            } => {
                assert!(String::from_utf8_lossy(&to_server).contains("CLOSE pgkeel_injected_3_9"));
                assert_eq!(poison.marker, "pgkeel_injected_3_9");
                assert_eq!(swallow, Swallow::Nothing);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan_client_side(&error("ERROR"), MessageType::Parse, 1, 1),
            ClientSidePlan::Poison {
                swallow: Swallow::UntilSync,
                ..
            }
        ));
        assert!(matches!(
            plan_client_side(&error("ERROR"), MessageType::Terminate, 1, 1),
            ClientSidePlan::Fatal(_)
        ));
        assert!(matches!(
            plan_client_side(&error("FATAL"), MessageType::Query, 1, 1),
            ClientSidePlan::Fatal(_)
        ));
    }
}
