//! Any bytes as what an HTTP client sends on one connection (request lines,
//! query strings, headers, pipelined requests, truncation), through hyper's
//! parser into the gateway's router over the shipped config's store: every
//! answer is a well-formed HTTP/1.x response, none a 500 (503 is the probes'
//! honest "not ready"), and
//! the connection ends (a stalled client meets the header-read timeout on a
//! paused clock).
#![no_main]

#[path = "../common/paused.rs"]
mod paused;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use edge_gateway::config::Config;
use edge_gateway::engine::build_store;
use edge_gateway::health::Health;
use edge_gateway::http::metrics::MetricsOptions;
use edge_gateway::http::{AppState, HEADER_READ_TIMEOUT, router};
use edge_gateway::modbus::bus::Counters;
use edge_gateway::tags::{BadCause, Value};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

/// Longest one input may take in virtual time: past the header-read timeout.
const BOUND: Duration = Duration::from_secs(30);

/// The router over the shipped config, half its tags with a value, the rest bad.
fn app() -> Router {
    let config = Config::parse(include_str!("../../gateway.toml"), "gateway.toml")
        .unwrap_or_else(|e| panic!("the shipped config: {e}"));
    let store = Arc::new(build_store(&config));
    let now = tokio::time::Instant::now();
    for (i, (id, _)) in store.tags().enumerate() {
        if i % 2 == 0 {
            store.set_good(id, Value::U16(7), SystemTime::UNIX_EPOCH, now);
        } else {
            store.set_failed(id, BadCause::Timeout, SystemTime::UNIX_EPOCH, now);
        }
    }
    router(AppState {
        counters: Arc::new(Counters::new(store.device_count())),
        store,
        health: Arc::new(Health::new(Vec::new(), Duration::from_secs(5))),
        metrics: MetricsOptions {
            gateway: "fuzz".into(),
            tag_values: true,
        },
    })
}

async fn converse(app: Router, data: &[u8]) {
    let (mut client, server) = duplex(1 << 16);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let serving = tokio::spawn(async move {
        let _ = http
            .serve_connection(TokioIo::new(server), TowerToHyperService::new(app))
            .await;
    });
    let mut answer = Vec::new();
    let talk = async {
        client.write_all(data).await.ok()?;
        client.shutdown().await.ok()?;
        client.read_to_end(&mut answer).await.ok()
    };
    let ended = tokio::time::timeout(BOUND, talk).await;
    serving.abort();
    let _ = serving.await;
    assert!(ended.is_ok(), "the connection did not end within {BOUND:?}");
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1."),
            "not an HTTP response: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.contains("HTTP/1.1 500") && !text.contains("HTTP/1.0 500"),
        "a server error: {text}"
    );
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static APP: Router = paused::block_on(async { app() });
    }
    let app = APP.with(Clone::clone);
    paused::block_on(converse(app, data));
});
