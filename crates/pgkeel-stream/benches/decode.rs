//! Micro-benchmark of the pgoutput decoder: a realistic message mix (Begin, Insert of a
//! 6-column row, Update with the old key, Commit), against copying the same bytes once — the
//! least any consumer of the stream does — so the ratio shows what decoding costs on top.

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pgkeel_stream::pgoutput::Decoder;

/// A 6-column row as pgoutput sends it in text: id, name, email, status, amount, timestamp
/// (~100 bytes of values).
fn row(b: &mut BytesMut, id: &str) {
    let values: [&str; 6] = [
        id,
        "Ada Lovelace",
        "ada.lovelace@example.com",
        "active",
        "1234.50",
        "2024-05-06 07:08:09.123456+00",
    ];
    b.put_u16(6);
    for v in values {
        b.put_u8(b't');
        b.put_i32(i32::try_from(v.len()).unwrap_or(0));
        b.put_slice(v.as_bytes());
    }
}

fn mix() -> Vec<Bytes> {
    let mut begin = BytesMut::new();
    begin.put_u8(b'B');
    begin.put_u64(0x16_B374_D848);
    begin.put_i64(768_000_000_000_000);
    begin.put_u32(7_654_321);

    let mut insert = BytesMut::new();
    insert.put_u8(b'I');
    insert.put_u32(16_384);
    insert.put_u8(b'N');
    row(&mut insert, "1000001");

    // An update of the key: the old key (other columns null), then the new row.
    let mut update = BytesMut::new();
    update.put_u8(b'U');
    update.put_u32(16_384);
    update.put_u8(b'K');
    update.put_u16(6);
    update.put_u8(b't');
    update.put_i32(7);
    update.put_slice(b"1000001");
    for _ in 0..5 {
        update.put_u8(b'n');
    }
    update.put_u8(b'N');
    row(&mut update, "1000002");

    let mut commit = BytesMut::new();
    commit.put_u8(b'C');
    commit.put_u8(0);
    commit.put_u64(0x16_B374_D848);
    commit.put_u64(0x16_B374_D878);
    commit.put_i64(768_000_000_000_000);

    vec![
        begin.freeze(),
        insert.freeze(),
        update.freeze(),
        commit.freeze(),
    ]
}

fn bench(c: &mut Criterion) {
    let messages = mix();
    let mut decoder = Decoder::new(1);
    assert!(messages.iter().all(|m| decoder.decode(m).is_ok()));
    let count = u64::try_from(messages.len()).unwrap_or(1);

    let mut group = c.benchmark_group("pgoutput");
    group.throughput(Throughput::Elements(count));
    group.bench_function("decode B,I,U(K),C", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(decoder.decode(black_box(m)).is_ok());
            }
        });
    });
    group.bench_function("copy B,I,U(K),C (baseline)", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(Bytes::copy_from_slice(black_box(m.as_ref())));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
