//! `Decoder`: one pgoutput message (one XLogData payload) in, one [`Message`] out, for protocol
//! versions 1 to 4. Keeps the only state the format needs: whether a streamed block is open
//! (between Stream Start and Stream Stop, changes carry the xid of their transaction first).

use bytes::Bytes;

use super::error::{DecodeError, DecodeErrorKind as Kind};
use super::message::{Column, Datum, Message, OldTuple, PgTimestamp, Relation, Tuple, Xid};
use super::reader::{ReadError, Reader};
use crate::lsn::Lsn;

/// The highest protocol version this decoder knows; higher versions are decoded as this one.
pub const MAX_PROTO_VERSION: u32 = 4;

/// Decodes the pgoutput messages of one replication stream, in order.
///
/// Create one per `START_REPLICATION` (or per `pg_logical_slot_*_binary_changes` call) with the
/// `proto_version` that was requested, and feed it every message: a message that comes only
/// with a later version is an error, and the xid that changes carry inside a streamed block is
/// recognised from the Stream Start / Stream Stop messages seen before.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: u32,
    in_stream: bool,
}

impl Decoder {
    /// A decoder for this protocol version (1 to 4; 0 is taken as 1 and anything above 4 as 4).
    pub fn new(proto_version: u32) -> Self {
        Decoder {
            version: proto_version.clamp(1, MAX_PROTO_VERSION),
            in_stream: false,
        }
    }

    /// The protocol version messages are decoded with.
    pub fn proto_version(&self) -> u32 {
        self.version
    }

    /// True between a Stream Start and its Stream Stop.
    pub fn in_stream(&self) -> bool {
        self.in_stream
    }

    /// Forgets an open streamed block, as when a new replication connection starts.
    pub fn reset(&mut self) {
        self.in_stream = false;
    }

    /// Decodes one message. Text and binary values and logical-message contents are slices of
    /// `data` (no copy). On error the decoder's state is unchanged.
    pub fn decode(&mut self, data: &Bytes) -> Result<Message, DecodeError> {
        let Some(&tag) = data.first() else {
            return Err(DecodeError::new(None, 0, Kind::Empty));
        };
        let fail = |(offset, kind): ReadError| DecodeError::new(Some(tag), offset, kind);
        let needs = min_version(tag);
        if needs > self.version {
            return Err(fail((
                0,
                Kind::NotInProtocolVersion {
                    needs,
                    version: self.version,
                },
            )));
        }
        let mut r = Reader::after_tag(data);
        let message = self.body(tag, &mut r).map_err(fail)?;
        if r.remaining() > 0 {
            return Err(fail((
                r.pos(),
                Kind::TrailingBytes {
                    count: r.remaining(),
                },
            )));
        }
        match message {
            Message::StreamStart { .. } => self.in_stream = true,
            Message::StreamStop => self.in_stream = false,
            _ => {}
        }
        Ok(message)
    }

    fn body(&self, tag: u8, r: &mut Reader<'_>) -> Result<Message, ReadError> {
        Ok(match tag {
            b'B' => Message::Begin {
                final_lsn: lsn(r, "final LSN")?,
                commit_time: time(r, "commit timestamp")?,
                xid: r.u32("xid")?,
            },
            b'C' => Message::Commit {
                flags: r.u8("flags")?,
                commit_lsn: lsn(r, "commit LSN")?,
                end_lsn: lsn(r, "end LSN")?,
                commit_time: time(r, "commit timestamp")?,
            },
            b'O' => Message::Origin {
                commit_lsn: lsn(r, "origin commit LSN")?,
                name: r.string("origin name")?,
            },
            b'R' => Message::Relation(self.relation(r)?),
            b'Y' => Message::Type {
                xid: self.stream_xid(r)?,
                oid: r.u32("type oid")?,
                namespace: r.string("type namespace")?,
                name: r.string("type name")?,
            },
            b'I' => {
                let xid = self.stream_xid(r)?;
                let relation = r.u32("relation oid")?;
                expect_kind(r, b"N", "N")?;
                Message::Insert {
                    xid,
                    relation,
                    new: tuple(r)?,
                }
            }
            b'U' => self.update(r)?,
            b'D' => {
                let xid = self.stream_xid(r)?;
                let relation = r.u32("relation oid")?;
                let kind = expect_kind(r, b"KO", "K or O")?;
                Message::Delete {
                    xid,
                    relation,
                    old: old_tuple(kind, tuple(r)?),
                }
            }
            b'T' => self.truncate(r)?,
            b'M' => {
                let xid = self.stream_xid(r)?;
                let flags = r.u8("flags")?;
                let lsn = lsn(r, "message LSN")?;
                let prefix = r.string("message prefix")?;
                let len = r.len32("content length")?;
                Message::LogicalMessage {
                    xid,
                    transactional: flags & 1 != 0,
                    lsn,
                    prefix,
                    content: r.bytes(len, "content")?,
                }
            }
            b'S' => Message::StreamStart {
                xid: r.u32("xid")?,
                first_segment: r.u8("first segment flag")? != 0,
            },
            b'E' => Message::StreamStop,
            b'c' => Message::StreamCommit {
                xid: r.u32("xid")?,
                flags: r.u8("flags")?,
                commit_lsn: lsn(r, "commit LSN")?,
                end_lsn: lsn(r, "end LSN")?,
                commit_time: time(r, "commit timestamp")?,
            },
            b'A' => {
                let xid = r.u32("xid")?;
                let subxid = r.u32("subtransaction xid")?;
                // Protocol 4 adds the abort LSN and time, but only with parallel streaming:
                // whether they are there shows in the length.
                let (abort_lsn, abort_time) = if self.version >= 4 && r.remaining() > 0 {
                    (
                        Some(lsn(r, "abort LSN")?),
                        Some(time(r, "abort timestamp")?),
                    )
                } else {
                    (None, None)
                };
                Message::StreamAbort {
                    xid,
                    subxid,
                    abort_lsn,
                    abort_time,
                }
            }
            b'b' => Message::BeginPrepare {
                prepare_lsn: lsn(r, "prepare LSN")?,
                end_lsn: lsn(r, "end LSN")?,
                prepare_time: time(r, "prepare timestamp")?,
                xid: r.u32("xid")?,
                gid: r.string("gid")?,
            },
            b'P' | b'p' => {
                let flags = r.u8("flags")?;
                let prepare_lsn = lsn(r, "prepare LSN")?;
                let end_lsn = lsn(r, "end LSN")?;
                let prepare_time = time(r, "prepare timestamp")?;
                let xid = r.u32("xid")?;
                let gid = r.string("gid")?;
                if tag == b'P' {
                    Message::Prepare {
                        flags,
                        prepare_lsn,
                        end_lsn,
                        prepare_time,
                        xid,
                        gid,
                    }
                } else {
                    Message::StreamPrepare {
                        flags,
                        prepare_lsn,
                        end_lsn,
                        prepare_time,
                        xid,
                        gid,
                    }
                }
            }
            b'K' => Message::CommitPrepared {
                flags: r.u8("flags")?,
                commit_lsn: lsn(r, "commit LSN")?,
                end_lsn: lsn(r, "end LSN")?,
                commit_time: time(r, "commit timestamp")?,
                xid: r.u32("xid")?,
                gid: r.string("gid")?,
            },
            b'r' => Message::RollbackPrepared {
                flags: r.u8("flags")?,
                prepare_end_lsn: lsn(r, "prepare end LSN")?,
                rollback_end_lsn: lsn(r, "rollback end LSN")?,
                prepare_time: time(r, "prepare timestamp")?,
                rollback_time: time(r, "rollback timestamp")?,
                xid: r.u32("xid")?,
                gid: r.string("gid")?,
            },
            _ => return Err((0, Kind::UnknownTag)),
        })
    }

    /// The xid that R, Y, I, U, D, T and M carry inside a streamed block.
    fn stream_xid(&self, r: &mut Reader<'_>) -> Result<Option<Xid>, ReadError> {
        if self.in_stream {
            r.u32("streamed transaction xid").map(Some)
        } else {
            Ok(None)
        }
    }

    fn relation(&self, r: &mut Reader<'_>) -> Result<Relation, ReadError> {
        let xid = self.stream_xid(r)?;
        let oid = r.u32("relation oid")?;
        let namespace = r.string("relation namespace")?;
        let name = r.string("relation name")?;
        let replica_identity = r.u8("replica identity")?;
        let count = usize::from(r.u16("column count")?);
        // Each column takes at least 10 bytes: never reserve more than the message can hold.
        let mut columns = Vec::with_capacity(count.min(r.remaining() / 10));
        for _ in 0..count {
            let flags = r.u8("column flags")?;
            columns.push(Column {
                key: flags & 1 != 0,
                name: r.string("column name")?,
                type_oid: r.u32("column type oid")?,
                type_modifier: r.i32("column type modifier")?,
            });
        }
        Ok(Relation {
            xid,
            oid,
            namespace,
            name,
            replica_identity,
            columns,
        })
    }

    fn update(&self, r: &mut Reader<'_>) -> Result<Message, ReadError> {
        let xid = self.stream_xid(r)?;
        let relation = r.u32("relation oid")?;
        let kind = expect_kind(r, b"KON", "K, O or N")?;
        let old = if kind == b'N' {
            None
        } else {
            let old = old_tuple(kind, tuple(r)?);
            expect_kind(r, b"N", "N")?;
            Some(old)
        };
        Ok(Message::Update {
            xid,
            relation,
            old,
            new: tuple(r)?,
        })
    }

    fn truncate(&self, r: &mut Reader<'_>) -> Result<Message, ReadError> {
        let xid = self.stream_xid(r)?;
        let count = r.len32("relation count")?;
        let options = r.u8("option bits")?;
        let mut relations = Vec::with_capacity(count.min(r.remaining() / 4));
        for _ in 0..count {
            relations.push(r.u32("relation oid")?);
        }
        Ok(Message::Truncate {
            xid,
            cascade: options & 1 != 0,
            restart_identity: options & 2 != 0,
            relations,
        })
    }
}

/// The first protocol version that has the message with this tag.
fn min_version(tag: u8) -> u32 {
    match tag {
        b'S' | b'E' | b'c' | b'A' => 2,
        b'b' | b'P' | b'K' | b'r' | b'p' => 3,
        _ => 1,
    }
}

fn lsn(r: &mut Reader<'_>, field: &'static str) -> Result<Lsn, ReadError> {
    r.u64(field).map(Lsn)
}

fn time(r: &mut Reader<'_>, field: &'static str) -> Result<PgTimestamp, ReadError> {
    r.i64(field).map(PgTimestamp)
}

/// Reads the byte announcing a tuple and checks it is one of `allowed`.
fn expect_kind(
    r: &mut Reader<'_>,
    allowed: &'static [u8],
    expected: &'static str,
) -> Result<u8, ReadError> {
    let at = r.pos();
    let found = r.u8("tuple kind")?;
    if allowed.contains(&found) {
        Ok(found)
    } else {
        Err((at, Kind::BadTupleKind { expected, found }))
    }
}

fn old_tuple(kind: u8, tuple: Tuple) -> OldTuple {
    if kind == b'O' {
        OldTuple::Full(tuple)
    } else {
        OldTuple::Key(tuple)
    }
}

/// `TupleData`: a column count, then one kind byte per column and, for `t` and `b`, a length
/// and the value.
fn tuple(r: &mut Reader<'_>) -> Result<Tuple, ReadError> {
    let count = usize::from(r.u16("tuple column count")?);
    // Each value takes at least one byte: never reserve more than the message can hold.
    let mut values = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        let at = r.pos();
        values.push(match r.u8("column value kind")? {
            b'n' => Datum::Null,
            b'u' => Datum::UnchangedToast,
            b't' => {
                let len = r.len32("column value length")?;
                Datum::Text(r.bytes(len, "column value")?)
            }
            b'b' => {
                let len = r.len32("column value length")?;
                Datum::Binary(r.bytes(len, "column value")?)
            }
            found => return Err((at, Kind::BadDatumKind { found })),
        });
    }
    Ok(values)
}
