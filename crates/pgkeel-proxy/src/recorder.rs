//! The recording: a bounded ring of every message the proxy saw (connection, sequence,
//! monotonic time, direction, type, length, summary, the rule that fired), filled in batches so
//! a connection takes the lock once per socket read, not once per message.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pgkeel_wire::{Direction, FrameRef, MessageType};
use serde::Serialize;

use crate::summary::summarize;

/// One recorded message.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Position in the recording (global, increasing).
    pub seq: u64,
    /// Connection id.
    pub conn: u64,
    /// Microseconds since the proxy started (monotonic).
    pub at_us: u64,
    /// `client` (sent by the client) or `server`.
    #[serde(serialize_with = "sender")]
    pub from: Direction,
    /// Message type name.
    #[serde(serialize_with = "type_name")]
    pub message: MessageType,
    /// Length in bytes, header included.
    pub len: u32,
    /// Query text, command tag, SQLSTATE and message, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// True for the connection's first packet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub initial: bool,
    /// Index of the rule that fired on this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    /// The action it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

impl Record {
    /// The entry for a message the proxy saw (sequence number assigned when pushed); TLS bytes
    /// passed through are summarised as such.
    pub(crate) fn of_frame(
        recorder: &Recorder,
        conn: u64,
        frame: &FrameRef<'_>,
        ty: MessageType,
    ) -> Record {
        let summary = if ty == MessageType::Unknown && frame.tag() == Some(0) {
            "TLS data".to_owned()
        } else {
            summarize(frame, ty)
        };
        Record::new(
            recorder,
            conn,
            frame.direction(),
            ty,
            frame.len() as u32,
            summary,
        )
    }

    /// The entry for a message the proxy itself sent (e.g. its answer to SSLRequest).
    pub(crate) fn new(
        recorder: &Recorder,
        conn: u64,
        from: Direction,
        message: MessageType,
        len: u32,
        summary: String,
    ) -> Record {
        Record {
            seq: 0,
            conn,
            at_us: recorder.now_us(),
            from,
            message,
            len,
            summary,
            initial: false,
            rule: None,
            action: None,
        }
    }

    /// Marks the connection's first packet.
    pub(crate) fn initial(mut self, initial: bool) -> Record {
        self.initial = initial;
        self
    }

    /// The rule that fired on the message and the action it took.
    pub(crate) fn fired(mut self, rule: Option<usize>, action: Option<&'static str>) -> Record {
        self.rule = rule;
        self.action = action;
        self
    }
}

fn sender<S: serde::Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.sender())
}

fn type_name<S: serde::Serializer>(t: &MessageType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.name())
}

/// The ring buffer.
#[derive(Debug)]
pub(crate) struct Recorder {
    capacity: usize,
    records: Mutex<VecDeque<Record>>,
    next_seq: AtomicU64,
    epoch: Instant,
}

impl Recorder {
    /// A recorder keeping the last `capacity` messages (0 disables recording).
    pub(crate) fn new(capacity: usize) -> Self {
        Recorder {
            capacity,
            records: Mutex::new(VecDeque::with_capacity(capacity.min(1 << 16))),
            next_seq: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// True when recording is on.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Microseconds since the recorder was created.
    pub(crate) fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Appends one record (when recording is on).
    pub(crate) fn push(&self, record: Record) {
        self.push_batch(&mut vec![record]);
    }

    /// Appends a batch (emptying `batch`), assigning sequence numbers.
    pub(crate) fn push_batch(&self, batch: &mut Vec<Record>) {
        if batch.is_empty() {
            return;
        }
        if !self.enabled() {
            batch.clear();
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        for mut record in batch.drain(..) {
            record.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if records.len() == self.capacity {
                records.pop_front();
            }
            records.push_back(record);
        }
    }

    /// Records with `seq >= since`, oldest first.
    pub(crate) fn snapshot(&self, since: u64) -> Vec<Record> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.iter().filter(|r| r.seq >= since).cloned().collect()
    }

    /// Removes and returns everything recorded.
    pub(crate) fn drain(&self) -> Vec<Record> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.drain(..).collect()
    }

    /// Forgets everything recorded.
    pub(crate) fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(conn: u64) -> Record {
        Record {
            seq: 0,
            conn,
            at_us: 0,
            from: Direction::Frontend,
            message: MessageType::Query,
            len: 10,
            summary: "SELECT 1".into(),
            initial: false,
            rule: None,
            action: None,
        }
    }

    #[test]
    fn ring_keeps_the_newest_and_numbers_them() {
        let r = Recorder::new(3);
        let mut batch: Vec<Record> = (0..5).map(record).collect();
        r.push_batch(&mut batch);
        assert!(batch.is_empty());
        let kept: Vec<(u64, u64)> = r.snapshot(0).iter().map(|x| (x.seq, x.conn)).collect();
        assert_eq!(kept, vec![(2, 2), (3, 3), (4, 4)]);
        assert_eq!(r.snapshot(4).len(), 1);
        assert_eq!(r.drain().len(), 3);
        assert!(r.snapshot(0).is_empty());
        let json = serde_json::to_string(&record(1)).unwrap();
        assert!(
            json.contains(r#""from":"client""#) && json.contains(r#""message":"Query""#),
            "{json}"
        );
    }
}
