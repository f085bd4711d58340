//! No allocation follows a declared length: a peer announcing 1 GiB gets nothing reserved
//! until the bytes arrive, and complete frames are split off the buffer, never copied.

use bytes::BytesMut;
use pgkeel_wire::{
    DEFAULT_MAX_MESSAGE_LEN, Direction, Framer, MAX_STARTUP_PACKET_LEN, MessageType, encode,
};

use crate::alloc_count::allocated_during;
use crate::support::started_client;

/// 1 GiB declared, 5 bytes sent: the framer waits, allocating nothing and not growing the
/// buffer; `decode` keeps the bytes for the next call.
#[test]
fn declared_gigabyte_allocates_nothing() {
    let header = [&[b'd'][..], &DEFAULT_MAX_MESSAGE_LEN.to_be_bytes()].concat();
    let mut framer = Framer::new(Direction::Backend);
    let (r, allocated) = allocated_during(|| framer.next_frame(&header));
    assert_eq!(r, Ok(None));
    assert_eq!(allocated, 0);
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&header);
    let capacity = buf.capacity();
    let (r, allocated) = allocated_during(|| framer.decode(&mut buf));
    assert_eq!(r, Ok(None));
    assert_eq!(allocated, 0);
    assert_eq!(
        buf.capacity(),
        capacity,
        "decode did not reserve the declared length"
    );
    assert_eq!(&buf[..], &header[..]);
    // The same for a client, and for the largest startup packet.
    let mut client = started_client();
    let (r, allocated) = allocated_during(|| client.next_frame(b"Q\x3f\xff\xff\xff"));
    assert_eq!((r, allocated), (Ok(None), 0));
    let startup = [
        &MAX_STARTUP_PACKET_LEN.to_be_bytes()[..],
        &196_608u32.to_be_bytes(),
    ]
    .concat();
    let mut fresh = Framer::new(Direction::Frontend);
    let (r, allocated) = allocated_during(|| fresh.next_frame(&startup));
    assert_eq!((r, allocated), (Ok(None), 0));
}

/// `next_frame` never allocates; `decode` of a complete frame allocates a constant amount
/// (the shared-buffer header), not the frame's size: frames are split off, never copied.
#[test]
fn framing_is_zero_copy() {
    let mut buf = BytesMut::new();
    let big = vec![0x5a; 1 << 20];
    buf.extend_from_slice(&encode::tagged(b'd', &big).unwrap());
    buf.extend_from_slice(&encode::ready_for_query(
        pgkeel_wire::message::TransactionStatus::Idle,
    ));
    let input = buf.to_vec();
    let mut framer = Framer::new(Direction::Backend);
    let (lens, allocated) = allocated_during(|| {
        let mut at = 0;
        let mut lens = Vec::with_capacity(4);
        while let Ok(Some(h)) = framer.next_frame(&input[at..]) {
            lens.push(h.len);
            at += h.len;
        }
        lens
    });
    assert_eq!(lens, [5 + (1 << 20), 6]);
    assert!(
        allocated <= 4 * size_of::<usize>(),
        "only the Vec of 4 lengths: {allocated}"
    );
    let start = buf.as_ptr();
    let mut framer = Framer::new(Direction::Backend);
    let (frame, allocated) = allocated_during(|| framer.decode(&mut buf).unwrap().unwrap());
    assert!(
        allocated < 256,
        "decode allocated {allocated} bytes for a 1 MiB frame"
    );
    assert_eq!(
        frame.bytes().as_ptr(),
        start,
        "the frame is the buffer's own bytes"
    );
    assert_eq!(frame.as_ref().copy_data().unwrap().data().len(), 1 << 20);
    let next = framer.decode(&mut buf).unwrap().unwrap();
    assert_eq!(next.message_type(), MessageType::ReadyForQuery);
    assert!(buf.is_empty());
}
