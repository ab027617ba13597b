//! Session churn: a SCADA behind a flaky network connects, subscribes and
//! leaves, half the time with a clean close and half by dropping its socket,
//! for months. The heap the server keeps must not grow with the number of
//! sessions that came and went (issue 11: about 85 KiB per session leaked in
//! the stack's subscription cache before the fix).
//!
//! A counting allocator measures the live bytes and allocations of this
//! process (server and client); the client's share is freed with each
//! session, so what grows between two settled points is what the server
//! kept.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::counting::{live_allocations, live_bytes, signed};
use common::{config, start_sim, wait_until};
use opcua::client::DataChangeCallback;
use opcua::types::{MonitoredItemCreateRequest, NodeId, StatusCode, TimestampsToReturn};

#[global_allocator]
static ALLOCATOR: common::counting::Counting = common::counting::Counting;

/// Tags served, and monitored by each session.
const TAGS: usize = 100;
/// Sessions before the first measurement: caches, pools and maps reach
/// their working size.
const WARM_UP: usize = 20;
/// Sessions between the two measurements.
const MEASURED: usize = 80;
/// The session timeout the client asks for: a dropped session is gone
/// after this (the server's own limit is 60 s).
const SESSION_TIMEOUT_MS: u32 = 1000;
/// Subscription: 100 ms publishing, keep-alive every 5, lifetime 15
/// intervals, so an abandoned subscription expires 1.5 s after its last
/// Publish.
const PUBLISHING: Duration = Duration::from_millis(100);
/// Long enough for every dropped session and its subscription to expire.
const SETTLE: Duration = Duration::from_secs(4);

/// Live (bytes, allocations) once the server has settled: the smallest of a
/// few samples, so a notification in flight does not count.
async fn settled_heap() -> (isize, isize) {
    tokio::time::sleep(SETTLE).await;
    let mut least = (isize::MAX, isize::MAX);
    for _ in 0..5 {
        let now = (live_bytes(), live_allocations());
        least = (least.0.min(now.0), least.1.min(now.1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    least
}

/// One visit: connect, subscribe to every tag, wait for the initial values,
/// then close cleanly or drop the socket.
async fn visit(endpoint_url: &str, pki: &std::path::Path, ns: u16, clean: bool) {
    let (session, event_loop) =
        common::opcua_session_with(endpoint_url, pki, 0, Some(SESSION_TIMEOUT_MS)).await;
    let seen: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let sink = seen.clone();
    let sub = session
        .create_subscription(
            PUBLISHING,
            15,
            5,
            0,
            0,
            true,
            DataChangeCallback::new(move |dv, item| {
                if dv.status == Some(StatusCode::Good) {
                    sink.lock().unwrap().insert(item.client_handle());
                }
            }),
        )
        .await
        .expect("subscription");
    let items: Vec<MonitoredItemCreateRequest> = (0..TAGS)
        .map(|i| NodeId::new(ns, format!("farm.r{i}")).into())
        .collect();
    let created = session
        .create_monitored_items(sub, TimestampsToReturn::Both, items)
        .await
        .expect("monitored items");
    assert!(created.iter().all(|c| c.result.status_code.is_good()));
    wait_until("the initial values", Duration::from_secs(10), || {
        seen.lock().unwrap().len() == TAGS
    })
    .await;
    if clean {
        session.disconnect().await.expect("clean close");
    }
    // Without a close, the socket just goes, as on a network that drops.
    event_loop.abort();
    let _ = event_loop.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_come_and_go_leave_nothing_behind() {
    let (registers, tags) = common::register_farm(TAGS, "value = {i}");
    let (_sim, sim_addr) = start_sim(&registers).await;
    let pki = std::env::temp_dir().join(format!("eg-churn-{}", std::process::id()));
    let cfg = config(&format!(
        r#"[opcua]
listen = "127.0.0.1:0"
pki_dir = "{pki}"
security = ["none"]
anonymous = "read"
max_sessions = 100
max_connections = 100
[[device]]
name = "farm"
protocol = "tcp"
host = "{sim_addr}"
poll = "200ms"
{tags}"#,
        pki = pki.display()
    ));
    let (_engine, server) = common::engine_with_opcua(&cfg).await;
    let client_pki = pki.join("client");
    let runtime = tokio::runtime::Handle::current().metrics();

    for n in 0..WARM_UP {
        visit(
            &server.endpoint_url,
            &client_pki,
            server.namespace,
            n % 2 == 0,
        )
        .await;
    }
    let (bytes_before, allocs_before) = settled_heap().await;
    let tasks_before = runtime.num_alive_tasks();
    for n in 0..MEASURED {
        visit(
            &server.endpoint_url,
            &client_pki,
            server.namespace,
            n % 2 == 0,
        )
        .await;
    }
    let (bytes_after, allocs_after) = settled_heap().await;
    let tasks_after = runtime.num_alive_tasks();

    let per_session = (bytes_after - bytes_before) / signed(MEASURED);
    eprintln!(
        "{MEASURED} sessions: live heap {bytes_before} -> {bytes_after} bytes ({per_session} per session), \
         allocations {allocs_before} -> {allocs_after}, tasks {tasks_before} -> {tasks_after}"
    );
    // Noise (a notification or buffer in flight at the sample) is a few
    // KiB in all; the leak this guards against was ~85 KiB per session.
    assert!(
        per_session < 1024,
        "the heap grew by {per_session} bytes per session over {MEASURED} sessions"
    );
    assert!(
        allocs_after - allocs_before < signed(MEASURED),
        "{} allocations more after {MEASURED} sessions",
        allocs_after - allocs_before
    );
    assert!(
        tasks_after <= tasks_before,
        "tasks grew from {tasks_before} to {tasks_after}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&pki);
}
