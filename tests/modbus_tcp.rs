//! The engine against the simulator over real loopback sockets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use common::{config, dead_port, start_sim, tag, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::modbus::protocol::ExceptionCode;
use edge_gateway::tags::{BadCause, DeviceId, Kind, Quality, TagId, Value};
use edge_gateway::write::{WriteError, WriteErrorKind};

const WAIT: Duration = Duration::from_secs(10);

/// A write deadline no test write comes near.
fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + WAIT
}

fn device(name: &str, host: impl std::fmt::Display, extra: &str, tags: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nprotocol = \"tcp\"\nhost = \"{host}\"\nunit = 1\n{extra}\n{tags}\n"
    )
}

/// The store id of a tag, for writes (which go by id, as every face writes).
fn id(engine: &Engine, device: &str, tag: &str) -> TagId {
    match engine.store().find(device, tag) {
        Some(id) => id,
        None => panic!("no tag {device}.{tag}"),
    }
}

fn is_good(store: &edge_gateway::tags::TagStore, d: &str, t: &str) -> bool {
    tag(store, d, t).1 == Quality::Good
}

#[tokio::test]
async fn every_type_and_order_decodes_against_the_simulator() {
    let (_sim, addr) = start_sim(
        r#"
[[simulator.register]]
address = "40001"
type = "u16"
value = 65000
[[simulator.register]]
address = "40002"
type = "i16"
value = -1234
[[simulator.register]]
address = "40003"
type = "u32"
value = 4000000000
[[simulator.register]]
address = "40005"
type = "i32"
order = "CDAB"
value = -2000000000
[[simulator.register]]
address = "40007"
type = "u64"
order = "BADC"
value = 1234567890123
[[simulator.register]]
address = "40011"
type = "i64"
order = "DCBA"
value = -9876543210
[[simulator.register]]
address = "40015"
type = "f32"
value = 230.5
[[simulator.register]]
address = "40017"
type = "f64"
order = "CDAB"
value = -1.25e10
[[simulator.register]]
address = "40021"
type = "string"
length = 5
value = "HELLO-1"
[[simulator.register]]
address = "40041"
type = "u16"
value = 0x0010
[[simulator.register]]
address = "40042"
type = "u16"
value = 2305
[[simulator.register]]
address = "00001"
type = "bool"
value = true
[[simulator.register]]
address = "10004"
type = "bool"
value = true
[[simulator.register]]
address = "30001"
type = "f32"
order = "CDAB"
value = 50.0
"#,
    )
    .await;
    let tags = r#"
[[device.tag]]
name = "u16"
address = "40001"
type = "u16"
[[device.tag]]
name = "i16"
address = "40002"
type = "i16"
[[device.tag]]
name = "u32"
address = "40003"
type = "u32"
[[device.tag]]
name = "i32"
address = "40005"
type = "i32"
order = "CDAB"
[[device.tag]]
name = "u64"
address = "40007"
type = "u64"
order = "BADC"
[[device.tag]]
name = "i64"
address = "40011"
type = "i64"
order = "DCBA"
[[device.tag]]
name = "f32"
address = "40015"
type = "f32"
[[device.tag]]
name = "f64"
address = "40017"
type = "f64"
order = "CDAB"
[[device.tag]]
name = "text"
address = "40021"
type = "string"
length = 5
[[device.tag]]
name = "bit4"
address = "40041"
type = "bool"
bit = 4
[[device.tag]]
name = "bit5"
address = "40041"
type = "bool"
bit = 5
[[device.tag]]
name = "scaled"
address = "40042"
type = "u16"
scale = 0.1
offset = -0.5
[[device.tag]]
name = "coil"
address = "00001"
type = "bool"
[[device.tag]]
name = "discrete"
address = "10004"
[[device.tag]]
name = "input_f32_cdab"
address = "30001"
type = "f32"
order = "CDAB"
"#;
    let cfg = config(&device(
        "d",
        addr,
        "poll = \"100ms\"\ntimeout = \"40ms\"",
        tags,
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    wait_until("every tag good", WAIT, || {
        store.tags().all(|(_, m)| is_good(&store, "d", &m.name))
    })
    .await;
    let v = |t| tag(&store, "d", t).0.unwrap();
    assert_eq!(v("u16"), Value::U16(65000));
    assert_eq!(v("i16"), Value::I16(-1234));
    assert_eq!(v("u32"), Value::U32(4_000_000_000));
    assert_eq!(v("i32"), Value::I32(-2_000_000_000));
    assert_eq!(v("u64"), Value::U64(1_234_567_890_123));
    assert_eq!(v("i64"), Value::I64(-9_876_543_210));
    assert_eq!(v("f32"), Value::F32(230.5));
    assert_eq!(v("f64"), Value::F64(-1.25e10));
    assert_eq!(v("text"), Value::String("HELLO-1".into()));
    assert_eq!(v("bit4"), Value::Bool(true));
    assert_eq!(v("bit5"), Value::Bool(false));
    assert_eq!(v("scaled"), Value::F64(230.0));
    assert_eq!(v("coil"), Value::Bool(true));
    assert_eq!(v("discrete"), Value::Bool(true));
    assert_eq!(v("input_f32_cdab"), Value::F32(50.0));
    // 15 tags in 5 requests: holding 0..24 and 40..41 (the hole of 15 exceeds
    // max_gap = 8), plus one each for the coil, the discrete input and the input register.
    let status = store.device_status(DeviceId::new(0)).unwrap();
    assert_eq!(status.requests_per_cycle, 5, "coalesced requests per cycle");
}

#[tokio::test]
async fn tags_go_uncertain_then_bad_when_the_device_stops_and_good_when_it_returns() {
    let (sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 7\n").await;
    let cfg = config(&device(
        "d",
        addr,
        "poll = \"50ms\"\ntimeout = \"40ms\"\nretries = 0\nstale_after = \"400ms\"\nbackoff_min = \"20ms\"\nbackoff_max = \"100ms\"",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    let changes = store.track_changes().unwrap();
    let mut ids = Vec::new();
    wait_until("good", WAIT, || is_good(&store, "d", "t")).await;
    changes.drain(&mut ids);

    sim.stop_tcp();
    let mut seen = Vec::new();
    wait_until("bad after stale_after", WAIT, || {
        ids.clear();
        if changes.drain(&mut ids) > 0 {
            seen.push(tag(&store, "d", "t"));
        }
        matches!(tag(&store, "d", "t").1, Quality::Bad(_))
    })
    .await;
    let (value, quality) = seen.first().cloned().expect("a change was announced");
    assert_eq!(
        quality,
        Quality::Uncertain(BadCause::Communication),
        "first the last value is kept as uncertain"
    );
    assert_eq!(value, Some(Value::U16(7)));
    assert_eq!(
        tag(&store, "d", "t").1,
        Quality::Bad(BadCause::Communication)
    );
    assert!(!store.device_status(DeviceId::new(0)).unwrap().connected);

    sim.start_tcp(addr).await.unwrap();
    wait_until("good again after the device returns", WAIT, || {
        is_good(&store, "d", "t")
    })
    .await;
    assert_eq!(tag(&store, "d", "t").0, Some(Value::U16(7)));
}

#[tokio::test]
async fn exception_2_splits_block_and_keeps_other_tags_good() {
    let mut regs = String::new();
    let mut tags = String::new();
    for i in 0..10u16 {
        let _ = write!(
            regs,
            "[[simulator.register]]\nkind = \"holding\"\naddress = {i}\nvalue = {}\n",
            100 + i
        );
        let _ = write!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\nkind = \"holding\"\naddress = {i}\ntype = \"u16\"\n"
        );
    }
    regs += "[[simulator.exception]]\nkind = \"holding\"\nstart = 5\ncount = 1\ncode = 2\n";
    let (sim, addr) = start_sim(&regs).await;
    let cfg = config(&device(
        "d",
        addr,
        "poll = \"50ms\"\ntimeout = \"40ms\"",
        &tags,
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    wait_until("all but r5 good", WAIT, || {
        (0..10)
            .filter(|i| *i != 5)
            .all(|i| is_good(&store, "d", &format!("r{i}")))
    })
    .await;
    for i in (0..10u16).filter(|i| *i != 5) {
        assert_eq!(
            tag(&store, "d", &format!("r{i}")).0,
            Some(Value::U16(100 + i))
        );
    }
    assert_eq!(
        tag(&store, "d", "r5").1,
        Quality::Bad(BadCause::Exception(ExceptionCode::IllegalDataAddress))
    );

    // The split is remembered: later cycles cost the same number of requests.
    let per_cycle = store
        .device_status(DeviceId::new(0))
        .unwrap()
        .requests_per_cycle;
    assert!(
        (2..=6).contains(&per_cycle),
        "binary split of 10 tags around one bad one: {per_cycle}"
    );
    let counters = engine.counters().clone();
    let cycles = |_: &edge_gateway::tags::TagStore| {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let (c0, r0) = (cycles(&store), sim.requests(1));
    wait_until("five more cycles", WAIT, || cycles(&store) >= c0 + 5).await;
    let (c1, r1) = (cycles(&store), sim.requests(1));
    assert_eq!(
        store
            .device_status(DeviceId::new(0))
            .unwrap()
            .requests_per_cycle,
        per_cycle
    );
    let per = (r1 - r0) as f64 / (c1 - c0) as f64;
    assert!(
        (per - f64::from(per_cycle)).abs() <= 1.0,
        "{per} requests per cycle on the wire, plan says {per_cycle}"
    );
}

#[tokio::test]
async fn reconnects_to_a_dead_device_back_off_exponentially() {
    let cfg = config(&device(
        "dead",
        dead_port(),
        "poll = \"20ms\"\ntimeout = \"15ms\"\nretries = 0\nbackoff_min = \"100ms\"\nbackoff_max = \"400ms\"",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    let cycles = || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    wait_until("60 poll cycles", WAIT, || cycles() >= 60).await;
    let attempts = counters
        .device(DeviceId::new(0))
        .unwrap()
        .connects
        .load(std::sync::atomic::Ordering::Relaxed);
    // 60 cycles of 20 ms = 1.2 s; delays 50-100, 100-200, 200-400, then 200-400 ms:
    // at most ~9 attempts, where a gateway without backoff would make 60.
    assert!(
        (2..=12).contains(&attempts),
        "{attempts} connection attempts in {} cycles",
        cycles()
    );
    assert_eq!(
        tag(&store, "dead", "t").1,
        Quality::Bad(BadCause::Communication)
    );
}

#[tokio::test]
async fn dead_device_does_not_delay_other_buses() {
    let (silent, silent_addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\n").await;
    silent.set_silent(None, true);
    let (_live, live_addr) =
        start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n").await;
    let tag_toml = "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n";
    let text = device(
        "slow",
        silent_addr,
        "poll = \"1s\"\ntimeout = \"300ms\"\nretries = 2",
        tag_toml,
    ) + &device(
        "fast",
        live_addr,
        "poll = \"20ms\"\ntimeout = \"100ms\"",
        tag_toml,
    );
    let engine = Engine::start(&config(&text));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    let cycles = |d| {
        counters
            .device(DeviceId::new(d))
            .unwrap()
            .cycles
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    wait_until("the silent device's first cycle finished", WAIT, || {
        cycles(0) >= 1
    })
    .await;
    // That one cycle took 3 × 300 ms; had the buses been serialized, the fast
    // device (20 ms poll) would have completed only a handful of cycles by now.
    assert!(
        cycles(1) >= 15,
        "fast device completed only {} cycles",
        cycles(1)
    );
    assert_eq!(tag(&store, "slow", "t").1, Quality::Bad(BadCause::Timeout));
    assert!(is_good(&store, "fast", "t"));
}

#[tokio::test]
async fn writes_reach_the_device_only_for_writable_tags_and_valid_values() {
    let (sim, addr) = start_sim(
        "[[simulator.register]]\naddress = \"40001\"\nvalue = 0x00F0\n[[simulator.register]]\naddress = \"40010\"\n\
         [[simulator.exception]]\nkind = \"holding\"\nstart = 19\ncode = 2\n",
    )
    .await;
    let tags = r#"
[[device.tag]]
name = "status"
address = "40001"
type = "u16"
[[device.tag]]
name = "bit0"
address = "40001"
type = "bool"
bit = 0
writable = true
[[device.tag]]
name = "setpoint"
address = "40010"
type = "u16"
scale = 0.1
writable = true
[[device.tag]]
name = "readonly"
address = "40011"
type = "u16"
[[device.tag]]
name = "wide"
address = "40012"
type = "f32"
writable = true
[[device.tag]]
name = "motor"
address = "00001"
type = "bool"
writable = true
[[device.tag]]
name = "refused"
address = "40020"
type = "u16"
writable = true
"#;
    // A long poll: after the first cycle only the writes touch the wire.
    let engine = Engine::start(&config(&device(
        "d",
        addr,
        "poll = \"60s\"\ntimeout = \"200ms\"",
        tags,
    )));
    let store = engine.store().clone();
    wait_until("status good", WAIT, || is_good(&store, "d", "status")).await;

    assert_eq!(
        engine
            .write_id(id(&engine, "d", "setpoint"), Value::F64(123.4), soon())
            .await,
        Ok(Value::F64(123.4))
    );
    assert_eq!(sim.get_raw(1, Kind::Holding, 9), Some(1234));
    assert_eq!(
        tag(&store, "d", "setpoint").0,
        Some(Value::F64(123.4)),
        "store updated at once"
    );

    // A bit inside a register: read-modify-write keeps the other bits.
    assert_eq!(
        engine
            .write_id(id(&engine, "d", "bit0"), Value::Bool(true), soon())
            .await,
        Ok(Value::Bool(true))
    );
    assert_eq!(sim.get_raw(1, Kind::Holding, 0), Some(0x00F1));

    assert_eq!(
        engine
            .write_id(id(&engine, "d", "motor"), Value::Bool(true), soon())
            .await,
        Ok(Value::Bool(true))
    );
    assert_eq!(sim.get_raw(1, Kind::Coil, 0), Some(1));

    assert_eq!(
        engine
            .write_id(id(&engine, "d", "wide"), Value::F64(-2.5), soon())
            .await,
        Ok(Value::F32(-2.5))
    );
    let before = sim.requests(1);
    assert_eq!(
        engine
            .write_id(id(&engine, "d", "readonly"), Value::U16(1), soon())
            .await,
        Err(WriteError::not_writable())
    );
    assert_eq!(
        engine
            .write_id(id(&engine, "d", "status"), Value::U16(1), soon())
            .await,
        Err(WriteError::not_writable())
    );
    assert!(
        matches!(
            engine.write_id(id(&engine, "d", "setpoint"), Value::F64(7000.0), soon()).await,
            Err(ref e) if e.kind() == WriteErrorKind::OutOfRange
        ),
        "65535 × 0.1 is the top"
    );
    assert!(matches!(
        engine.write_id(id(&engine, "d", "motor"), Value::U16(1), soon()).await,
        Err(ref e) if e.kind() == WriteErrorKind::TypeMismatch
    ));
    assert_eq!(
        engine
            .write_id(TagId::new(engine.store().len()), Value::U16(1), soon())
            .await,
        Err(WriteError::unknown_tag())
    );
    assert_eq!(
        sim.requests(1),
        before,
        "a refused write must not reach the device"
    );
    assert_eq!(
        engine
            .write_id(id(&engine, "d", "refused"), Value::U16(5), soon())
            .await,
        Err(WriteError::exception(ExceptionCode::IllegalDataAddress))
    );
}

#[tokio::test]
async fn an_overrunning_cycle_is_counted_and_missed_cycles_are_not_queued() {
    let (sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 3\n").await;
    sim.set_delay(None, Duration::from_millis(60));
    let cfg = config(&device(
        "d",
        addr,
        "poll = \"20ms\"\ntimeout = \"300ms\"\nretries = 0",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    let counter =
        |f: fn(&edge_gateway::modbus::bus::DeviceCounters) -> &std::sync::atomic::AtomicU64| {
            f(counters.device(DeviceId::new(0)).unwrap()).load(std::sync::atomic::Ordering::Relaxed)
        };
    // Each cycle takes 60 ms against a 20 ms poll: about 30 slots fall behind per second.
    wait_until("15 slow cycles", WAIT, || counter(|c| &c.cycles) >= 15).await;
    assert!(
        counter(|c| &c.overruns) >= 13,
        "overruns counted: {}",
        counter(|c| &c.overruns)
    );
    assert!(
        is_good(&store, "d", "t"),
        "a slow device is still a good device"
    );

    sim.set_delay(None, Duration::ZERO);
    let before = counter(|c| &c.cycles);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst = counter(|c| &c.cycles) - before;
    // Queued missed slots would fire back to back (30+ cycles at once);
    // without a queue, 200 ms at a 20 ms poll is about 10 cycles.
    assert!(
        burst <= 20,
        "{burst} cycles in 200 ms: missed cycles were queued"
    );
}

#[tokio::test]
async fn pauses_after_connect_and_between_requests_are_kept() {
    let (_sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\n").await;
    // Three blocks: a coil, an input and a holding register.
    let tags = "[[device.tag]]\nname = \"c\"\naddress = \"00001\"\n\
                [[device.tag]]\nname = \"i\"\naddress = \"30001\"\ntype = \"u16\"\n\
                [[device.tag]]\nname = \"h\"\naddress = \"40001\"\ntype = \"u16\"\n";
    let cfg = config(&device(
        "d",
        addr,
        "poll = \"1s\"\ntimeout = \"200ms\"\npause_after_connect = \"100ms\"\npause_between_requests = \"50ms\"",
        tags,
    ));
    let engine = Engine::start(&cfg);
    let store = engine.store().clone();
    wait_until("first cycle", WAIT, || {
        store
            .device_status(DeviceId::new(0))
            .is_some_and(|s| s.last_cycle_at.is_some())
    })
    .await;
    let first = store.device_status(DeviceId::new(0)).unwrap();
    assert_eq!(first.requests_per_cycle, 3);
    // 100 ms after connecting, then 50 ms before each of the two later requests.
    assert!(
        first.last_poll_duration >= Duration::from_millis(200),
        "first cycle took {:?}",
        first.last_poll_duration
    );
}

#[tokio::test]
async fn a_write_whose_caller_gave_up_never_reaches_the_device() {
    let (sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n").await;
    // Every answer takes 300 ms, so the bus is busy when the write arrives.
    sim.set_delay(None, Duration::from_millis(300));
    let tags =
        "[[device.tag]]\nname = \"sp\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n";
    let engine = Engine::start(&config(&device(
        "d",
        addr,
        "poll = \"2s\"\ntimeout = \"500ms\"\nretries = 0",
        tags,
    )));
    wait_until("the first poll is on the wire", WAIT, || {
        sim.requests(1) >= 1
    })
    .await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(50),
        engine.write_id(id(&engine, "d", "sp"), Value::U16(99), soon()),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the caller timed out while the bus was busy"
    );
    // Give the bus time to finish the poll and look at its queue.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sim.get_raw(1, Kind::Holding, 0),
        Some(1),
        "a write nobody waits for any more must not be sent late"
    );
    // A write that is waited for still goes through.
    assert_eq!(
        engine
            .write_id(id(&engine, "d", "sp"), Value::U16(7), soon())
            .await,
        Ok(Value::U16(7))
    );
    assert_eq!(sim.get_raw(1, Kind::Holding, 0), Some(7));
}

#[tokio::test]
async fn exceptions_0a_and_0b_mean_the_device_behind_a_gateway_is_down() {
    for code in [10u8, 11] {
        let (_sim, addr) = start_sim(&format!(
            "[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n\
             [[simulator.exception]]\nkind = \"holding\"\nstart = 0\ncount = 1\ncode = {code}\n"
        ))
        .await;
        let engine = Engine::start(&config(&device(
            "d",
            addr,
            "poll = \"50ms\"\ntimeout = \"200ms\"\nretries = 0",
            "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n",
        )));
        let store = engine.store().clone();
        wait_until("a cycle ended", WAIT, || {
            store
                .device_status(DeviceId::new(0))
                .is_some_and(|s| s.last_cycle_at.is_some())
        })
        .await;
        let status = store.device_status(DeviceId::new(0)).unwrap();
        assert!(!status.connected, "exception {code}: the device is not up");
        assert!(
            status
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(&format!("exception {code}"))),
            "{status:?}"
        );
        assert_eq!(
            tag(&store, "d", "t").1,
            Quality::Bad(BadCause::Communication),
            "exception {code}"
        );
        // A write is refused as a communication failure, not as the device's answer.
        let write = engine
            .write_id(id(&engine, "d", "t"), Value::U16(2), soon())
            .await;
        assert_eq!(
            write.map_err(|e| e.kind()),
            Err(WriteErrorKind::Communication)
        );
    }
}

#[tokio::test]
async fn exception_06_is_retried_and_other_exceptions_are_not() {
    use edge_gateway::modbus::bus::{Function, Outcome};
    let (_sim, addr) = start_sim(
        "[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n[[simulator.register]]\naddress = \"40101\"\nvalue = 1\n\
         [[simulator.exception]]\nkind = \"holding\"\nstart = 0\ncount = 1\ncode = 6\n\
         [[simulator.exception]]\nkind = \"holding\"\nstart = 100\ncount = 1\ncode = 4\n",
    )
    .await;
    let engine = Engine::start(&config(&format!(
        "{}{}",
        device(
            "busy",
            addr,
            "poll = \"50ms\"\ntimeout = \"500ms\"\nretries = 2",
            "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
        ),
        device(
            "failing",
            addr,
            "poll = \"50ms\"\ntimeout = \"500ms\"\nretries = 2",
            "[[device.tag]]\nname = \"t\"\naddress = \"40101\"\ntype = \"u16\"\n"
        )
    )));
    let counters = engine.counters().clone();
    let per_cycle = |d: usize| {
        let c = counters.device(DeviceId::new(d)).unwrap();
        let cycles = c.cycles.load(std::sync::atomic::Ordering::Relaxed);
        let requests = c.requests(Function::ReadHoldingRegisters, Outcome::Exception);
        (cycles, requests)
    };
    wait_until("a few cycles each", WAIT, || {
        per_cycle(0).0 >= 3 && per_cycle(1).0 >= 3
    })
    .await;
    let ((busy_cycles, busy), (failing_cycles, failing)) = (per_cycle(0), per_cycle(1));
    // Device busy: the first try and both retries, every cycle.
    assert!(
        busy >= busy_cycles * 3,
        "{busy} requests in {busy_cycles} cycles"
    );
    // Device failure (04): one request per cycle, no retry.
    assert!(
        failing <= failing_cycles + 1,
        "{failing} requests in {failing_cycles} cycles"
    );
}

#[tokio::test]
async fn writes_beyond_the_bus_queue_are_refused_busy_without_reaching_the_device() {
    let (sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n").await;
    sim.set_delay(None, Duration::from_millis(30));
    let engine = std::sync::Arc::new(Engine::start(&config(&device(
        "d",
        addr,
        "poll = \"10s\"\ntimeout = \"5s\"\nretries = 0",
        "[[device.tag]]\nname = \"sp\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n",
    ))));
    let id = id(&engine, "d", "sp");
    wait_until("first poll", WAIT, || is_good(engine.store(), "d", "sp")).await;
    let queue = edge_gateway::modbus::bus::WRITE_QUEUE;
    let writes: Vec<_> = (0..queue + 20)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                engine.write_id(id, Value::U16(2), deadline).await
            })
        })
        .collect();
    let mut busy = 0;
    let mut done = 0;
    for w in writes {
        match w.await.unwrap() {
            Ok(_) => done += 1,
            Err(e) if e.kind() == WriteErrorKind::Busy => busy += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        busy >= 19,
        "{busy} writes refused Busy beyond a queue of {queue}"
    );
    assert_eq!(busy + done, queue + 20);
    assert!(
        sim.requests(1) <= 1 + done as u64 + 1,
        "a refused write reached the device: {} requests for {done} writes",
        sim.requests(1)
    );
}
