//! Puts decoded pgoutput messages back together into committed transactions of events, in
//! commit order: plain transactions (Begin … Commit), streamed ones (Stream Start/Stop blocks,
//! buffered until Stream Commit; dropped on Stream Abort, or partly for a subtransaction), and
//! two-phase ones (held from Prepare until Commit Prepared; dropped on Rollback Prepared).
//! An aborted transaction never reaches a sink.

use std::collections::HashMap;

use crate::convert::Relations;
use crate::error::Error;
use crate::event::Event;
use crate::lsn::Lsn;
use crate::pgoutput::{Message, PgTimestamp, Xid};
use crate::value::iso8601;

/// Logical messages with this prefix are the stream's own heartbeats: they move the position
/// but are not delivered.
pub(crate) const HEARTBEAT_PREFIX: &str = "pgkeel.heartbeat";

/// A committed transaction, ready for delivery. Confirm `end_lsn` once its events are durable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transaction {
    /// Absent for a non-transactional logical message.
    pub xid: Option<Xid>,
    /// Where the commit record is.
    pub commit_lsn: Lsn,
    /// Where the commit record ends: the position to confirm once delivered.
    pub end_lsn: Lsn,
    /// When the transaction committed.
    pub commit_time: PgTimestamp,
    /// May be empty (a heartbeat, or a transaction on unpublished tables).
    pub events: Vec<Event>,
}

/// A transaction whose changes are being received.
#[derive(Debug)]
struct Open {
    xid: Xid,
    /// Each event with the (sub)transaction that made it (streamed changes carry their subxid).
    events: Vec<(Xid, Event)>,
}

/// A prepared transaction waiting for COMMIT/ROLLBACK PREPARED.
#[derive(Debug)]
struct Prepared {
    prepare_lsn: Lsn,
    events: Vec<Event>,
}

/// The assembler's state for one replication connection.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    relations: Relations,
    /// The plain (or being-prepared) transaction in progress.
    open: Option<Open>,
    /// Whether `open` is a two-phase transaction between Begin Prepare and Prepare.
    preparing: Option<(String, Lsn)>,
    /// Streamed transactions by top-level xid.
    streamed: HashMap<Xid, Vec<(Xid, Event)>>,
    /// The streamed transaction whose block is open (between Stream Start and Stop).
    streaming: Option<Xid>,
    /// Prepared transactions by GID.
    prepared: HashMap<String, Prepared>,
}

impl Assembler {
    /// An assembler that converts values of the given non-built-in types (see
    /// [`crate::value::CustomType`]).
    pub(crate) fn with_types(
        types: std::collections::HashMap<u32, crate::value::CustomType>,
    ) -> Self {
        let mut assembler = Self::default();
        assembler.relations.set_types(types);
        assembler
    }

    /// True when `message` names a type that is not built in and not known yet (a Type
    /// message, or a Relation message's column): `pg_type` should be read again.
    pub(crate) fn needs_types(&self, message: &Message) -> bool {
        match message {
            Message::Type { oid, .. } => !self.relations.knows_type(*oid),
            Message::Relation(relation) => relation
                .columns
                .iter()
                .any(|c| !self.relations.knows_type(c.type_oid)),
            _ => false,
        }
    }

    /// Replaces the known non-built-in types.
    pub(crate) fn set_types(
        &mut self,
        types: std::collections::HashMap<u32, crate::value::CustomType>,
    ) {
        self.relations.set_types(types);
    }

    /// Stops asking for the types unknown now (after reading pg_type failed).
    pub(crate) fn give_up_on_unknown_types(&mut self) {
        self.relations.mark_unknown_types_as_text();
    }

    /// True when no transaction is partly received or prepared: the position may then move
    /// to the server's keepalive position.
    pub(crate) fn idle(&self) -> bool {
        self.open.is_none() && self.streamed.is_empty() && self.prepared.is_empty()
    }

    /// The earliest position that must not be confirmed yet: a prepared transaction's
    /// prepare record (confirming past it would make the server not send it again).
    pub(crate) fn hold_back(&self) -> Option<Lsn> {
        self.prepared.values().map(|p| p.prepare_lsn).min()
    }

    /// Takes one message (found at `lsn` in the WAL); returns a transaction when one
    /// committed.
    pub(crate) fn push(
        &mut self,
        lsn: Lsn,
        message: Message,
    ) -> Result<Option<Transaction>, Error> {
        match message {
            Message::Begin { xid, .. } => {
                self.begin(xid)?;
                Ok(None)
            }
            Message::Commit {
                commit_lsn,
                end_lsn,
                commit_time,
                ..
            } => {
                let open = self.take_open("Commit")?;
                Ok(Some(finish(
                    Some(open.xid),
                    commit_lsn,
                    end_lsn,
                    commit_time,
                    open.events,
                )))
            }
            Message::Relation(relation) => {
                let xid = relation.xid;
                match self.relations.insert(relation, lsn) {
                    // A new layout of a known table: its schema event goes before the change
                    // that follows, in the same transaction.
                    Some(schema) => self.place(xid, vec![schema]).map(|()| None),
                    None => Ok(None),
                }
            }
            Message::Origin { .. } | Message::Type { .. } => Ok(None),
            Message::StreamStart { xid, .. } => {
                if let Some(other) = self.streaming {
                    return Err(Error::protocol(format!(
                        "Stream Start for transaction {xid} inside the open block of {other}"
                    )));
                }
                self.streaming = Some(xid);
                self.streamed.entry(xid).or_default();
                Ok(None)
            }
            Message::StreamStop => {
                self.streaming = None;
                Ok(None)
            }
            Message::StreamCommit {
                xid,
                commit_lsn,
                end_lsn,
                commit_time,
                ..
            } => {
                let events = self.streamed.remove(&xid).unwrap_or_default();
                Ok(Some(finish(
                    Some(xid),
                    commit_lsn,
                    end_lsn,
                    commit_time,
                    events,
                )))
            }
            Message::StreamAbort { xid, subxid, .. } => {
                if xid == subxid {
                    self.streamed.remove(&xid);
                } else if let Some(events) = self.streamed.get_mut(&xid) {
                    // A subtransaction and everything after its first change (its own
                    // subtransactions) is rolled back.
                    if let Some(first) = events.iter().position(|(sub, _)| *sub == subxid) {
                        events.truncate(first);
                    }
                }
                Ok(None)
            }
            Message::BeginPrepare {
                xid,
                gid,
                prepare_lsn,
                ..
            } => {
                self.begin(xid)?;
                self.preparing = Some((gid, prepare_lsn));
                Ok(None)
            }
            Message::Prepare { gid, .. } => {
                let open = self.take_open("Prepare")?;
                let prepare_lsn = match self.preparing.take() {
                    Some((_, lsn)) => lsn,
                    None => {
                        return Err(Error::protocol(format!(
                            "Prepare of {gid:?} without Begin Prepare"
                        )));
                    }
                };
                let events = open.events.into_iter().map(|(_, e)| e).collect();
                self.prepared.insert(
                    gid,
                    Prepared {
                        prepare_lsn,
                        events,
                    },
                );
                Ok(None)
            }
            Message::StreamPrepare {
                xid,
                gid,
                prepare_lsn,
                ..
            } => {
                let events = self.streamed.remove(&xid).unwrap_or_default();
                let events = events.into_iter().map(|(_, e)| e).collect();
                self.prepared.insert(
                    gid,
                    Prepared {
                        prepare_lsn,
                        events,
                    },
                );
                Ok(None)
            }
            Message::CommitPrepared {
                xid,
                gid,
                commit_lsn,
                end_lsn,
                commit_time,
                ..
            } => {
                // Unknown GID: it was prepared before our start position and its changes
                // were confirmed with the prepare; nothing to deliver but the position.
                let events = self
                    .prepared
                    .remove(&gid)
                    .map(|p| p.events)
                    .unwrap_or_default();
                let events = events.into_iter().map(|e| (xid, e)).collect();
                Ok(Some(finish(
                    Some(xid),
                    commit_lsn,
                    end_lsn,
                    commit_time,
                    events,
                )))
            }
            Message::RollbackPrepared { gid, .. } => {
                self.prepared.remove(&gid);
                Ok(None)
            }
            change @ (Message::Insert { .. }
            | Message::Update { .. }
            | Message::Delete { .. }
            | Message::Truncate { .. }
            | Message::LogicalMessage { .. }) => self.change(lsn, change),
        }
    }

    fn begin(&mut self, xid: Xid) -> Result<(), Error> {
        if let Some(open) = &self.open {
            return Err(Error::protocol(format!(
                "Begin of transaction {xid} while {} is still open",
                open.xid
            )));
        }
        self.open = Some(Open {
            xid,
            events: Vec::new(),
        });
        Ok(())
    }

    fn take_open(&mut self, what: &str) -> Result<Open, Error> {
        self.open
            .take()
            .ok_or_else(|| Error::protocol(format!("{what} without an open transaction")))
    }

    fn change(&mut self, lsn: Lsn, message: Message) -> Result<Option<Transaction>, Error> {
        if let Message::LogicalMessage {
            transactional: false,
            prefix,
            lsn: at,
            ..
        } = &message
        {
            // Not part of any transaction: delivered at once, on its own (heartbeats: only
            // the position).
            let at = *at;
            let events = if prefix == HEARTBEAT_PREFIX {
                Vec::new()
            } else {
                self.relations.events(message, at)?
            };
            let events = events.into_iter().map(|e| (0, e)).collect();
            return Ok(Some(finish(None, at, at, PgTimestamp(0), events)));
        }
        let xid = match &message {
            Message::Insert { xid, .. }
            | Message::Update { xid, .. }
            | Message::Delete { xid, .. }
            | Message::Truncate { xid, .. }
            | Message::LogicalMessage { xid, .. } => *xid,
            _ => None,
        };
        let events = self.relations.events(message, lsn)?;
        self.place(xid, events)?;
        Ok(None)
    }

    /// Adds events to the transaction they belong to: the streamed one whose block is open
    /// (by subtransaction `xid`), or the open plain one.
    fn place(&mut self, xid: Option<Xid>, events: Vec<Event>) -> Result<(), Error> {
        match (self.streaming, xid) {
            (Some(top), Some(sub)) => {
                let buffer = self.streamed.entry(top).or_default();
                buffer.extend(events.into_iter().map(|e| (sub, e)));
            }
            _ => {
                let open = self.open.as_mut().ok_or_else(|| {
                    Error::protocol("a change outside any transaction (no Begin before it)")
                })?;
                let xid = open.xid;
                open.events.extend(events.into_iter().map(|e| (xid, e)));
            }
        }
        Ok(())
    }
}

/// Stamps commit position, time, xid and ordinals onto the events of a committed transaction.
fn finish(
    xid: Option<Xid>,
    commit_lsn: Lsn,
    end_lsn: Lsn,
    commit_time: PgTimestamp,
    events: Vec<(Xid, Event)>,
) -> Transaction {
    let time = xid.map(|_| iso8601(commit_time));
    let events = events
        .into_iter()
        .enumerate()
        .map(|(ordinal, (_, mut event))| {
            event.commit_lsn = commit_lsn;
            event.commit_time = time.clone();
            event.ordinal = ordinal as u32;
            event.xid = xid;
            event
        })
        .collect();
    Transaction {
        xid,
        commit_lsn,
        end_lsn,
        commit_time,
        events,
    }
}
