//! The messages a walsender streams inside CopyData: XLogData ('w', a chunk of output-plugin
//! data) and primary keepalive ('k').

use bytes::Bytes;
use pgkeel_wire::Cursor;

use crate::lsn::Lsn;

/// One message of a logical replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationMessage {
    /// Output-plugin data (for pgoutput: one protocol message).
    XLogData {
        /// The WAL position of the data.
        wal_start: Lsn,
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// The server's clock when sending, µs since 2000-01-01 UTC (see
        /// [`pgkeel_wire::pg_time`]).
        server_time: i64,
        /// The plugin's bytes (shares the read buffer; no copy).
        data: Bytes,
    },
    /// The server is alive; `reply_requested` asks for a status update now (else the server
    /// drops the connection after `wal_sender_timeout`).
    Keepalive {
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// The server's clock when sending, µs since 2000-01-01 UTC.
        server_time: i64,
        /// The server wants a status update at once.
        reply_requested: bool,
    },
}

const XLOG_HEADER: usize = 1 + 8 + 8 + 8;

impl ReplicationMessage {
    /// Reads the body of a CopyData message (`body` must be exactly that, header excluded).
    pub(crate) fn parse(body: Bytes) -> Result<Self, String> {
        let mut r = Cursor::new(&body, "CopyData");
        let truncated = |what: &str| format!("truncated {what} message ({} bytes)", body.len());
        match r.u8() {
            Ok(b'w') => {
                let (Ok(start), Ok(end), Ok(time)) = (r.u64(), r.u64(), r.i64()) else {
                    return Err(truncated("XLogData"));
                };
                Ok(ReplicationMessage::XLogData {
                    wal_start: Lsn(start),
                    wal_end: Lsn(end),
                    server_time: time,
                    data: body.slice(XLOG_HEADER..),
                })
            }
            Ok(b'k') => {
                let (Ok(end), Ok(time), Ok(reply)) = (r.u64(), r.i64(), r.u8()) else {
                    return Err(truncated("keepalive"));
                };
                Ok(ReplicationMessage::Keepalive {
                    wal_end: Lsn(end),
                    server_time: time,
                    reply_requested: reply != 0,
                })
            }
            Ok(other) => Err(format!(
                "unknown replication message {:?} inside CopyData",
                other as char
            )),
            Err(_) => Err("empty CopyData message".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_truncated_messages() {
        let mut w = vec![b'w'];
        w.extend_from_slice(&1u64.to_be_bytes());
        w.extend_from_slice(&2u64.to_be_bytes());
        w.extend_from_slice(&3i64.to_be_bytes());
        w.extend_from_slice(b"Bxyz");
        let msg = ReplicationMessage::parse(Bytes::from(w.clone())).unwrap();
        assert_eq!(
            msg,
            ReplicationMessage::XLogData {
                wal_start: Lsn(1),
                wal_end: Lsn(2),
                server_time: 3,
                data: Bytes::from_static(b"Bxyz"),
            }
        );
        let mut k = vec![b'k'];
        k.extend_from_slice(&7u64.to_be_bytes());
        k.extend_from_slice(&8i64.to_be_bytes());
        k.push(1);
        let msg = ReplicationMessage::parse(Bytes::from(k.clone())).unwrap();
        assert!(matches!(
            msg,
            ReplicationMessage::Keepalive {
                wal_end: Lsn(7),
                reply_requested: true,
                ..
            }
        ));
        for len in 0..XLOG_HEADER {
            assert!(ReplicationMessage::parse(Bytes::from(w[..len].to_vec())).is_err());
        }
        assert!(ReplicationMessage::parse(Bytes::from(k[..17].to_vec())).is_err());
        assert!(ReplicationMessage::parse(Bytes::from_static(b"zzz")).is_err());
    }
}
