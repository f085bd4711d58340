//! The messages of the pgoutput logical replication protocol (versions 1–4), decoded. Field
//! names follow the PostgreSQL documentation ("Logical Replication Message Formats").

use bytes::Bytes;

use crate::lsn::Lsn;

/// Microseconds since 2000-01-01 00:00:00 UTC, as PostgreSQL sends timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PgTimestamp(pub i64);

impl PgTimestamp {
    /// The wall-clock time; `None` when it does not fit a `SystemTime` (e.g. `infinity`).
    pub fn to_system_time(self) -> Option<std::time::SystemTime> {
        pgkeel_wire::pg_time::from_postgres_micros(self.0)
    }
}

/// A transaction id.
pub type Xid = u32;

/// An object id (relation or type).
pub type Oid = u32;

/// One decoded pgoutput message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `B`: a transaction begins.
    Begin {
        /// The LSN of the commit record (the transaction's final LSN).
        final_lsn: Lsn,
        /// When the transaction committed.
        commit_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
    },
    /// `C`: the transaction commits.
    Commit {
        /// Unused (0).
        flags: u8,
        /// The LSN of the commit record.
        commit_lsn: Lsn,
        /// The end of the commit record: the position to confirm once it is durable.
        end_lsn: Lsn,
        /// When the transaction committed.
        commit_time: PgTimestamp,
    },
    /// `O`: the transaction was replicated from another node.
    Origin {
        /// The LSN of the commit on the origin server.
        commit_lsn: Lsn,
        /// The origin's name.
        name: String,
    },
    /// `R`: the layout of a relation; sent before its first change in a session and after it
    /// changed.
    Relation(Relation),
    /// `Y`: a non-built-in type used by a following relation.
    Type {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// The type's oid.
        oid: Oid,
        /// Its schema; empty for `pg_catalog`.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// `I`.
    Insert {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// The oid of the relation (sent before in a [`Message::Relation`]).
        relation: Oid,
        /// The new row.
        new: Tuple,
    },
    /// `U`. `old` is the key (`K`, the replica identity changed) or the whole old row (`O`,
    /// REPLICA IDENTITY FULL); absent otherwise.
    Update {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// The oid of the relation (sent before in a [`Message::Relation`]).
        relation: Oid,
        /// The old key or row, when sent.
        old: Option<OldTuple>,
        /// The new row; TOASTed values that did not change are [`Datum::UnchangedToast`].
        new: Tuple,
    },
    /// `D`: the key (`K`) or, with REPLICA IDENTITY FULL, the whole old row (`O`).
    Delete {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// The oid of the relation (sent before in a [`Message::Relation`]).
        relation: Oid,
        /// The deleted row's key or whole row.
        old: OldTuple,
    },
    /// `T`.
    Truncate {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// `TRUNCATE ... CASCADE`.
        cascade: bool,
        /// `TRUNCATE ... RESTART IDENTITY`.
        restart_identity: bool,
        /// The truncated relations (with CASCADE, also those reached through foreign keys).
        relations: Vec<Oid>,
    },
    /// `M`: `pg_logical_emit_message`.
    LogicalMessage {
        /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
        xid: Option<Xid>,
        /// Emitted as part of its transaction (delivered between Begin and Commit) rather than
        /// immediately.
        transactional: bool,
        /// The LSN of the message.
        lsn: Lsn,
        /// The prefix given to `pg_logical_emit_message`.
        prefix: String,
        /// The content, as given.
        content: Bytes,
    },
    /// `S`: a chunk of a large in-progress transaction follows (protocol ≥ 2, streaming on).
    StreamStart {
        /// The streamed transaction's xid.
        xid: Xid,
        /// The first chunk of this transaction.
        first_segment: bool,
    },
    /// `E`: the chunk ends.
    StreamStop,
    /// `c`: a streamed transaction commits.
    StreamCommit {
        /// The streamed transaction's xid.
        xid: Xid,
        /// Unused (0).
        flags: u8,
        /// The LSN of the commit record.
        commit_lsn: Lsn,
        /// The end of the commit record: the position to confirm once it is durable.
        end_lsn: Lsn,
        /// When the transaction committed.
        commit_time: PgTimestamp,
    },
    /// `A`: a streamed (sub)transaction aborts. `xid == subxid` aborts the whole transaction.
    /// `abort_lsn`/`abort_time` come only with protocol 4 and parallel streaming.
    StreamAbort {
        /// The streamed (top-level) transaction's xid.
        xid: Xid,
        /// The aborted subtransaction's xid; equal to `xid` when the whole transaction aborts.
        subxid: Xid,
        /// The LSN of the abort record (protocol 4, parallel streaming).
        abort_lsn: Option<Lsn>,
        /// When the transaction aborted (protocol 4, parallel streaming).
        abort_time: Option<PgTimestamp>,
    },
    /// `b`: a transaction prepared for two-phase commit begins (protocol ≥ 3, two_phase on).
    BeginPrepare {
        /// The LSN of the prepare record.
        prepare_lsn: Lsn,
        /// The end of the prepared transaction.
        end_lsn: Lsn,
        /// When the transaction was prepared.
        prepare_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
        /// The global transaction id given to `PREPARE TRANSACTION`.
        gid: String,
    },
    /// `P`: the end of a prepared transaction's changes.
    Prepare {
        /// Unused (0).
        flags: u8,
        /// The LSN of the prepare record.
        prepare_lsn: Lsn,
        /// The end of the prepared transaction.
        end_lsn: Lsn,
        /// When the transaction was prepared.
        prepare_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
        /// The global transaction id given to `PREPARE TRANSACTION`.
        gid: String,
    },
    /// `K`: `COMMIT PREPARED`.
    CommitPrepared {
        /// Unused (0).
        flags: u8,
        /// The LSN of the commit prepared record.
        commit_lsn: Lsn,
        /// The end of the commit prepared record: the position to confirm.
        end_lsn: Lsn,
        /// When it was committed.
        commit_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
        /// The global transaction id.
        gid: String,
    },
    /// `r`: `ROLLBACK PREPARED`.
    RollbackPrepared {
        /// Unused (0).
        flags: u8,
        /// The end of the prepared transaction.
        prepare_end_lsn: Lsn,
        /// The end of the rollback prepared record: the position to confirm.
        rollback_end_lsn: Lsn,
        /// When the transaction was prepared.
        prepare_time: PgTimestamp,
        /// When it was rolled back.
        rollback_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
        /// The global transaction id.
        gid: String,
    },
    /// `p`: a streamed transaction is prepared.
    StreamPrepare {
        /// Unused (0).
        flags: u8,
        /// The LSN of the prepare record.
        prepare_lsn: Lsn,
        /// The end of the prepared transaction.
        end_lsn: Lsn,
        /// When the transaction was prepared.
        prepare_time: PgTimestamp,
        /// The transaction's xid.
        xid: Xid,
        /// The global transaction id given to `PREPARE TRANSACTION`.
        gid: String,
    },
}

/// A relation's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// The transaction's xid; only inside a streamed block (between Stream Start and Stop).
    pub xid: Option<Xid>,
    /// The relation's oid, as later changes name it.
    pub oid: Oid,
    /// Its schema; empty for `pg_catalog`.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `d` default (primary key), `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    /// The published columns, in order (generated columns are not sent).
    pub columns: Vec<Column>,
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Part of the replica identity (the key).
    pub key: bool,
    /// The column's name.
    pub name: String,
    /// The oid of its type.
    pub type_oid: Oid,
    /// Its type modifier (`atttypmod`; -1 when none, e.g. `varchar(10)` sends 14).
    pub type_modifier: i32,
}

/// The old row of an update or delete.
#[derive(Debug, Clone, PartialEq)]
pub enum OldTuple {
    /// `K`: only the replica identity columns are meaningful (others are null).
    Key(Tuple),
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full(Tuple),
}

impl OldTuple {
    /// The tuple, whichever kind.
    pub fn tuple(&self) -> &Tuple {
        match self {
            OldTuple::Key(t) | OldTuple::Full(t) => t,
        }
    }
}

/// A row: one value per column of the relation, in order.
pub type Tuple = Vec<Datum>;

/// One column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    /// `n`.
    Null,
    /// `u`: an unchanged TOASTed value; the actual value is not sent.
    UnchangedToast,
    /// `t`: the value in its text form.
    Text(Bytes),
    /// `b`: the value in its binary form (binary mode).
    Binary(Bytes),
}
