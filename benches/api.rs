//! What an open status page costs the gateway at 10,000 and 100,000 tags:
//! each JSON request the page makes once a second, over a real loopback
//! connection to the real router (a connect, the request, the whole body).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a bench states its expectations by panicking; the crate policy is for production code

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_gateway::health::Health;
use edge_gateway::http::metrics::MetricsOptions;
use edge_gateway::http::{self, AppState};
use edge_gateway::modbus::bus::Counters;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/store.rs"]
mod common_store;
use common_store::store;

/// GET `path` with `Connection: close`; the length of the whole response.
async fn get(addr: std::net::SocketAddr, path: &str) -> usize {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{path}");
    response.len()
}

fn page_requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("status page requests");
    group.sample_size(20);
    for tags in [10_000usize, 100_000] {
        let store = Arc::new(store(tags));
        let state = AppState {
            counters: Arc::new(Counters::new(store.device_count())),
            store,
            health: Arc::new(Health::new(vec![], Duration::from_secs(30))),
            metrics: MetricsOptions {
                gateway: "bench".into(),
                tag_values: true,
            },
        };
        let addr = runtime.block_on(async {
            let (addr, _task) = http::serve("127.0.0.1:0".parse().unwrap(), state)
                .await
                .unwrap();
            addr
        });
        for path in [
            "/api/summary",
            "/api/tags?limit=500",
            "/api/tags?quality=bad&limit=500",
            "/api/devices",
            "/api/buses",
        ] {
            let bytes = runtime.block_on(get(addr, path));
            eprintln!("{tags} tags, {path}: {bytes} bytes");
            group.bench_function(format!("{tags} tags, {path}"), |b| {
                b.iter(|| runtime.block_on(get(addr, path)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, page_requests);
criterion_main!(benches);
