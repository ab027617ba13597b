//! `/metrics` scrape bodies at 10,000 and 100,000 tags, plain and gzipped:
//! every tag good with a value, in 100-tag devices, the worst case for a
//! scrape. The body buffers are reused from one iteration to the next, as
//! from one scrape to the next.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/store.rs"]
mod common_store;
use common_store::store;
use edge_gateway::health::Health;
use edge_gateway::http::metrics::{Encoding, MetricsOptions, MetricsRenderer};
use edge_gateway::modbus::bus::Counters;

fn render_metrics(c: &mut Criterion) {
    let health = Arc::new(Health::new(vec![], Duration::from_secs(30)));
    let opts = MetricsOptions {
        gateway: "bench".into(),
        tag_values: true,
    };
    let mut group = c.benchmark_group("render /metrics");
    group.sample_size(20);
    for tags in [10_000usize, 100_000] {
        let s = Arc::new(store(tags));
        let counters = Arc::new(Counters::new(s.device_count()));
        let renderer = MetricsRenderer::new(s, counters, health.clone(), opts.clone());
        for (name, encoding) in [("plain", Encoding::Identity), ("gzip", Encoding::Gzip)] {
            let (_, body) = renderer.body(encoding);
            eprintln!("{tags} tags, {name}: {} bytes", body.len());
            drop(body);
            group.bench_function(format!("{tags} tags, {name}"), |b| {
                b.iter(|| black_box(renderer.body(encoding)).1.len());
            });
        }
    }
    group.finish();
}

criterion_group!(benches, render_metrics);
criterion_main!(benches);
