//! A set of message types as a bitmask (no allocation, O(1) membership).

use pgkeel_wire::MessageType;

/// A set of message types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TypeSet(u128);

impl TypeSet {
    pub(crate) fn contains(self, ty: MessageType) -> bool {
        ty.index() < 128 && self.0 & (1u128 << ty.index()) != 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = MessageType> {
        MessageType::ALL
            .iter()
            .copied()
            .filter(move |t| self.contains(*t))
    }
}

impl FromIterator<MessageType> for TypeSet {
    fn from_iter<I: IntoIterator<Item = MessageType>>(iter: I) -> Self {
        TypeSet(
            iter.into_iter()
                .filter(|t| t.index() < 128)
                .fold(0, |acc, t| acc | (1u128 << t.index())),
        )
    }
}
