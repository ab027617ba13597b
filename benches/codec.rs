//! Pure hot paths: decoding a full block of tags, and planning a large device.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_gateway::modbus::codec::{Encoding, decode};
use edge_gateway::modbus::plan::{Limits, Span, plan};
use edge_gateway::tags::{DataType, Kind, WordOrder};

fn decode_block(c: &mut Criterion) {
    // 62 f32 values in one 124-register block, the densest read a meter allows.
    let regs: Vec<u16> = (0..124u16)
        .map(|i| if i % 2 == 0 { 0x4366 } else { 0x8000 })
        .collect();
    let enc = Encoding {
        order: WordOrder::Cdab,
        ..Encoding::plain(DataType::F32)
    };
    c.bench_function("decode 62 f32 from a 124-register block", |b| {
        b.iter(|| {
            for pair in regs.chunks(2) {
                black_box(decode(black_box(pair), &enc).ok());
            }
        });
    });
}

fn plan_device(c: &mut Criterion) {
    let spans: Vec<Span> = (0..10_000usize)
        .map(|i| Span {
            index: i,
            kind: Kind::Holding,
            address: u16::try_from(i * 3 % 60_000).unwrap_or(0),
            count: 2,
        })
        .collect();
    c.bench_function("plan 10000 tags", |b| {
        b.iter(|| black_box(plan(black_box(&spans), &Limits::MODBUS_MAX)));
    });
}

criterion_group!(benches, decode_block, plan_device);
criterion_main!(benches);
