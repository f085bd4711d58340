//! A framed message: its direction, how it was delimited, and its raw bytes (forwarded
//! byte-identical). Typed views decode fields only when asked.

use bytes::Bytes;

use crate::direction::Direction;
use crate::error::WireError;
use crate::framer::FrameKind;
use crate::message::{
    Authentication, BackendKeyData, Bind, CancelRequest, CommandComplete, CopyData, DataRow,
    ErrorFields, Execute, NotificationResponse, ParameterStatus, Parse, Query, ReadyForQuery,
    RowDescription, StartupMessage, Target,
};
use crate::message_type::MessageType;

/// A borrowed frame: the bytes of one whole message (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    direction: Direction,
    kind: FrameKind,
    bytes: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// Wraps the bytes of one frame as delimited by [`crate::Framer::next_frame`].
    pub fn new(direction: Direction, kind: FrameKind, bytes: &'a [u8]) -> Self {
        FrameRef {
            direction,
            kind,
            bytes,
        }
    }

    /// Who sent it.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// How it was delimited.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The tag byte of a tagged message.
    pub fn tag(&self) -> Option<u8> {
        match self.kind {
            FrameKind::Tagged(tag) => Some(tag),
            _ => None,
        }
    }

    /// All bytes, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Total length, header included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a zero-length frame (never produced by the framer).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes after the header.
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(self.kind.header_len()..).unwrap_or(&[])
    }

    /// The message type (client 'p' messages as `PasswordMessage`).
    pub fn message_type(&self) -> MessageType {
        MessageType::classify(self.direction, self.kind, self.bytes)
    }

    fn expect(&self, wanted: MessageType) -> Result<&'a [u8], WireError> {
        if self.message_type() == wanted
            || (wanted == MessageType::ErrorResponse
                && self.message_type() == MessageType::NoticeResponse)
        {
            Ok(self.body())
        } else {
            Err(WireError::Malformed {
                message: wanted.name(),
                reason: "the frame is a different message type",
            })
        }
    }

    /// A StartupMessage.
    pub fn startup_message(&self) -> Result<StartupMessage<'a>, WireError> {
        let FrameKind::Startup(code) = self.kind else {
            return Err(WireError::Malformed {
                message: "StartupMessage",
                reason: "not an untagged packet",
            });
        };
        StartupMessage::new(code, self.expect(MessageType::StartupMessage)?)
    }

    /// A CancelRequest.
    pub fn cancel_request(&self) -> Result<CancelRequest<'a>, WireError> {
        CancelRequest::new(self.expect(MessageType::CancelRequest)?)
    }

    /// A Query.
    pub fn query(&self) -> Result<Query<'a>, WireError> {
        Query::new(self.expect(MessageType::Query)?)
    }

    /// A Parse.
    pub fn parse(&self) -> Result<Parse<'a>, WireError> {
        Parse::new(self.expect(MessageType::Parse)?)
    }

    /// A Bind.
    pub fn bind(&self) -> Result<Bind<'a>, WireError> {
        Bind::new(self.expect(MessageType::Bind)?)
    }

    /// An Execute.
    pub fn execute(&self) -> Result<Execute<'a>, WireError> {
        Execute::new(self.expect(MessageType::Execute)?)
    }

    /// The target of a Describe or Close.
    pub fn target(&self) -> Result<Target<'a>, WireError> {
        match self.message_type() {
            MessageType::Describe | MessageType::Close => Target::new(self.body()),
            _ => Err(WireError::Malformed {
                message: "Describe/Close",
                reason: "the frame is a different message type",
            }),
        }
    }

    /// A CommandComplete.
    pub fn command_complete(&self) -> Result<CommandComplete<'a>, WireError> {
        CommandComplete::new(self.expect(MessageType::CommandComplete)?)
    }

    /// A DataRow.
    pub fn data_row(&self) -> Result<DataRow<'a>, WireError> {
        DataRow::new(self.expect(MessageType::DataRow)?)
    }

    /// A RowDescription.
    pub fn row_description(&self) -> Result<RowDescription<'a>, WireError> {
        RowDescription::new(self.expect(MessageType::RowDescription)?)
    }

    /// The fields of an ErrorResponse or NoticeResponse.
    pub fn error_fields(&self) -> Result<ErrorFields<'a>, WireError> {
        ErrorFields::new(self.expect(MessageType::ErrorResponse)?)
    }

    /// A ReadyForQuery.
    pub fn ready_for_query(&self) -> Result<ReadyForQuery, WireError> {
        ReadyForQuery::new(self.expect(MessageType::ReadyForQuery)?)
    }

    /// A BackendKeyData.
    pub fn backend_key_data(&self) -> Result<BackendKeyData<'a>, WireError> {
        BackendKeyData::new(self.expect(MessageType::BackendKeyData)?)
    }

    /// A ParameterStatus.
    pub fn parameter_status(&self) -> Result<ParameterStatus<'a>, WireError> {
        ParameterStatus::new(self.expect(MessageType::ParameterStatus)?)
    }

    /// A NotificationResponse.
    pub fn notification(&self) -> Result<NotificationResponse<'a>, WireError> {
        NotificationResponse::new(self.expect(MessageType::NotificationResponse)?)
    }

    /// A CopyData (either direction).
    pub fn copy_data(&self) -> Result<CopyData<'a>, WireError> {
        Ok(CopyData::new(self.expect(MessageType::CopyData)?))
    }

    /// Any authentication request ('R').
    pub fn authentication(&self) -> Result<Authentication<'a>, WireError> {
        if self.direction == Direction::Backend && self.tag() == Some(b'R') {
            Authentication::new(self.body())
        } else {
            Err(WireError::Malformed {
                message: "Authentication",
                reason: "the frame is a different message type",
            })
        }
    }
}

/// An owned frame (shares the buffer it was split from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    direction: Direction,
    kind: FrameKind,
    bytes: Bytes,
}

impl Frame {
    /// Wraps the bytes of one frame.
    pub fn new(direction: Direction, kind: FrameKind, bytes: Bytes) -> Self {
        Frame {
            direction,
            kind,
            bytes,
        }
    }

    /// A borrowed view with the typed accessors.
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef::new(self.direction, self.kind, &self.bytes)
    }

    /// Who sent it.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// How it was delimited.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        self.as_ref().message_type()
    }

    /// All bytes, header included.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The raw bytes, for forwarding.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}
