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

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, start_sim, wait_until};
use opcua::client::{ClientBuilder, DataChangeCallback, IdentityToken};
use opcua::types::{
    EndpointDescription, MessageSecurityMode, MonitoredItemCreateRequest, NodeId, StatusCode,
    TimestampsToReturn, UserTokenPolicy,
};

/// The system allocator, counting what is live.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// only arithmetic on the side. (A counting allocator cannot be written
// without `unsafe`: `GlobalAlloc` is an unsafe trait.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(signed(layout.size()), Ordering::Relaxed);
            LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(signed(new_size) - signed(layout.size()), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
        let now = (
            LIVE_BYTES.load(Ordering::Relaxed),
            LIVE_ALLOCATIONS.load(Ordering::Relaxed),
        );
        least = (least.0.min(now.0), least.1.min(now.1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    least
}

/// One visit: connect, subscribe to every tag, wait for the initial values,
/// then close cleanly or drop the socket.
async fn visit(endpoint_url: &str, pki: &std::path::Path, ns: u16, clean: bool) {
    let mut client = ClientBuilder::new()
        .application_name("edge-gateway churn client")
        .application_uri("urn:edge-gateway:churn-client")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(0)
        .session_timeout(SESSION_TIMEOUT_MS)
        .client()
        .expect("client config");
    let endpoint: EndpointDescription = (
        endpoint_url,
        "None",
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) = client
        .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
        .await
        .expect("anonymous session");
    let event_loop = event_loop.spawn();
    session.wait_for_connection().await;
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
    let mut registers = String::new();
    let mut tags = String::new();
    for i in 0..TAGS {
        let address = 40001 + i;
        writeln!(
            registers,
            "[[simulator.register]]\naddress = \"{address}\"\nvalue = {i}"
        )
        .unwrap();
        writeln!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\naddress = \"{address}\"\ntype = \"u16\""
        )
        .unwrap();
    }
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
