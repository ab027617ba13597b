//! Modbus RTU over a real pseudo-terminal pair: the simulator serves one end,
//! the gateway opens the other by its path, as it would /dev/ttyUSB0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{config, tag, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::sim::Simulator;
use edge_gateway::tags::{BadCause, DeviceId, Quality, TagId, Value};
use tokio_serial::{SerialPort, SerialStream};

const WAIT: Duration = Duration::from_secs(10);

/// A simulator on the master side of a pty; returns the slave's path and the
/// slave handle, which must stay open for the path to stay valid.
fn pty_sim(sections: &str) -> (Arc<Simulator>, String, SerialStream) {
    let cfg = config(&format!(
        "[simulator]\nlisten = \"127.0.0.1:0\"\n{sections}"
    ));
    let sim = Simulator::new(&cfg.simulator.expect("simulator")).expect("simulator builds");
    let (master, slave) = SerialStream::pair().expect("pty pair");
    let path = slave.name().expect("pty slave has a path");
    sim.serve_rtu_stream(master);
    (sim, path, slave)
}

fn rtu_device(name: &str, port: &str, unit: u8, extra: &str, tags: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nprotocol = \"rtu\"\nport = \"{port}\"\nbaud = 115200\nunit = {unit}\n{extra}\n{tags}\n"
    )
}

#[tokio::test]
async fn dead_slave_is_demoted_and_costs_the_live_slave_at_most_one_timeout_per_period() {
    // Unit 1 exists; unit 2 does not, so it stays silent like an unplugged slave.
    let (sim, port, _keep) =
        pty_sim("[[simulator.register]]\nunit = 1\naddress = \"40001\"\nvalue = 11\n");
    let tag_toml = "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n";
    let extra =
        "poll = \"50ms\"\ntimeout = \"100ms\"\nretries = 0\ndemote_after = 2\ndemote_for = \"1s\"";
    let text = rtu_device("live", &port, 1, extra, tag_toml)
        + &rtu_device("dead", &port, 2, extra, tag_toml);
    let engine = Engine::start(&config(&text));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    wait_until("live slave good", WAIT, || {
        tag(&store, "live", "t").1 == Quality::Good
    })
    .await;
    wait_until("dead slave demoted", WAIT, || {
        store
            .device_status(DeviceId::new(1))
            .is_some_and(|s| s.demoted)
    })
    .await;

    let live_cycles = || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(Ordering::Relaxed)
    };
    let (dead0, live0) = (sim.requests(2), live_cycles());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (dead1, live1) = (sim.requests(2), live_cycles());
    // 2.5 s at a 1 s demotion period: at most 3 probes. Undemoted, it would be ~17 timeouts.
    assert!(
        dead1 - dead0 <= 3,
        "dead slave got {} requests in 2.5 s",
        dead1 - dead0
    );
    // The live slave keeps its 50 ms rhythm apart from one probe timeout per second.
    assert!(
        live1 - live0 >= 20,
        "live slave completed only {} cycles in 2.5 s",
        live1 - live0
    );
    assert_eq!(
        tag(&store, "live", "t"),
        (Some(Value::U16(11)), Quality::Good)
    );
    assert_eq!(tag(&store, "dead", "t").1, Quality::Bad(BadCause::Timeout));
}

#[tokio::test]
async fn a_late_reply_never_reaches_another_request() {
    // Two tags far apart: two blocks of the same shape (FC3, one register),
    // polled a then b in every cycle.
    let (sim, port, _keep) = pty_sim(
        "[[simulator.register]]\naddress = \"40001\"\nvalue = 111\n[[simulator.register]]\naddress = \"41001\"\nvalue = 222\n",
    );
    let tags = "[[device.tag]]\nname = \"a\"\naddress = \"40001\"\ntype = \"u16\"\n\
                [[device.tag]]\nname = \"b\"\naddress = \"41001\"\ntype = \"u16\"\n";
    // The first request for b is answered 100 ms after the gateway gave up on
    // it, while the next cycle's request for a is on the line: undrained, a
    // would take b's late reply (222), and b then a's (111).
    sim.delay_next(Some(1), 1, 1, Duration::from_millis(250));
    let engine = Engine::start(&config(&rtu_device(
        "d",
        &port,
        1,
        "poll = \"50ms\"\ntimeout = \"150ms\"\nretries = 0",
        tags,
    )));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    let (a, b) = (store.find("d", "a").unwrap(), store.find("d", "b").unwrap());
    let changes = store.track_changes().unwrap();
    let mut seen = Vec::new();
    let mut ids = Vec::new();
    let mut watch = |seen: &mut Vec<(TagId, Option<Value>)>| {
        ids.clear();
        changes.drain(&mut ids);
        for &id in &ids {
            seen.push((id, store.snapshot(id).unwrap().value));
        }
    };
    wait_until("b timed out once", WAIT, || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .outcome_total(edge_gateway::modbus::bus::Outcome::Timeout)
            >= 1
    })
    .await;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        watch(&mut seen);
    }
    watch(&mut seen);
    assert!(
        !seen.contains(&(a, Some(Value::U16(222)))),
        "a received b's late reply: {seen:?}"
    );
    assert!(
        !seen.contains(&(b, Some(Value::U16(111)))),
        "b received a's reply: {seen:?}"
    );
    assert_eq!(
        tag(&store, "d", "a"),
        (Some(Value::U16(111)), Quality::Good)
    );
    assert_eq!(
        tag(&store, "d", "b"),
        (Some(Value::U16(222)), Quality::Good)
    );
}

#[tokio::test]
async fn a_line_that_never_falls_quiet_costs_a_bounded_drain_per_cycle() {
    use tokio::io::AsyncWriteExt;
    // The test is the line: it babbles on the master side and never answers.
    let (mut master, slave) = SerialStream::pair().expect("pty pair");
    let port = slave.name().expect("pty slave has a path");
    let engine = Engine::start(&config(&rtu_device(
        "d",
        &port,
        1,
        "poll = \"50ms\"\ntimeout = \"100ms\"\nretries = 0",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )));
    let counters = engine.counters().clone();
    let cycles = || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(Ordering::Relaxed)
    };
    // One byte every 2 ms for 2 s: 1000 bytes, below the drain's byte cap, so
    // only its time cap (2 × timeout) can end a drain while the noise lasts.
    let started = cycles();
    for _ in 0..1000 {
        master.write_all(&[0x55]).await.expect("write noise");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let during = cycles() - started;
    // A cycle costs a timeout (100 ms) and a drain of at most 200 ms, plus a
    // reopen; an unbounded drain would have held the bus for the whole 2 s.
    assert!(
        during >= 4,
        "only {during} cycles finished in 2 s of noise: the drain held the bus"
    );
    assert_eq!(
        tag(&engine.store().clone(), "d", "t").1,
        Quality::Bad(BadCause::Timeout)
    );
    drop(slave);
}

#[tokio::test]
async fn a_replugged_adapter_is_followed_through_its_by_id_link() {
    // Followed both ways: the link checked before requests (slaves never
    // demoted), and the reopen once every slave is demoted (the default).
    for demote_after in [1000, 3] {
        follow_a_replugged_adapter(demote_after).await;
    }
}

async fn follow_a_replugged_adapter(demote_after: u32) {
    // Two "adapters": pty pairs with a simulator each, holding different values.
    let (old_sim, old_port, _old) =
        pty_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n");
    let (new_sim, new_port, _new) =
        pty_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 2\n");
    let dir = std::env::temp_dir().join(format!("eg-replug-{}-{demote_after}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&old_port, &link).unwrap();
    let engine = Engine::start(&config(&rtu_device(
        "d",
        link.to_str().unwrap(),
        1,
        &format!(
            "poll = \"50ms\"\ntimeout = \"100ms\"\nretries = 0\ndemote_after = {demote_after}"
        ),
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )));
    let store = engine.store().clone();
    wait_until("read through the link", WAIT, || {
        tag(&store, "d", "t") == (Some(Value::U16(1)), Quality::Good)
    })
    .await;
    // Replugged: the old tty falls silent without failing, and udev points
    // the by-id link at the new one.
    old_sim.set_silent(None, true);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&new_port, &link).unwrap();
    wait_until("the new adapter is read", WAIT, || {
        tag(&store, "d", "t") == (Some(Value::U16(2)), Quality::Good)
    })
    .await;
    assert!(new_sim.requests(1) > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_port_is_reopened_when_every_slave_on_it_is_demoted() {
    let (sim, port, _keep) = pty_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 1\n");
    let engine = Engine::start(&config(&rtu_device(
        "d",
        &port,
        1,
        "poll = \"20ms\"\ntimeout = \"50ms\"\nretries = 0\ndemote_after = 2\ndemote_for = \"100ms\"",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    wait_until("good", WAIT, || tag(&store, "d", "t").1 == Quality::Good).await;
    let opens = counters
        .device(DeviceId::new(0))
        .unwrap()
        .connects
        .load(Ordering::Relaxed);
    sim.set_silent(None, true);
    wait_until("demoted", WAIT, || {
        store
            .device_status(DeviceId::new(0))
            .is_some_and(|s| s.demoted)
    })
    .await;
    sim.set_silent(None, false);
    wait_until(
        "the port was opened again and the slave answers",
        WAIT,
        || {
            counters
                .device(DeviceId::new(0))
                .unwrap()
                .connects
                .load(Ordering::Relaxed)
                > opens
                && tag(&store, "d", "t").1 == Quality::Good
        },
    )
    .await;
}

#[tokio::test]
async fn a_demoted_slave_that_answers_its_probe_is_back_in_full_service() {
    let (sim, port, _keep) =
        pty_sim("[[simulator.register]]\nunit = 3\naddress = \"40001\"\nvalue = 33\n");
    let engine = Engine::start(&config(&rtu_device(
        "d",
        &port,
        3,
        "poll = \"50ms\"\ntimeout = \"80ms\"\nretries = 0\ndemote_after = 2\ndemote_for = \"300ms\"",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )));
    let store = engine.store().clone();
    wait_until("good", WAIT, || tag(&store, "d", "t").1 == Quality::Good).await;
    sim.set_silent(Some(3), true);
    wait_until("demoted", WAIT, || {
        store
            .device_status(DeviceId::new(0))
            .is_some_and(|s| s.demoted)
    })
    .await;
    sim.set_silent(Some(3), false);
    wait_until("back after its probe", WAIT, || {
        store
            .device_status(DeviceId::new(0))
            .is_some_and(|s| !s.demoted && s.connected)
            && tag(&store, "d", "t") == (Some(Value::U16(33)), Quality::Good)
    })
    .await;
    // In full service: polled at its own rhythm again, not once per demote_for.
    let before = sim.requests(3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sim.requests(3) - before >= 5,
        "{} requests in 500 ms at a 50 ms poll",
        sim.requests(3) - before
    );
}

#[tokio::test]
async fn the_port_is_reopened_by_its_name_after_an_io_error() {
    use tokio::io::AsyncWriteExt;
    // The gateway's tty X is joined to the simulator's tty Y by a forwarder
    // the test owns, so the test can make X go away under the gateway.
    let cfg = config(
        "[simulator]\nlisten = \"127.0.0.1:0\"\n[[simulator.register]]\naddress = \"40001\"\nvalue = 7\n",
    );
    let sim = Simulator::new(&cfg.simulator.expect("simulator")).expect("simulator builds");
    let (sim_end, far_end) = SerialStream::pair().expect("pty pair Y");
    sim.serve_rtu_stream(sim_end);
    let (x_master, x_slave) = SerialStream::pair().expect("pty pair X");
    let port = x_slave.name().expect("pty slave has a path");
    let forwarder = tokio::spawn(async move {
        let (mut a, mut b) = (x_master, far_end);
        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
        let _ = a.shutdown().await;
    });
    let engine = Engine::start(&config(&rtu_device(
        "d",
        &port,
        1,
        "poll = \"50ms\"\ntimeout = \"100ms\"\nretries = 0\nbackoff_min = \"50ms\"\nbackoff_max = \"100ms\"",
        "[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    wait_until("read through the forwarder", WAIT, || {
        tag(&store, "d", "t") == (Some(Value::U16(7)), Quality::Good)
    })
    .await;
    let connects = || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .connects
            .load(Ordering::Relaxed)
    };
    let before = connects();
    // The adapter is gone: its master end closes, the gateway's handle fails.
    forwarder.abort();
    drop(x_slave);
    wait_until("the port is opened again by its name", WAIT, || {
        connects() >= before + 2
            && store
                .device_status(DeviceId::new(0))
                .and_then(|s| s.last_error)
                .is_some_and(|e| e.contains(&format!("open {port}")))
    })
    .await;
    assert!(matches!(
        tag(&store, "d", "t").1,
        Quality::Uncertain(BadCause::Communication) | Quality::Bad(BadCause::Communication)
    ));
}
