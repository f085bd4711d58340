//! Checks shared by the tests and the `fuzz/` target: framing a stream whole or in chunks, and
//! calling every view of a frame while asserting that the views agree with `message_type()`
//! and that what a view returns is what the bytes say (never a value read from elsewhere).

use bytes::BytesMut;
use pgkeel_wire::message::{DataRow, RowDescription};
use pgkeel_wire::{
    Direction, Frame, FrameKind, FrameRef, Framer, MessageType, StartupCode, WireError,
};

/// How framing a stream ended, after the frames it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Framed {
    /// Every complete frame, in order.
    pub(crate) frames: Vec<Frame>,
    /// `Ok(n)`: no error, `n` bytes were left over (an incomplete frame); or the error.
    pub(crate) end: Result<usize, WireError>,
}

impl Framed {
    /// The frames' bytes concatenated.
    pub(crate) fn concat(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|f| f.bytes().to_vec())
            .collect()
    }
}

/// Before frame `i` is decoded, `expect[i]` says whether the framer must be told that the next
/// byte answers an encryption request (`Some(gss)`), as a proxy does when it sees the request.
pub(crate) type Expectations = [Option<bool>];

fn apply(framer: &mut Framer, expect: &Expectations, decoded: usize) {
    if let Some(Some(gss)) = expect.get(decoded) {
        framer.expect_encryption_response(*gss);
    }
}

/// Frames `input` the way a socket reader would: the chunks `input[cuts[k]..cuts[k+1]]` are
/// appended to one `BytesMut` and `Framer::decode` is called until it returns `Ok(None)`.
/// `cuts` must be sorted; 0 and `input.len()` are implied.
pub(crate) fn decode_chunked(
    mut framer: Framer,
    input: &[u8],
    cuts: &[usize],
    expect: &Expectations,
) -> Framed {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        let end = end.clamp(start, input.len());
        buf.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            apply(&mut framer, expect, frames.len());
            match framer.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    return Framed {
                        frames,
                        end: Err(e),
                    };
                }
            }
        }
    }
    Framed {
        frames,
        end: Ok(buf.len()),
    }
}

/// Frames `input` with `Framer::next_frame` over a borrowed slice (no `BytesMut`), consuming
/// `header.len` bytes per frame: the zero-copy path a forwarding loop uses.
pub(crate) fn next_frame_all(mut framer: Framer, input: &[u8], expect: &Expectations) -> Framed {
    let direction = framer.direction();
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        apply(&mut framer, expect, frames.len());
        match framer.next_frame(&input[at..]) {
            Ok(Some(header)) => {
                let bytes = bytes::Bytes::copy_from_slice(&input[at..at + header.len]);
                frames.push(Frame::new(direction, header.kind, bytes));
                at += header.len;
            }
            Ok(None) => {
                return Framed {
                    frames,
                    end: Ok(input.len() - at),
                };
            }
            Err(e) => {
                return Framed {
                    frames,
                    end: Err(e),
                };
            }
        }
    }
}

/// Asserts what holds for every frame the framer produced: its length is what its header
/// declares, and its kind fits its direction.
pub(crate) fn check_framed(frame: &Frame) {
    let bytes = frame.bytes();
    let kind = frame.kind();
    assert!(
        bytes.len() >= kind.header_len(),
        "{kind:?} shorter than its header"
    );
    match kind {
        FrameKind::Tagged(tag) => {
            assert_eq!(bytes[0], tag);
            let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            assert_eq!(len as usize + 1, bytes.len());
        }
        FrameKind::Startup(code) => {
            assert_eq!(frame.direction(), Direction::Frontend);
            if let StartupCode::Protocol { major, .. } = code {
                assert_eq!(major, 3, "only protocol 3.x is framed");
            }
            let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            assert_eq!(len as usize, bytes.len());
        }
        FrameKind::SslResponse | FrameKind::GssEncResponse => {
            assert_eq!(frame.direction(), Direction::Backend);
            assert_eq!(bytes.len(), 1);
        }
    }
}

/// Calls every view accessor of `frame` and asserts that a view opens exactly when the frame
/// is of that type (lazy views open unconditionally; `ReadyForQuery` also needs its byte).
/// Returns how many field reads succeeded, so a fuzzer cannot optimise the calls away.
pub(crate) fn exercise_views(frame: FrameRef<'_>) -> usize {
    let t = frame.message_type();
    let mut ok = 0usize;
    let mut count = |r: bool| ok += usize::from(r);

    assert_eq!(frame.len(), frame.bytes().len());
    assert!(frame.body().len() <= frame.len());
    assert_eq!(MessageType::from_name(t.name()), Some(t));
    if let Some(tag) = frame.tag() {
        assert!(
            t == MessageType::Unknown || t.tag() == Some(tag),
            "{t:?} vs tag {tag}"
        );
    }
    let refined = t.refine_password(Some(MessageType::AuthenticationSasl));
    assert!(refined == t || t == MessageType::PasswordMessage);

    let view = frame.startup_message();
    assert_eq!(view.is_ok(), t == MessageType::StartupMessage, "{t:?}");
    if let Ok(v) = view {
        count(v.version() == (3, 0));
        count(v.parameters().is_ok());
        count(v.parameter("user").is_ok());
    }
    let view = frame.cancel_request();
    assert_eq!(view.is_ok(), t == MessageType::CancelRequest, "{t:?}");
    if let Ok(v) = view {
        count(v.pid().is_ok());
        count(v.key().is_ok());
    }
    let view = frame.query();
    assert_eq!(view.is_ok(), t == MessageType::Query, "{t:?}");
    if let Ok(v) = view {
        count(v.text().is_ok());
    }
    let view = frame.parse();
    assert_eq!(view.is_ok(), t == MessageType::Parse, "{t:?}");
    if let Ok(v) = view {
        count(v.statement().is_ok());
        count(v.query().is_ok());
        count(v.parameter_types().is_ok());
    }
    let view = frame.bind();
    assert_eq!(view.is_ok(), t == MessageType::Bind, "{t:?}");
    if let Ok(v) = view {
        count(v.portal().is_ok());
        count(v.statement().is_ok());
        count(v.parameters().is_ok());
    }
    let view = frame.execute();
    assert_eq!(view.is_ok(), t == MessageType::Execute, "{t:?}");
    if let Ok(v) = view {
        count(v.portal().is_ok());
        count(v.max_rows().is_ok());
    }
    let view = frame.target();
    let is_target = matches!(t, MessageType::Describe | MessageType::Close);
    assert_eq!(view.is_ok(), is_target, "{t:?}");
    if let Ok(v) = view {
        let kind = v.kind();
        let byte = v.kind_byte();
        assert_eq!(kind.is_ok(), matches!(byte, Ok(b'S' | b'P')));
        count(v.name().is_ok());
    }
    let view = frame.command_complete();
    assert_eq!(view.is_ok(), t == MessageType::CommandComplete, "{t:?}");
    if let Ok(v) = view {
        count(v.tag().is_ok());
        count(v.rows().is_ok());
    }
    let view = frame.error_fields();
    let is_error = matches!(t, MessageType::ErrorResponse | MessageType::NoticeResponse);
    assert_eq!(view.is_ok(), is_error, "{t:?}");
    if let Ok(v) = view {
        let fields = v.fields();
        if v.is_well_formed() {
            assert!(fields.is_ok(), "well-formed fields must parse");
        }
        count(fields.is_ok());
        count(v.field(b'D').is_ok());
        count(v.code().is_ok());
        count(v.severity().is_ok());
        count(v.message().is_ok());
    }
    let view = frame.data_row();
    assert_eq!(view.is_ok(), t == MessageType::DataRow, "{t:?}");
    if let Ok(v) = view {
        count(check_data_row(v, frame.body()) > 0);
    }
    let view = frame.row_description();
    assert_eq!(view.is_ok(), t == MessageType::RowDescription, "{t:?}");
    if let Ok(v) = view {
        count(check_row_description(v, frame.body()) > 0);
    }
    let view = frame.ready_for_query();
    if view.is_ok() {
        assert_eq!(t, MessageType::ReadyForQuery);
    }
    if let Ok(v) = view {
        assert_eq!(
            v.status().is_ok(),
            matches!(v.status_byte(), b'I' | b'T' | b'E')
        );
        count(v.status().is_ok());
    }
    let view = frame.backend_key_data();
    assert_eq!(view.is_ok(), t == MessageType::BackendKeyData, "{t:?}");
    if let Ok(v) = view {
        count(v.pid().is_ok());
        if let Ok(key) = v.key() {
            assert!((1..=256).contains(&key.len()));
            count(true);
        }
    }
    let view = frame.parameter_status();
    assert_eq!(view.is_ok(), t == MessageType::ParameterStatus, "{t:?}");
    if let Ok(v) = view {
        count(v.name().is_ok());
        count(v.value().is_ok());
    }
    let view = frame.notification();
    assert_eq!(
        view.is_ok(),
        t == MessageType::NotificationResponse,
        "{t:?}"
    );
    if let Ok(v) = view {
        count(v.pid().is_ok());
        count(v.channel().is_ok());
        count(v.payload().is_ok());
    }
    let view = frame.copy_data();
    assert_eq!(view.is_ok(), t == MessageType::CopyData, "{t:?}");
    if let Ok(v) = view {
        assert_eq!(v.data(), frame.body());
        assert_eq!(v.sub_tag(), frame.body().first().copied());
    }
    let view = frame.authentication();
    assert_eq!(view.is_ok(), t.is_authentication(), "{t:?}");
    if let Ok(v) = view {
        let code = v.code();
        count(code.is_ok());
        count(v.data().is_ok());
        count(v.sasl_mechanisms().is_ok());
        if t != MessageType::Authentication {
            assert!(code.is_ok(), "{t:?} was named from its code");
        }
    }
    ok
}

/// Reads every value of a DataRow over `body` and asserts that the iteration is honest: each
/// value is the very slice its length prefix announces, an error is the last item, and a row
/// read without error has exactly its declared number of values and no bytes left over.
/// Returns how many values were read.
pub(crate) fn check_data_row(row: DataRow<'_>, body: &[u8]) -> usize {
    let declared = row.len();
    assert_eq!(declared.is_err(), body.len() < 2);
    assert_eq!(row.is_empty().ok(), declared.as_ref().ok().map(|n| *n == 0));
    let mut values = row.values();
    let (mut read, mut at) = (0usize, 2usize);
    while let Some(value) = values.next() {
        match value {
            Ok(value) => {
                read += 1;
                let len = i32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes"));
                at += 4;
                match value {
                    None => assert_eq!(len, -1, "NULL is length -1"),
                    Some(v) => {
                        assert_eq!(Ok(v.len()), usize::try_from(len));
                        assert_eq!(v.as_ptr(), body[at..].as_ptr(), "the value is in place");
                        at += v.len();
                    }
                }
            }
            Err(_) => {
                assert!(values.next().is_none(), "an error ends the iteration");
                assert!(
                    !complete(&declared, read, at, body),
                    "an error on a whole row"
                );
                return read;
            }
        }
    }
    assert_eq!(Ok(read), declared.map(usize::from), "every declared value");
    assert_eq!(at, body.len(), "no bytes after the last value");
    read
}

/// Reads every field of a RowDescription over `body`, with the same honesty checks as
/// [`check_data_row`]: each name is the C string at its place, 18 bytes of numbers follow it.
pub(crate) fn check_row_description(description: RowDescription<'_>, body: &[u8]) -> usize {
    let declared = description.len();
    assert_eq!(declared.is_err(), body.len() < 2);
    assert_eq!(
        description.is_empty().ok(),
        declared.as_ref().ok().map(|n| *n == 0)
    );
    let mut fields = description.fields();
    let (mut read, mut at) = (0usize, 2usize);
    while let Some(field) = fields.next() {
        match field {
            Ok(field) => {
                read += 1;
                assert_eq!(
                    field.name.as_ptr(),
                    body[at..].as_ptr(),
                    "the name is in place"
                );
                assert!(!field.name.contains(&0));
                at += field.name.len() + 1;
                let be = |n: usize| &body[at + n..];
                assert_eq!(field.table_oid.to_be_bytes(), be(0)[..4]);
                assert_eq!(field.column.to_be_bytes(), be(4)[..2]);
                assert_eq!(field.type_oid.to_be_bytes(), be(6)[..4]);
                assert_eq!(field.type_len.to_be_bytes(), be(10)[..2]);
                assert_eq!(field.type_modifier.to_be_bytes(), be(12)[..4]);
                assert_eq!(field.format.to_be_bytes(), be(16)[..2]);
                at += 18;
            }
            Err(_) => {
                assert!(fields.next().is_none(), "an error ends the iteration");
                assert!(
                    !complete(&declared, read, at, body),
                    "an error on a whole description"
                );
                return read;
            }
        }
    }
    assert_eq!(Ok(read), declared.map(usize::from), "every declared field");
    assert_eq!(at, body.len(), "no bytes after the last field");
    read
}

/// True when `read` items are all that `declared` promised and they end the body at `at`.
fn complete(declared: &Result<u16, WireError>, read: usize, at: usize, body: &[u8]) -> bool {
    declared
        .as_ref()
        .is_ok_and(|n| usize::from(*n) == read && at == body.len())
}
