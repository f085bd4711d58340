//! CopyData ('d', both directions): a chunk of COPY data, or a replication message inside
//! CopyBoth (XLogData 'w', keepalive 'k', standby status 'r', ...).

/// A CopyData message.
#[derive(Debug, Clone, Copy)]
pub struct CopyData<'a> {
    body: &'a [u8],
}

impl<'a> CopyData<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        CopyData { body }
    }

    /// The data.
    pub fn data(&self) -> &'a [u8] {
        self.body
    }

    /// The first byte, which names the replication sub-message inside CopyBoth.
    pub fn sub_tag(&self) -> Option<u8> {
        self.body.first().copied()
    }
}
