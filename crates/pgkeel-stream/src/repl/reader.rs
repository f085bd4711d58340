//! A bounds-checked reader over server message bodies (row data, replication messages): every
//! read returns `None` instead of panicking when the bytes run out.

/// Reads big-endian integers, C strings and byte runs from a slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    pub(crate) fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    pub(crate) fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A NUL-terminated string, without the NUL.
    pub(crate) fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.buf.iter().position(|b| *b == 0)?;
        let text = self.take(end)?;
        self.take(1)?;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_until_the_bytes_run_out() {
        let mut r = Reader::new(b"ab\0\x00\x01\x00\x00\x00\x02x");
        assert_eq!(r.cstr(), Some(&b"ab"[..]));
        assert_eq!(r.i16(), Some(1));
        assert_eq!(r.i32(), Some(2));
        assert_eq!(r.i32(), None);
        assert_eq!(r.cstr(), None);
        assert_eq!(r.u64(), None);
        assert_eq!(r.u8(), Some(b'x'));
        assert_eq!(r.u8(), None);
    }
}
