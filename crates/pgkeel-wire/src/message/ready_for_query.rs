//! ReadyForQuery ('Z'): the server is idle; carries the transaction status.

use crate::cursor::Cursor;
use crate::error::WireError;

/// Transaction status reported by ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block.
    Failed,
}

impl TransactionStatus {
    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    /// The status for a byte, if known.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'I' => Some(TransactionStatus::Idle),
            b'T' => Some(TransactionStatus::InTransaction),
            b'E' => Some(TransactionStatus::Failed),
            _ => None,
        }
    }
}

/// A ReadyForQuery message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyForQuery {
    status: u8,
}

impl ReadyForQuery {
    pub(crate) fn new(body: &[u8]) -> Result<Self, WireError> {
        Ok(ReadyForQuery {
            status: Cursor::new(body, "ReadyForQuery").u8()?,
        })
    }

    /// The raw status byte (`I`, `T` or `E`).
    pub fn status_byte(&self) -> u8 {
        self.status
    }

    /// The decoded status.
    pub fn status(&self) -> Result<TransactionStatus, WireError> {
        TransactionStatus::from_byte(self.status).ok_or(WireError::Malformed {
            message: "ReadyForQuery",
            reason: "unknown transaction status",
        })
    }
}
