//! A hostile OPC UA client: garbage, truncated and oversized messages,
//! too many chunks, deep nesting, an unknown service, and floods of
//! `CreateMonitoredItems` and `Publish` requests. After each, a well-behaved
//! client is still served (its subscription keeps delivering, a Read
//! answers), the server's heap never grew by what the attacker claimed or
//! sent, and at the end the heap and tasks are back where they started.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::counting::{Counting, live_bytes, peak_bytes, reset_peak};
use common::raw_opcua::{RawClient, Reply, header, hello_message, until_closed};
use common::{config, start_sim, wait_until};
use opcua::client::{DataChangeCallback, Session};
use opcua::types::{
    BinaryEncodable, ContextOwned, CreateMonitoredItemsRequest, CreateMonitoredItemsResponse,
    CreateSubscriptionRequest, CreateSubscriptionResponse, MonitoredItemCreateRequest, NodeId,
    ObjectId, PublishRequest, PublishResponse, ReadValueId, StatusCode, TimestampsToReturn,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tags served (u16 counters the simulator advances every 100 ms).
const TAGS: usize = 10;
/// `[opcua] max_message_size` of the test server: 1 MiB, so 17 chunks.
const MAX_MESSAGE: usize = 1 << 20;
/// `[opcua] max_monitored_items` of the test server.
const MAX_ITEMS: usize = 5000;
/// What an attacker may make the server hold at once: a whole message of
/// the negotiated size, twice over for the decoder's copy, plus slack.
const PEAK_ALLOWED: isize = 4 << 20;
/// How much a stream attack sends when the server does not stop it.
const STREAM_BYTES: usize = 32 << 20;
/// Publish requests in the flood.
const FLOOD: usize = 1000;
/// The raw sessions' timeout: gone soon after their socket is.
const RAW_SESSION_TIMEOUT: Duration = Duration::from_secs(1);

/// The well-behaved client: a session with every tag subscribed.
struct Observer {
    session: Arc<Session>,
    changes: Arc<AtomicUsize>,
    ns: u16,
}

impl Observer {
    /// Its subscription delivers again and a Read of a tag is Good.
    async fn still_served(&self, after: &str) {
        let seen = self.changes.load(Ordering::Relaxed);
        wait_until(
            &format!("the observer's data changes after {after}"),
            Duration::from_secs(5),
            || self.changes.load(Ordering::Relaxed) > seen + TAGS,
        )
        .await;
        let read = self
            .session
            .read(
                &[ReadValueId::from(NodeId::new(self.ns, "farm.r0"))],
                TimestampsToReturn::Both,
                0.0,
            )
            .await
            .unwrap_or_else(|e| panic!("the observer's Read after {after}: {e}"));
        assert_eq!(read[0].status, Some(StatusCode::Good), "after {after}");
    }
}

/// Stream `STREAM_BYTES` of zeros until the server stops taking them;
/// returns how many it took.
async fn stream_until_refused(stream: &mut TcpStream) -> usize {
    let block = vec![0u8; 64 << 10];
    let mut sent = 0;
    while sent < STREAM_BYTES {
        let write = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&block)).await;
        match write {
            Ok(Ok(())) => sent += block.len(),
            // Refused (reset or closed), or no longer read: either way the
            // server is not buffering what it is sent.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    sent
}

/// The heap grew by no more than [`PEAK_ALLOWED`] since `reset_peak`.
fn assert_peak(what: &str, base: isize) {
    let grew = peak_bytes() - base;
    eprintln!("{what}: peak heap +{grew} bytes");
    assert!(
        grew < PEAK_ALLOWED,
        "{what}: the heap grew by {grew} bytes (allowed {PEAK_ALLOWED})"
    );
}

/// A Variant that is an array holding an array holding … `depth` deep.
fn nested_variant(depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(depth * 5 + 5);
    for _ in 0..depth {
        out.push(0x98); // type 24 (Variant) with the array bit
        out.extend_from_slice(&1i32.to_le_bytes());
    }
    out.push(6); // Int32
    out.extend_from_slice(&7i32.to_le_bytes());
    out
}

/// A subscription on the raw session: 100 ms, keep-alive every 3, gone
/// after 10 intervals without a Publish.
async fn subscribe(c: &mut RawClient) -> CreateSubscriptionResponse {
    let request = CreateSubscriptionRequest {
        request_header: c.request_header(),
        requested_publishing_interval: 100.0,
        requested_lifetime_count: 10,
        requested_max_keep_alive_count: 3,
        max_notifications_per_publish: 0,
        publishing_enabled: true,
        priority: 0,
    };
    c.call(
        ObjectId::CreateSubscriptionRequest_Encoding_DefaultBinary,
        &request,
    )
    .await
    .expect("subscription")
}

/// A Write of one value, `variant` (encoded), to `farm.r0`.
fn write_request(c: &RawClient, ns: u16, variant: &[u8]) -> Vec<u8> {
    let ctx = ContextOwned::default();
    let mut write = c.encode(
        &ObjectId::WriteRequest_Encoding_DefaultBinary.into(),
        &c.request_header(),
    );
    write.extend_from_slice(&1i32.to_le_bytes());
    NodeId::new(ns, "farm.r0")
        .encode(&mut write, &ctx.context())
        .unwrap();
    write.extend_from_slice(&13u32.to_le_bytes()); // the Value attribute
    write.extend_from_slice(&(-1i32).to_le_bytes()); // no index range
    write.push(0x01); // a DataValue with a value
    write.extend_from_slice(variant);
    write
}

/// A Variant holding an Argument whose value rank is `i32::MAX` and whose
/// array dimensions are empty (the decoder padded them to the rank).
fn huge_rank_argument() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i32).to_le_bytes()); // name
    body.extend_from_slice(&[0, 0]); // data type: null NodeId
    body.extend_from_slice(&i32::MAX.to_le_bytes()); // value rank
    body.extend_from_slice(&0i32.to_le_bytes()); // array dimensions: []
    body.push(0); // description: empty LocalizedText
    let mut out = vec![22]; // ExtensionObject
    out.extend_from_slice(&[0x01, 0, 0x2A, 0x01]); // ns=0;i=298: Argument, binary
    out.push(0x01); // binary body
    out.extend_from_slice(&i32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend(body);
    out
}

/// A Variant holding an `ExtensionObject` of an unknown type whose body
/// claims 2 GiB and holds 8 bytes.
fn huge_extension_object() -> Vec<u8> {
    let mut out = vec![22]; // ExtensionObject
    out.extend_from_slice(&[0x01, 0, 0x39, 0x30]); // ns=0;i=12345: no such type
    out.push(0x01);
    out.extend_from_slice(&0x7FFF_FFF0i32.to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out
}

/// The server answered a broken request: a `ServiceFault` with a Bad status,
/// or an ERR and the close.
fn assert_refused(what: &str, client: &RawClient, reply: Reply) {
    match reply {
        Reply::Message(kind, body) if &kind == b"MSGF" => {
            let fault = client.decode::<PublishResponse>(&body[24..]);
            match fault {
                Err(status) => assert!(status.is_bad(), "{what}: {status}"),
                Ok(_) => panic!("{what}: answered as if it were valid"),
            }
        }
        Reply::Message(kind, _) => assert_eq!(&kind, b"ERRF", "{what}"),
        Reply::Closed => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_client_neither_stops_the_server_nor_grows_it() {
    let (registers, tags) = common::register_farm(
        TAGS,
        "generator = \"counter\"\nstep = 1\nperiod = \"100ms\"",
    );
    let (_sim, sim_addr) = start_sim(&registers).await;
    let pki = std::env::temp_dir().join(format!("eg-hostile-{}", std::process::id()));
    let cfg = config(&format!(
        r#"[opcua]
listen = "127.0.0.1:0"
pki_dir = "{pki}"
security = ["none"]
anonymous = "read"
max_message_size = {MAX_MESSAGE}
max_monitored_items = {MAX_ITEMS}
[[device]]
name = "farm"
protocol = "tcp"
host = "{sim_addr}"
poll = "100ms"
{tags}"#,
        pki = pki.display()
    ));
    let (_engine, server) = common::engine_with_opcua(&cfg).await;
    let url = server.endpoint_url.clone();
    let addr = url
        .trim_start_matches("opc.tcp://")
        .trim_end_matches('/')
        .to_owned();
    let ns = server.namespace;

    let (session, observer_loop) =
        common::opcua_session_with(&url, &pki.join("client"), 0, None).await;
    let changes = Arc::new(AtomicUsize::new(0));
    let sink = changes.clone();
    let sub = session
        .create_subscription(
            Duration::from_millis(100),
            30,
            3,
            0,
            0,
            true,
            DataChangeCallback::new(move |_, _| {
                sink.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .await
        .unwrap();
    let items: Vec<MonitoredItemCreateRequest> = (0..TAGS)
        .map(|i| NodeId::new(ns, format!("farm.r{i}")).into())
        .collect();
    session
        .create_monitored_items(sub, TimestampsToReturn::Both, items)
        .await
        .unwrap();
    let observer = Observer {
        session,
        changes,
        ns,
    };
    observer.still_served("start").await;

    // Two rounds of every attack. The first brings the server's tables and
    // buffers to their high-water marks (capacity that is kept, not grown
    // again); the second must then leave nothing behind.
    let runtime = tokio::runtime::Handle::current().metrics();
    let heap_before = settled_heap().await;
    attack_round(&addr, &url, &observer).await;
    let heap_start = settled_heap().await;
    let tasks_start = runtime.num_alive_tasks();
    eprintln!(
        "first round: the heap kept {} bytes (high-water marks)",
        heap_start - heap_before
    );
    attack_round(&addr, &url, &observer).await;
    let heap_end = settled_heap().await;
    let tasks_end = runtime.num_alive_tasks();
    eprintln!(
        "second round: heap {heap_start} -> {heap_end} bytes, tasks {tasks_start} -> {tasks_end}"
    );
    assert!(
        heap_end - heap_start < 64 << 10,
        "a second round of attacks kept {} bytes",
        heap_end - heap_start
    );
    assert!(
        tasks_end <= tasks_start,
        "tasks {tasks_start} -> {tasks_end}"
    );
    observer.still_served("every attack").await;
    observer_loop.abort();
    drop(server);
    let _ = std::fs::remove_dir_all(&pki);
}

/// Live heap bytes once every attacker's session has expired: the least of
/// a few samples, so a notification in flight does not count.
async fn settled_heap() -> isize {
    tokio::time::sleep(RAW_SESSION_TIMEOUT * 4).await;
    let mut least = isize::MAX;
    for _ in 0..5 {
        least = least.min(live_bytes());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    least
}

/// Every attack once, each followed by the check that the observer is still served.
#[allow(clippy::too_many_lines)] // one scenario after another, each a few lines
async fn attack_round(addr: &str, url: &str, observer: &Observer) {
    let ns = observer.ns;
    // 1. Garbage instead of a Hello: refused and closed.
    {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
            .collect();
        s.write_all(&garbage).await.unwrap();
        until_closed(&mut s, Duration::from_secs(10)).await;
    }
    observer.still_served("garbage instead of a Hello").await;

    // 2. A truncated Hello, held open: closed by the Hello timeout.
    {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let hello = hello_message(url);
        s.write_all(&hello[..hello.len() / 2]).await.unwrap();
        until_closed(&mut s, Duration::from_secs(15)).await;
    }
    observer.still_served("a truncated Hello").await;

    // 3. A Hello that claims 2 GiB, then a stream: refused at the header.
    {
        reset_peak();
        let base = live_bytes();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&header(*b"HELF", 0x7FFF_0000)).await.unwrap();
        let sent = stream_until_refused(&mut s).await;
        until_closed(&mut s, Duration::from_secs(5)).await;
        eprintln!("oversized Hello: the server took {sent} bytes before refusing");
        assert_peak("oversized Hello", base);
    }
    observer.still_served("an oversized Hello").await;

    // 4. On an open channel, a chunk that claims 2 GiB, then a stream.
    {
        let mut c = RawClient::open(addr, url).await;
        reset_peak();
        let base = live_bytes();
        c.send_raw(&header(*b"MSGF", 0x7FFF_0000)).await;
        let sent = stream_until_refused(&mut c.stream).await;
        let kinds = until_closed(&mut c.stream, Duration::from_secs(5)).await;
        eprintln!("oversized chunk: the server took {sent} bytes, then sent {kinds:?} and closed");
        assert_peak("oversized chunk", base);
    }
    observer.still_served("an oversized chunk").await;

    // 5. Intermediate chunks past the message's chunk limit.
    {
        let mut c = RawClient::open(addr, url).await;
        reset_peak();
        let base = live_bytes();
        let id = c.next_request_id();
        let payload = vec![0u8; 60_000];
        let mut refused = false;
        for _ in 0..200 {
            let chunk = c.chunk(*b"MSGC", id, &payload);
            if c.stream.write_all(&chunk).await.is_err() {
                refused = true;
                break;
            }
        }
        if !refused {
            let reply = c.recv().await;
            assert_refused("too many chunks", &c, reply);
        }
        assert_peak("too many chunks", base);
    }
    observer.still_served("too many chunks").await;

    // 6. A chunk cut short by the client going away.
    {
        let mut c = RawClient::open(addr, url).await;
        let mut cut = header(*b"MSGF", 1000);
        cut.extend_from_slice(&[0u8; 30]);
        c.send_raw(&cut).await;
    }
    observer.still_served("a truncated chunk").await;

    // 7. A chunk of an unknown type, and one for another channel.
    {
        let mut c = RawClient::open(addr, url).await;
        let mut bad = header(*b"MSGX", 32);
        bad.extend_from_slice(&[0u8; 24]);
        c.send_raw(&bad).await;
        until_closed(&mut c.stream, Duration::from_secs(10)).await;
        let mut c = RawClient::open(addr, url).await;
        let mut foreign = header(*b"MSGF", 40);
        for v in [0xDEAD_BEEFu32, 1, 2, 3, 0, 0, 0, 0] {
            foreign.extend_from_slice(&v.to_le_bytes());
        }
        c.send_raw(&foreign).await;
        until_closed(&mut c.stream, Duration::from_secs(10)).await;
    }
    observer.still_served("malformed chunks").await;

    // 8. An unknown service, then a Write with a Variant nested 10,000 deep.
    {
        let mut c = RawClient::open(addr, url).await;
        c.activate(url, RAW_SESSION_TIMEOUT).await;
        let mut unknown = Vec::new();
        let ctx = ContextOwned::default();
        NodeId::new(0, 99_999u32)
            .encode(&mut unknown, &ctx.context())
            .unwrap();
        c.request_header()
            .encode(&mut unknown, &ctx.context())
            .unwrap();
        c.send_payload(&unknown).await;
        let reply = c.recv().await;
        assert_refused("an unknown service", &c, reply);

        let mut c = RawClient::open(addr, url).await;
        c.activate(url, RAW_SESSION_TIMEOUT).await;
        let write = write_request(&c, ns, &nested_variant(10_000));
        assert!(write.len() < 65_000, "one chunk");
        c.send_payload(&write).await;
        let reply = c.recv().await;
        assert_refused("a deeply nested Variant", &c, reply);
    }
    observer
        .still_served("an unknown service and deep nesting")
        .await;

    // 9. Values whose few bytes claim gigabytes (found by fuzz/opcua_write):
    // an Argument of value rank 2^31 - 1, and a body of an unknown type
    // claiming 2 GiB. The stack allocated both before reading on.
    for (what, variant) in [
        ("an Argument of rank 2^31 - 1", huge_rank_argument()),
        ("an ExtensionObject claiming 2 GiB", huge_extension_object()),
    ] {
        let mut c = RawClient::open(addr, url).await;
        c.activate(url, RAW_SESSION_TIMEOUT).await;
        reset_peak();
        let base = live_bytes();
        let write = write_request(&c, ns, &variant);
        c.send_payload(&write).await;
        let reply = c.recv().await;
        assert_refused(what, &c, reply);
        assert_peak(what, base);
        observer.still_served(what).await;
    }

    // 10. A flood of CreateMonitoredItems: no more than the limit is kept.
    {
        let mut c = RawClient::open(addr, url).await;
        c.activate(url, RAW_SESSION_TIMEOUT).await;
        let created = subscribe(&mut c).await;
        let (mut accepted, mut refused) = (0usize, 0usize);
        for _ in 0..(2 * MAX_ITEMS / 1000 + 2) {
            let items: Vec<MonitoredItemCreateRequest> = (0..1000)
                .map(|i| NodeId::new(ns, format!("farm.r{}", i % TAGS)).into())
                .collect();
            let request = CreateMonitoredItemsRequest {
                request_header: c.request_header(),
                subscription_id: created.subscription_id,
                timestamps_to_return: TimestampsToReturn::Both,
                items_to_create: Some(items),
            };
            match c
                .call::<CreateMonitoredItemsResponse>(
                    ObjectId::CreateMonitoredItemsRequest_Encoding_DefaultBinary,
                    &request,
                )
                .await
            {
                Ok(r) => {
                    for item in r.results.unwrap_or_default() {
                        if item.status_code.is_good() {
                            accepted += 1;
                        } else {
                            refused += 1;
                        }
                    }
                }
                Err(_) => refused += 1000,
            }
        }
        eprintln!("CreateMonitoredItems flood: {accepted} accepted, {refused} refused");
        assert!(accepted <= MAX_ITEMS, "{accepted} items kept");
        assert!(refused > 0, "nothing refused");
    }
    observer.still_served("a CreateMonitoredItems flood").await;

    // 11. A flood of Publish requests: the excess is refused at once.
    {
        let mut c = RawClient::open(addr, url).await;
        c.activate(url, RAW_SESSION_TIMEOUT).await;
        subscribe(&mut c).await;
        for _ in 0..FLOOD {
            let payload = c.encode(
                &ObjectId::PublishRequest_Encoding_DefaultBinary.into(),
                &PublishRequest {
                    request_header: c.request_header(),
                    subscription_acknowledgements: None,
                },
            );
            c.send_payload(&payload).await;
        }
        let (mut too_many, mut answered) = (0usize, 0usize);
        while answered < FLOOD - 30 {
            let body = c.recv_message().await;
            answered += 1;
            if c.decode::<PublishResponse>(&body[24..])
                == Err(StatusCode::BadTooManyPublishRequests)
            {
                too_many += 1;
            }
        }
        eprintln!("Publish flood: {answered} answered, {too_many} BadTooManyPublishRequests");
        assert!(too_many >= FLOOD - 100, "only {too_many} refused");
    }
    observer.still_served("a Publish flood").await;
}
