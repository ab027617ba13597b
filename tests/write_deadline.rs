//! One deadline per write: nothing reaches a device after the caller was
//! answered, whether the write waited behind a slow poll or was half-way
//! through a bit's read-modify-write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::time::Duration;

use common::fake::SlowDevice;
use common::{config, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::tags::{TagId, Value};
use edge_gateway::write::WriteErrorKind;
use tokio::time::Instant;

const READ_HOLDING: u8 = 3;
const WRITE_SINGLE: u8 = 6;

fn engine(device: &SlowDevice, tags: &str) -> Engine {
    Engine::start(&config(&format!(
        "[[device]]\nname = \"d\"\nprotocol = \"tcp\"\nhost = \"{}\"\npoll = \"10s\"\ntimeout = \"2s\"\nretries = 0\n{tags}",
        device.addr
    )))
}

/// The engine for `tags` on `device`, once its start-up poll was answered,
/// so a write meets an idle bus; the id of tag `name`.
async fn after_first_poll(device: &SlowDevice, tags: &str, name: &str) -> (Engine, TagId) {
    let engine = engine(device, tags);
    let id = engine.store().find("d", name).unwrap();
    wait_until("the first poll is answered", Duration::from_secs(5), || {
        engine.store().snapshot(id).unwrap().value.is_some()
    })
    .await;
    (engine, id)
}

#[tokio::test]
async fn the_second_half_of_a_bit_write_is_not_sent_after_the_deadline() {
    // The read of the read-modify-write answers after the caller's deadline.
    let device = SlowDevice::start(|f| match f {
        READ_HOLDING => Duration::from_millis(400),
        _ => Duration::ZERO,
    })
    .await;
    let (engine, id) = after_first_poll(
        &device,
        "[[device.tag]]\nname = \"b\"\naddress = \"40001\"\ntype = \"bool\"\nbit = 3\nwritable = true\n",
        "b",
    )
    .await;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(200);
    let result = engine.write_id(id, Value::Bool(true), deadline).await;
    let answered = Instant::now();
    assert_eq!(result.map_err(|e| e.kind()), Err(WriteErrorKind::Timeout));
    assert!(
        answered < deadline + Duration::from_millis(200),
        "answered {:?} after the deadline",
        answered - deadline
    );
    // The device would answer the read at 400 ms; had the FC6 followed, it
    // would be here well within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        device.arrivals(READ_HOLDING).len(),
        2,
        "the poll and the write's read"
    );
    assert!(
        device.arrivals(WRITE_SINGLE).is_empty(),
        "the write's second half went out after its caller was answered"
    );
}

#[tokio::test]
async fn a_write_queued_behind_a_slow_poll_is_never_sent_after_its_deadline() {
    // Every poll answer takes 600 ms; the write waits for the bus.
    let device = SlowDevice::start(|f| match f {
        READ_HOLDING => Duration::from_millis(600),
        _ => Duration::ZERO,
    })
    .await;
    let engine = engine(
        &device,
        "[[device.tag]]\nname = \"sp\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n",
    );
    let id = engine.store().find("d", "sp").unwrap();
    wait_until(
        "the first poll is on the wire",
        Duration::from_secs(5),
        || !device.arrivals(READ_HOLDING).is_empty(),
    )
    .await;
    let deadline = Instant::now() + Duration::from_millis(200);
    let result = engine.write_id(id, Value::U16(9), deadline).await;
    let answered = Instant::now();
    assert_eq!(result.map_err(|e| e.kind()), Err(WriteErrorKind::Timeout));
    assert!(answered < deadline + Duration::from_millis(200));
    // The poll ends at 600 ms; the bus then finds the write expired.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        device.arrivals(WRITE_SINGLE).is_empty(),
        "a write went out after its caller was told it timed out"
    );
    // A write with time to spare still goes through.
    let deadline = Instant::now() + Duration::from_secs(5);
    assert_eq!(
        engine.write_id(id, Value::U16(7), deadline).await,
        Ok(Value::U16(7))
    );
    assert_eq!(device.arrivals(WRITE_SINGLE).len(), 1);
}

#[tokio::test]
async fn a_slow_answer_is_awaited_only_until_the_deadline() {
    // The device takes 1.5 s to acknowledge a write; the device timeout is 2 s.
    let device = SlowDevice::start(|f| match f {
        WRITE_SINGLE => Duration::from_millis(1500),
        _ => Duration::ZERO,
    })
    .await;
    let (engine, id) = after_first_poll(
        &device,
        "[[device.tag]]\nname = \"sp\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n",
        "sp",
    )
    .await;
    let deadline = Instant::now() + Duration::from_millis(300);
    let result = engine.write_id(id, Value::U16(5), deadline).await;
    let answered = Instant::now();
    let error = result.unwrap_err();
    assert_eq!(error.kind(), WriteErrorKind::Timeout);
    // The bus's own wait ended at the deadline (not the caller's fallback timer).
    assert!(
        error.to_string().contains("did not answer within"),
        "{error}"
    );
    assert!(
        answered < deadline + Duration::from_millis(200),
        "the bus waited {:?} past the deadline",
        answered - deadline
    );
    assert_eq!(
        device.arrivals(WRITE_SINGLE).len(),
        1,
        "sent once, before the deadline"
    );
    assert!(device.arrivals(WRITE_SINGLE)[0].at < deadline);
}
