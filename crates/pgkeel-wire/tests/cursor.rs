//! The public `Cursor`: every integer width reads back big-endian at the right position, C
//! strings stop at their NUL, and a read past the end is an error that names the message and
//! leaves the position where it was.

use pgkeel_wire::{Cursor, WireError};
use proptest::collection::vec;
use proptest::prelude::*;

/// One field written into a body, and read back with the matching cursor call.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Cstr(Vec<u8>),
    Take(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        any::<u8>().prop_map(Item::U8),
        any::<i16>().prop_map(Item::I16),
        any::<u16>().prop_map(Item::U16),
        any::<i32>().prop_map(Item::I32),
        any::<u32>().prop_map(Item::U32),
        any::<i64>().prop_map(Item::I64),
        any::<u64>().prop_map(Item::U64),
        vec(1u8..=255, 0..12).prop_map(Item::Cstr),
        vec(any::<u8>(), 0..12).prop_map(Item::Take),
    ]
}

impl Item {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Item::U8(v) => out.push(*v),
            Item::I16(v) => out.extend(v.to_be_bytes()),
            Item::U16(v) => out.extend(v.to_be_bytes()),
            Item::I32(v) => out.extend(v.to_be_bytes()),
            Item::U32(v) => out.extend(v.to_be_bytes()),
            Item::I64(v) => out.extend(v.to_be_bytes()),
            Item::U64(v) => out.extend(v.to_be_bytes()),
            Item::Cstr(s) => {
                out.extend(s);
                out.push(0);
            }
            Item::Take(b) => out.extend(b),
        }
    }

    /// Reads the same kind of field back.
    fn read(&self, c: &mut Cursor<'_>) -> Result<Item, WireError> {
        Ok(match self {
            Item::U8(_) => Item::U8(c.u8()?),
            Item::I16(_) => Item::I16(c.i16()?),
            Item::U16(_) => Item::U16(c.u16()?),
            Item::I32(_) => Item::I32(c.i32()?),
            Item::U32(_) => Item::U32(c.u32()?),
            Item::I64(_) => Item::I64(c.i64()?),
            Item::U64(_) => Item::U64(c.u64()?),
            Item::Cstr(_) => Item::Cstr(c.cstr()?.to_vec()),
            Item::Take(b) => Item::Take(c.take(b.len())?.to_vec()),
        })
    }
}

/// The widths of the integer reads, in the order of [`read_int`].
const WIDTHS: [usize; 7] = [1, 2, 2, 4, 4, 8, 8];

/// One integer read: u8, i16, u16, i32, u32, i64, u64.
fn read_int(c: &mut Cursor<'_>, which: usize) -> Result<(), WireError> {
    match which {
        0 => c.u8().map(drop),
        1 => c.i16().map(drop),
        2 => c.u16().map(drop),
        3 => c.i32().map(drop),
        4 => c.u32().map(drop),
        5 => c.i64().map(drop),
        _ => c.u64().map(drop),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fields written one after another read back in order, each advancing the position by
    /// its own width; at the end every read is an error.
    #[test]
    fn fields_read_back_in_order_at_their_positions(items in vec(item(), 0..16)) {
        let mut body = Vec::new();
        let mut ends = Vec::new();
        for item in &items {
            item.write(&mut body);
            ends.push(body.len());
        }
        let mut cursor = Cursor::new(&body, "Example");
        prop_assert_eq!(cursor.position(), 0);
        for (item, end) in items.iter().zip(&ends) {
            prop_assert_eq!(&item.read(&mut cursor).unwrap(), item);
            prop_assert_eq!(cursor.position(), *end);
            prop_assert_eq!(cursor.remaining(), body.len() - end);
        }
        prop_assert!(cursor.is_empty());
        for which in 0..WIDTHS.len() {
            prop_assert!(read_int(&mut cursor, which).is_err());
        }
        prop_assert!(cursor.cstr().is_err());
        prop_assert!(cursor.take(1).is_err());
        prop_assert_eq!(cursor.position(), body.len());
        prop_assert_eq!(cursor.rest(), &[][..]);
    }

    /// From any position, a read that fits succeeds and moves by its width; one that does not
    /// fit is an error naming the message, and the cursor stays where it was.
    #[test]
    fn reads_past_the_end_fail_in_place(
        body in vec(any::<u8>(), 0..20),
        skip in any::<prop::sample::Index>(),
        take in 0usize..24,
    ) {
        let start = skip.index(body.len() + 1);
        let mut cursor = Cursor::new(&body, "Example");
        prop_assert_eq!(cursor.take(start).unwrap(), &body[..start]);
        let left = body.len() - start;
        for (which, width) in WIDTHS.iter().enumerate() {
            let mut c = cursor.clone();
            match read_int(&mut c, which) {
                Ok(()) => {
                    prop_assert!(*width <= left);
                    prop_assert_eq!(c.position(), start + width);
                }
                Err(e) => {
                    prop_assert!(*width > left);
                    let named = matches!(e, WireError::Malformed { message: "Example", .. });
                prop_assert!(named, "{:?}", e);
                    prop_assert_eq!(c.position(), start, "a failed read moves nothing");
                }
            }
        }
        let mut c = cursor.clone();
        match c.take(take) {
            Ok(bytes) => {
                prop_assert!(take <= left);
                prop_assert_eq!(bytes, &body[start..start + take]);
                prop_assert_eq!(c.position(), start + take);
            }
            Err(e) => {
                prop_assert!(take > left);
                let named = matches!(e, WireError::Malformed { message: "Example", .. });
                prop_assert!(named, "{:?}", e);
                prop_assert_eq!(c.position(), start);
            }
        }
        let mut c = cursor.clone();
        match c.cstr() {
            Ok(s) => {
                let nul = body[start..].iter().position(|b| *b == 0).unwrap();
                prop_assert_eq!(s, &body[start..start + nul]);
                prop_assert_eq!(c.position(), start + nul + 1);
            }
            Err(_) => {
                prop_assert!(!body[start..].contains(&0));
                prop_assert_eq!(c.position(), start);
            }
        }
        prop_assert_eq!(cursor.rest(), &body[start..]);
        prop_assert!(cursor.is_empty());
    }
}

#[test]
fn every_width_is_big_endian() {
    let body: Vec<u8> = (1..=8).collect();
    let c = || Cursor::new(&body, "Example");
    assert_eq!(c().u8().unwrap(), 0x01);
    assert_eq!(c().i16().unwrap(), 0x0102);
    assert_eq!(c().u16().unwrap(), 0x0102);
    assert_eq!(c().i32().unwrap(), 0x0102_0304);
    assert_eq!(c().u32().unwrap(), 0x0102_0304);
    assert_eq!(c().i64().unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(c().u64().unwrap(), 0x0102_0304_0506_0708);
    let ones = [0xff; 8];
    let c = || Cursor::new(&ones, "Example");
    assert_eq!(c().i16().unwrap(), -1);
    assert_eq!(c().u16().unwrap(), u16::MAX);
    assert_eq!(c().i32().unwrap(), -1);
    assert_eq!(c().u32().unwrap(), u32::MAX);
    assert_eq!(c().i64().unwrap(), -1);
    assert_eq!(c().u64().unwrap(), u64::MAX);
}

#[test]
fn a_string_without_its_nul_is_an_error_that_reads_nothing() {
    let mut cursor = Cursor::new(b"\x00abc", "Example");
    assert_eq!(
        cursor.cstr().unwrap(),
        b"",
        "an empty string is its NUL alone"
    );
    assert_eq!(cursor.position(), 1);
    let err = cursor.cstr().unwrap_err();
    assert_eq!(
        err,
        WireError::Malformed {
            message: "Example",
            reason: "string without terminating NUL",
        }
    );
    assert_eq!(
        err.to_string(),
        "malformed Example: string without terminating NUL"
    );
    assert_eq!(cursor.position(), 1, "the failed read moved nothing");
    assert_eq!(
        cursor.take(4).unwrap_err().to_string(),
        "malformed Example: truncated"
    );
    assert_eq!(cursor.take(3).unwrap(), b"abc");
    assert_eq!(cursor.take(0).unwrap(), b"", "nothing can always be taken");
    assert!(cursor.is_empty());
}
