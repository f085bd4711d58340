//! Whole server messages from a blocking byte stream: the bytes read go into pgkeel-wire's
//! I/O-free framer, which delimits each message and bounds its declared length, so a short
//! read, a lying length or a closed socket is an error value, never a panic or a huge buffer.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pgkeel_wire::{Direction, FrameRef, Framer};

use crate::error::{Error, Result};

/// How much is asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Reads server messages (protocol 3, tagged phase) one at a time.
pub(crate) struct MessageReader<R> {
    source: R,
    socket: PathBuf,
    framer: Framer,
    /// Bytes read but not yet handed out start at `start`.
    buf: Vec<u8>,
    start: usize,
}

impl<R: Read> MessageReader<R> {
    /// Reads from `source` (the connection to `socket`, named in errors); a message declaring
    /// more than `max_message_len` bytes is a protocol error.
    pub(crate) fn new(source: R, socket: &Path, max_message_len: u32) -> Self {
        MessageReader {
            source,
            socket: socket.to_owned(),
            framer: Framer::new(Direction::Backend).with_max_message_len(max_message_len),
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The next whole message; blocks until all of it has arrived.
    pub(crate) fn next_message(&mut self) -> Result<FrameRef<'_>> {
        loop {
            match self.framer.next_frame(&self.buf[self.start..]) {
                Ok(Some(header)) => {
                    let at = self.start;
                    self.start += header.len;
                    let bytes = &self.buf[at..self.start];
                    return Ok(FrameRef::new(Direction::Backend, header.kind, bytes));
                }
                Ok(None) => self.fill()?,
                Err(e) => {
                    return Err(Error::AdminProtocol {
                        socket: self.socket.clone(),
                        reason: format!("cannot frame the server's answer: {e}"),
                    });
                }
            }
        }
    }

    /// Appends what the socket has (at least one byte) after the unread bytes.
    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.start);
        self.start = 0;
        let unread = self.buf.len();
        self.buf.resize(unread + READ_CHUNK, 0);
        let read = loop {
            match self.source.read(&mut self.buf[unread..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(unread + *read.as_ref().unwrap_or(&0));
        let action = || format!("read from {}", self.socket.display());
        match read {
            Ok(0) => {
                let why = if unread == 0 {
                    "the server closed the connection"
                } else {
                    "the server closed the connection in the middle of a message"
                };
                Err(Error::io(
                    action(),
                    io::Error::new(io::ErrorKind::UnexpectedEof, why),
                ))
            }
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Error::io(
                    format!("{} (the server did not answer in time)", action()),
                    e,
                ))
            }
            Err(e) => Err(Error::io(action(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use pgkeel_wire::MessageType;
    use pgkeel_wire::encode;

    use super::*;

    /// Hands out one byte per read, the worst split a socket can produce.
    struct ByteByByte<'a>(&'a [u8]);

    impl Read for ByteByByte<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn two_messages() -> Vec<u8> {
        let mut bytes = encode::command_complete("SELECT 1").unwrap();
        bytes.extend(encode::ready_for_query(
            pgkeel_wire::message::TransactionStatus::Idle,
        ));
        bytes
    }

    #[test]
    fn messages_split_across_reads_come_out_whole() {
        let bytes = two_messages();
        for source in [
            Box::new(&bytes[..]) as Box<dyn Read>,
            Box::new(ByteByByte(&bytes)),
        ] {
            let mut reader = MessageReader::new(source, Path::new("/s"), 1 << 20);
            let first = reader.next_message().unwrap();
            assert_eq!(first.message_type(), MessageType::CommandComplete);
            assert_eq!(
                first.command_complete().unwrap().tag().unwrap(),
                b"SELECT 1"
            );
            let second = reader.next_message().unwrap();
            assert_eq!(second.message_type(), MessageType::ReadyForQuery);
            let end = reader.next_message().err().unwrap();
            assert!(
                end.to_string()
                    .contains("read from /s: the server closed the connection"),
                "{end}"
            );
        }
    }

    #[test]
    fn a_message_cut_short_is_an_error() {
        let bytes = two_messages();
        for cut in 1..bytes.len() {
            let mut reader = MessageReader::new(&bytes[..cut], Path::new("/s"), 1 << 20);
            let mut seen = 0;
            let err = loop {
                match reader.next_message() {
                    Ok(_) => seen += 1,
                    Err(e) => break e,
                }
            };
            assert!(seen < 2, "cut at {cut}");
            assert!(matches!(err, Error::Io { .. }), "{err:?}");
        }
        let mut reader = MessageReader::new(&bytes[..3], Path::new("/s"), 1 << 20);
        let err = reader.next_message().err().unwrap().to_string();
        assert!(err.contains("in the middle of a message"), "{err}");
    }

    #[test]
    fn lying_lengths_are_protocol_errors_before_any_allocation() {
        for (bytes, why) in [
            (&b"D\x7f\xff\xff\xff"[..], "above the maximum of 1048576"),
            (&b"Z\0\0\0\x02"[..], "below the minimum of 4"),
        ] {
            let mut reader = MessageReader::new(bytes, Path::new("/s"), 1 << 20);
            match reader.next_message().err().unwrap() {
                Error::AdminProtocol { socket, reason } => {
                    assert_eq!(socket, Path::new("/s"));
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(reader.buf.len() <= READ_CHUNK);
        }
    }
}
