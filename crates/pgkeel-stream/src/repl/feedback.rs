//! The standby status update ('r'): the write, flush and apply positions the client reports,
//! each kept separately and never moved backwards, and their encoding.

use std::time::SystemTime;

use pgkeel_wire::pg_time::to_postgres_micros;

use crate::lsn::Lsn;

/// Length of an encoded status update, the 'r' byte included.
pub(crate) const STATUS_UPDATE_LEN: usize = 1 + 8 + 8 + 8 + 8 + 1;

/// The positions reported to the server. All start at `0/0`, which the server ignores; the
/// flush position is what the slot's `confirmed_flush_lsn` follows (the server keeps WAL and
/// resends changes from there), so advance it only once the data is durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Received and written (not necessarily durable) up to here.
    pub write: Lsn,
    /// Durable up to here.
    pub flush: Lsn,
    /// Applied (visible to the user) up to here.
    pub apply: Lsn,
}

impl Feedback {
    /// Moves the write position forward; a lower `lsn` is ignored. True if it moved.
    pub fn advance_write(&mut self, lsn: Lsn) -> bool {
        advance(&mut self.write, lsn)
    }

    /// Moves the flush position forward; a lower `lsn` is ignored. True if it moved.
    pub fn advance_flush(&mut self, lsn: Lsn) -> bool {
        advance(&mut self.flush, lsn)
    }

    /// Moves the apply position forward; a lower `lsn` is ignored. True if it moved.
    pub fn advance_apply(&mut self, lsn: Lsn) -> bool {
        advance(&mut self.apply, lsn)
    }

    /// The standby status update body (inside CopyData): Byte1('r'), Int64 write, Int64 flush,
    /// Int64 apply, Int64 clock (µs since 2000-01-01 UTC), Byte1 reply-requested.
    pub(crate) fn encode(&self, now: SystemTime, reply_requested: bool) -> [u8; STATUS_UPDATE_LEN] {
        let mut out = [0u8; STATUS_UPDATE_LEN];
        out[0] = b'r';
        out[1..9].copy_from_slice(&self.write.0.to_be_bytes());
        out[9..17].copy_from_slice(&self.flush.0.to_be_bytes());
        out[17..25].copy_from_slice(&self.apply.0.to_be_bytes());
        out[25..33].copy_from_slice(&to_postgres_micros(now).to_be_bytes());
        out[33] = u8::from(reply_requested);
        out
    }
}

fn advance(position: &mut Lsn, lsn: Lsn) -> bool {
    if lsn > *position {
        *position = lsn;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use pgkeel_wire::pg_time::postgres_epoch;

    use super::*;

    #[test]
    fn positions_never_move_backwards() {
        let mut f = Feedback::default();
        assert!(f.advance_write(Lsn(100)));
        assert!(f.advance_flush(Lsn(50)));
        assert!(f.advance_apply(Lsn(10)));
        assert!(!f.advance_write(Lsn(99)));
        assert!(!f.advance_flush(Lsn(50)));
        assert!(!f.advance_apply(Lsn::ZERO));
        assert_eq!((f.write, f.flush, f.apply), (Lsn(100), Lsn(50), Lsn(10)));
        // Independent: flush may pass write (the server does not require flush <= write).
        assert!(f.advance_flush(Lsn(200)));
        assert_eq!((f.write, f.flush), (Lsn(100), Lsn(200)));
    }

    #[test]
    fn encodes_the_documented_layout() {
        let mut f = Feedback::default();
        f.advance_write(Lsn(0x0102_0304_0506_0708));
        f.advance_flush(Lsn(2));
        f.advance_apply(Lsn(3));
        let at = postgres_epoch() + Duration::from_micros(42);
        let bytes = f.encode(at, true);
        assert_eq!(bytes[0], b'r');
        assert_eq!(bytes[1..9], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes[9..17], 2u64.to_be_bytes());
        assert_eq!(bytes[17..25], 3u64.to_be_bytes());
        assert_eq!(bytes[25..33], 42i64.to_be_bytes());
        assert_eq!(bytes[33], 1);
        assert_eq!(f.encode(at, false)[33], 0);
        // Before PostgreSQL's epoch the clock is negative.
        assert_eq!(
            f.encode(UNIX_EPOCH, false)[25..33],
            (-946_684_800_000_000i64).to_be_bytes()
        );
    }
}
