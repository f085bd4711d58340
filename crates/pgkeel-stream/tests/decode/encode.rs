//! A pgoutput encoder for tests: writes a [`Message`] the way PostgreSQL's `proto.c` does, so
//! that decoding can be checked against any value, not only those a server happens to send.

use bytes::{BufMut, Bytes, BytesMut};
use pgkeel_stream::pgoutput::{Datum, Message, OldTuple, Tuple};

/// The bytes of `m`. Optional xids and Stream Abort fields are written when present.
pub(super) fn encode(m: &Message) -> Bytes {
    let mut b = BytesMut::new();
    match m {
        Message::Begin {
            final_lsn,
            commit_time,
            xid,
        } => {
            b.put_u8(b'B');
            b.put_u64(final_lsn.0);
            b.put_i64(commit_time.0);
            b.put_u32(*xid);
        }
        Message::Commit {
            flags,
            commit_lsn,
            end_lsn,
            commit_time,
        } => {
            b.put_u8(b'C');
            b.put_u8(*flags);
            b.put_u64(commit_lsn.0);
            b.put_u64(end_lsn.0);
            b.put_i64(commit_time.0);
        }
        Message::Origin { commit_lsn, name } => {
            b.put_u8(b'O');
            b.put_u64(commit_lsn.0);
            string(&mut b, name);
        }
        Message::Relation(r) => {
            b.put_u8(b'R');
            xid(&mut b, r.xid);
            b.put_u32(r.oid);
            string(&mut b, &r.namespace);
            string(&mut b, &r.name);
            b.put_u8(r.replica_identity);
            b.put_u16(u16::try_from(r.columns.len()).unwrap());
            for c in &r.columns {
                b.put_u8(u8::from(c.key));
                string(&mut b, &c.name);
                b.put_u32(c.type_oid);
                b.put_i32(c.type_modifier);
            }
        }
        Message::Type {
            xid: x,
            oid,
            namespace,
            name,
        } => {
            b.put_u8(b'Y');
            xid(&mut b, *x);
            b.put_u32(*oid);
            string(&mut b, namespace);
            string(&mut b, name);
        }
        Message::Insert {
            xid: x,
            relation,
            new,
        } => {
            b.put_u8(b'I');
            xid(&mut b, *x);
            b.put_u32(*relation);
            b.put_u8(b'N');
            tuple(&mut b, new);
        }
        Message::Update {
            xid: x,
            relation,
            old,
            new,
        } => {
            b.put_u8(b'U');
            xid(&mut b, *x);
            b.put_u32(*relation);
            if let Some(old) = old {
                old_tuple(&mut b, old);
            }
            b.put_u8(b'N');
            tuple(&mut b, new);
        }
        Message::Delete {
            xid: x,
            relation,
            old,
        } => {
            b.put_u8(b'D');
            xid(&mut b, *x);
            b.put_u32(*relation);
            old_tuple(&mut b, old);
        }
        Message::Truncate {
            xid: x,
            cascade,
            restart_identity,
            relations,
        } => {
            b.put_u8(b'T');
            xid(&mut b, *x);
            b.put_i32(i32::try_from(relations.len()).unwrap());
            b.put_u8(u8::from(*cascade) | u8::from(*restart_identity) << 1);
            for r in relations {
                b.put_u32(*r);
            }
        }
        Message::LogicalMessage {
            xid: x,
            transactional,
            lsn,
            prefix,
            content,
        } => {
            b.put_u8(b'M');
            xid(&mut b, *x);
            b.put_u8(u8::from(*transactional));
            b.put_u64(lsn.0);
            string(&mut b, prefix);
            b.put_i32(i32::try_from(content.len()).unwrap());
            b.put_slice(content);
        }
        Message::StreamStart { xid, first_segment } => {
            b.put_u8(b'S');
            b.put_u32(*xid);
            b.put_u8(u8::from(*first_segment));
        }
        Message::StreamStop => b.put_u8(b'E'),
        Message::StreamCommit {
            xid,
            flags,
            commit_lsn,
            end_lsn,
            commit_time,
        } => {
            b.put_u8(b'c');
            b.put_u32(*xid);
            b.put_u8(*flags);
            b.put_u64(commit_lsn.0);
            b.put_u64(end_lsn.0);
            b.put_i64(commit_time.0);
        }
        Message::StreamAbort {
            xid,
            subxid,
            abort_lsn,
            abort_time,
        } => {
            b.put_u8(b'A');
            b.put_u32(*xid);
            b.put_u32(*subxid);
            if let Some(lsn) = abort_lsn {
                b.put_u64(lsn.0);
            }
            if let Some(time) = abort_time {
                b.put_i64(time.0);
            }
        }
        Message::BeginPrepare {
            prepare_lsn,
            end_lsn,
            prepare_time,
            xid,
            gid,
        } => {
            b.put_u8(b'b');
            b.put_u64(prepare_lsn.0);
            b.put_u64(end_lsn.0);
            b.put_i64(prepare_time.0);
            b.put_u32(*xid);
            string(&mut b, gid);
        }
        Message::Prepare {
            flags,
            prepare_lsn,
            end_lsn,
            prepare_time,
            xid,
            gid,
        }
        | Message::StreamPrepare {
            flags,
            prepare_lsn,
            end_lsn,
            prepare_time,
            xid,
            gid,
        } => {
            let tag = if matches!(m, Message::Prepare { .. }) {
                b'P'
            } else {
                b'p'
            };
            b.put_u8(tag);
            b.put_u8(*flags);
            b.put_u64(prepare_lsn.0);
            b.put_u64(end_lsn.0);
            b.put_i64(prepare_time.0);
            b.put_u32(*xid);
            string(&mut b, gid);
        }
        Message::CommitPrepared {
            flags,
            commit_lsn,
            end_lsn,
            commit_time,
            xid,
            gid,
        } => {
            b.put_u8(b'K');
            b.put_u8(*flags);
            b.put_u64(commit_lsn.0);
            b.put_u64(end_lsn.0);
            b.put_i64(commit_time.0);
            b.put_u32(*xid);
            string(&mut b, gid);
        }
        Message::RollbackPrepared {
            flags,
            prepare_end_lsn,
            rollback_end_lsn,
            prepare_time,
            rollback_time,
            xid,
            gid,
        } => {
            b.put_u8(b'r');
            b.put_u8(*flags);
            b.put_u64(prepare_end_lsn.0);
            b.put_u64(rollback_end_lsn.0);
            b.put_i64(prepare_time.0);
            b.put_i64(rollback_time.0);
            b.put_u32(*xid);
            string(&mut b, gid);
        }
    }
    b.freeze()
}

fn xid(b: &mut BytesMut, xid: Option<u32>) {
    if let Some(xid) = xid {
        b.put_u32(xid);
    }
}

fn string(b: &mut BytesMut, s: &str) {
    b.put_slice(s.as_bytes());
    b.put_u8(0);
}

fn old_tuple(b: &mut BytesMut, old: &OldTuple) {
    b.put_u8(match old {
        OldTuple::Key(_) => b'K',
        OldTuple::Full(_) => b'O',
    });
    tuple(b, old.tuple());
}

fn tuple(b: &mut BytesMut, t: &Tuple) {
    b.put_u16(u16::try_from(t.len()).unwrap());
    for d in t {
        match d {
            Datum::Null => b.put_u8(b'n'),
            Datum::UnchangedToast => b.put_u8(b'u'),
            Datum::Text(v) | Datum::Binary(v) => {
                b.put_u8(if matches!(d, Datum::Text(_)) {
                    b't'
                } else {
                    b'b'
                });
                b.put_i32(i32::try_from(v.len()).unwrap());
                b.put_slice(v);
            }
        }
    }
}
