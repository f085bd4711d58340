//! Every message of protocol 3.0 and 3.2, named in both directions. A tag alone is ambiguous;
//! the direction (and for 'R' the auth code, for 'p' the auth exchange) resolves it.

use crate::direction::Direction;
use crate::framer::{FrameKind, StartupCode};

macro_rules! message_types {
    ($( $variant:ident => $name:literal ),* $(,)?) => {
        /// A protocol message type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum MessageType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl MessageType {
            /// Every message type.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant),*];

            /// The name used by the PostgreSQL documentation, e.g. `CommandComplete`.
            pub fn name(self) -> &'static str {
                match self {
                    $(MessageType::$variant => $name,)*
                }
            }
        }
    };
}

message_types! {
    // Untagged packets from the client.
    StartupMessage => "StartupMessage",
    SslRequest => "SSLRequest",
    GssEncRequest => "GSSENCRequest",
    CancelRequest => "CancelRequest",
    // Single-byte answers from the server.
    SslResponse => "SSLResponse",
    GssEncResponse => "GSSENCResponse",
    // Frontend (client -> server).
    Bind => "Bind",
    Close => "Close",
    CopyFail => "CopyFail",
    Describe => "Describe",
    Execute => "Execute",
    Flush => "Flush",
    FunctionCall => "FunctionCall",
    Parse => "Parse",
    PasswordMessage => "PasswordMessage",
    SaslInitialResponse => "SASLInitialResponse",
    SaslResponse => "SASLResponse",
    GssResponse => "GSSResponse",
    Query => "Query",
    Sync => "Sync",
    Terminate => "Terminate",
    // Both directions.
    CopyData => "CopyData",
    CopyDone => "CopyDone",
    // Backend (server -> client).
    AuthenticationOk => "AuthenticationOk",
    AuthenticationKerberosV5 => "AuthenticationKerberosV5",
    AuthenticationCleartextPassword => "AuthenticationCleartextPassword",
    AuthenticationMd5Password => "AuthenticationMD5Password",
    AuthenticationGss => "AuthenticationGSS",
    AuthenticationGssContinue => "AuthenticationGSSContinue",
    AuthenticationSspi => "AuthenticationSSPI",
    AuthenticationSasl => "AuthenticationSASL",
    AuthenticationSaslContinue => "AuthenticationSASLContinue",
    AuthenticationSaslFinal => "AuthenticationSASLFinal",
    Authentication => "Authentication",
    BackendKeyData => "BackendKeyData",
    BindComplete => "BindComplete",
    CloseComplete => "CloseComplete",
    CommandComplete => "CommandComplete",
    CopyInResponse => "CopyInResponse",
    CopyOutResponse => "CopyOutResponse",
    CopyBothResponse => "CopyBothResponse",
    DataRow => "DataRow",
    EmptyQueryResponse => "EmptyQueryResponse",
    ErrorResponse => "ErrorResponse",
    FunctionCallResponse => "FunctionCallResponse",
    NegotiateProtocolVersion => "NegotiateProtocolVersion",
    NoData => "NoData",
    NoticeResponse => "NoticeResponse",
    NotificationResponse => "NotificationResponse",
    ParameterDescription => "ParameterDescription",
    ParameterStatus => "ParameterStatus",
    ParseComplete => "ParseComplete",
    PortalSuspended => "PortalSuspended",
    ReadyForQuery => "ReadyForQuery",
    RowDescription => "RowDescription",
    // A tag this catalogue does not know; forwarded untouched.
    Unknown => "Unknown",
}

impl MessageType {
    /// A dense index (0..ALL.len()), for bitsets over message types.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Looks a type up by its documented name, ignoring ASCII case (`query` finds `Query`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The tag byte of a tagged message type (`None` for untagged packets and `Unknown`).
    pub fn tag(self) -> Option<u8> {
        use MessageType::*;
        Some(match self {
            Bind => b'B',
            Close | CommandComplete => b'C',
            CopyFail => b'f',
            Describe | DataRow => b'D',
            Execute | ErrorResponse => b'E',
            Flush | CopyOutResponse => b'H',
            FunctionCall => b'F',
            Parse => b'P',
            PasswordMessage | SaslInitialResponse | SaslResponse | GssResponse => b'p',
            Query => b'Q',
            Sync | ParameterStatus => b'S',
            Terminate => b'X',
            CopyData => b'd',
            CopyDone => b'c',
            AuthenticationOk
            | AuthenticationKerberosV5
            | AuthenticationCleartextPassword
            | AuthenticationMd5Password
            | AuthenticationGss
            | AuthenticationGssContinue
            | AuthenticationSspi
            | AuthenticationSasl
            | AuthenticationSaslContinue
            | AuthenticationSaslFinal
            | Authentication => b'R',
            BackendKeyData => b'K',
            BindComplete => b'2',
            CloseComplete => b'3',
            CopyInResponse => b'G',
            CopyBothResponse => b'W',
            EmptyQueryResponse => b'I',
            FunctionCallResponse => b'V',
            NegotiateProtocolVersion => b'v',
            NoData => b'n',
            NoticeResponse => b'N',
            NotificationResponse => b'A',
            ParameterDescription => b't',
            ParseComplete => b'1',
            PortalSuspended => b's',
            ReadyForQuery => b'Z',
            RowDescription => b'T',
            StartupMessage | SslRequest | GssEncRequest | CancelRequest | SslResponse
            | GssEncResponse | Unknown => return None,
        })
    }

    /// Who may send this message type.
    pub fn senders(self) -> &'static [Direction] {
        use MessageType::*;
        match self {
            CopyData | CopyDone | Unknown => &[Direction::Frontend, Direction::Backend],
            StartupMessage | SslRequest | GssEncRequest | CancelRequest | Bind | Close
            | CopyFail | Describe | Execute | Flush | FunctionCall | Parse | PasswordMessage
            | SaslInitialResponse | SaslResponse | GssResponse | Query | Sync | Terminate => {
                &[Direction::Frontend]
            }
            _ => &[Direction::Backend],
        }
    }

    /// True for the authentication requests the server sends ('R').
    pub fn is_authentication(self) -> bool {
        self.tag() == Some(b'R')
    }

    /// The type of a framed message. `frame` is the whole frame (tag and length included); for
    /// 'R' the auth code in the body decides. The client's 'p' is reported as
    /// `PasswordMessage`; [`MessageType::refine_password`] names it from the auth exchange.
    pub fn classify(direction: Direction, kind: FrameKind, frame: &[u8]) -> Self {
        use MessageType::*;
        match kind {
            FrameKind::Startup(code) => match code {
                StartupCode::Protocol { .. } => StartupMessage,
                StartupCode::Ssl => SslRequest,
                StartupCode::GssEnc => GssEncRequest,
                StartupCode::Cancel => CancelRequest,
            },
            FrameKind::SslResponse => SslResponse,
            FrameKind::GssEncResponse => GssEncResponse,
            FrameKind::Tagged(tag) => match direction {
                Direction::Frontend => frontend(tag),
                Direction::Backend if tag == b'R' => authentication(frame),
                Direction::Backend => backend(tag),
            },
        }
    }

    /// Names a client 'p' message from the last authentication request the server sent.
    pub fn refine_password(self, last_auth_request: Option<MessageType>) -> Self {
        use MessageType::*;
        if self != PasswordMessage {
            return self;
        }
        match last_auth_request {
            Some(AuthenticationSasl) => SaslInitialResponse,
            Some(AuthenticationSaslContinue) => SaslResponse,
            Some(AuthenticationGss | AuthenticationGssContinue | AuthenticationSspi) => GssResponse,
            _ => PasswordMessage,
        }
    }
}

fn frontend(tag: u8) -> MessageType {
    use MessageType::*;
    match tag {
        b'B' => Bind,
        b'C' => Close,
        b'd' => CopyData,
        b'c' => CopyDone,
        b'f' => CopyFail,
        b'D' => Describe,
        b'E' => Execute,
        b'H' => Flush,
        b'F' => FunctionCall,
        b'P' => Parse,
        b'p' => PasswordMessage,
        b'Q' => Query,
        b'S' => Sync,
        b'X' => Terminate,
        _ => Unknown,
    }
}

fn backend(tag: u8) -> MessageType {
    use MessageType::*;
    match tag {
        b'K' => BackendKeyData,
        b'2' => BindComplete,
        b'3' => CloseComplete,
        b'C' => CommandComplete,
        b'd' => CopyData,
        b'c' => CopyDone,
        b'G' => CopyInResponse,
        b'H' => CopyOutResponse,
        b'W' => CopyBothResponse,
        b'D' => DataRow,
        b'I' => EmptyQueryResponse,
        b'E' => ErrorResponse,
        b'V' => FunctionCallResponse,
        b'v' => NegotiateProtocolVersion,
        b'n' => NoData,
        b'N' => NoticeResponse,
        b'A' => NotificationResponse,
        b't' => ParameterDescription,
        b'S' => ParameterStatus,
        b'1' => ParseComplete,
        b's' => PortalSuspended,
        b'Z' => ReadyForQuery,
        b'T' => RowDescription,
        _ => Unknown,
    }
}

fn authentication(frame: &[u8]) -> MessageType {
    use MessageType::*;
    let Some(code) = frame.get(5..9) else {
        return Authentication;
    };
    match i32::from_be_bytes([code[0], code[1], code[2], code[3]]) {
        0 => AuthenticationOk,
        2 => AuthenticationKerberosV5,
        3 => AuthenticationCleartextPassword,
        5 => AuthenticationMd5Password,
        7 => AuthenticationGss,
        8 => AuthenticationGssContinue,
        9 => AuthenticationSspi,
        10 => AuthenticationSasl,
        11 => AuthenticationSaslContinue,
        12 => AuthenticationSaslFinal,
        _ => Authentication,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_name(t.name()), Some(*t));
        }
        assert_eq!(
            MessageType::from_name("commandcomplete"),
            Some(MessageType::CommandComplete)
        );
        assert_eq!(MessageType::from_name("Nope"), None);
    }

    #[test]
    fn direction_resolves_shared_tags() {
        let k = FrameKind::Tagged(b'D');
        assert_eq!(
            MessageType::classify(Direction::Frontend, k, b"D"),
            MessageType::Describe
        );
        assert_eq!(
            MessageType::classify(Direction::Backend, k, b"D"),
            MessageType::DataRow
        );
        for t in MessageType::ALL {
            if let Some(tag) = t.tag() {
                for d in t.senders() {
                    let frame = [tag, 0, 0, 0, 8, 0, 0, 0, 0];
                    let got = MessageType::classify(*d, FrameKind::Tagged(tag), &frame);
                    assert_eq!(got.tag(), Some(tag), "{t:?} from {d:?}");
                }
            }
        }
    }

    #[test]
    fn sasl_is_not_authentication_ok() {
        let sasl = [b'R', 0, 0, 0, 8, 0, 0, 0, 10];
        let ok = [b'R', 0, 0, 0, 8, 0, 0, 0, 0];
        let k = FrameKind::Tagged(b'R');
        assert_eq!(
            MessageType::classify(Direction::Backend, k, &sasl),
            MessageType::AuthenticationSasl
        );
        assert_eq!(
            MessageType::classify(Direction::Backend, k, &ok),
            MessageType::AuthenticationOk
        );
        assert_eq!(
            MessageType::PasswordMessage.refine_password(Some(MessageType::AuthenticationSasl)),
            MessageType::SaslInitialResponse
        );
    }
}
