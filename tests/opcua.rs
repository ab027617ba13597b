//! The OPC UA server over loopback with async-opcua's client: values and
//! status codes, refused anonymous writes, the session gauge. The independent
//! client's checks (Python asyncua) are in tests/interop/.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{config, dead_port, start_sim, wait_until};
use edge_gateway::tags::DeviceId;
use opcua::client::Session;
use opcua::types::{
    AttributeId, DataValue, NodeId, ReadValueId, StatusCode, TimestampsToReturn, Variant,
    WriteValue,
};

const WAIT: Duration = Duration::from_secs(15);

async fn read(session: &Session, node: &NodeId) -> DataValue {
    let ids = [ReadValueId::from(node.clone())];
    let mut values = session
        .read(&ids, TimestampsToReturn::Both, 0.0)
        .await
        .expect("read service");
    values.pop().expect("one value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_statuses_and_refused_anonymous_writes_over_opc_ua() {
    let (sim, sim_addr) = start_sim(
        "[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\nvalue = 230.5\n[[simulator.register]]\naddress = \"40001\"\nvalue = 7\n",
    )
    .await;
    let pki = std::env::temp_dir().join(format!("eg-opcua-test-{}", std::process::id()));
    let text = format!(
        r#"[gateway]
name = "test line"
[opcua]
listen = "127.0.0.1:0"
pki_dir = "{pki}"
security = ["none"]
anonymous = "read"
[[device]]
name = "meter"
protocol = "tcp"
host = "{sim_addr}"
poll = "100ms"
timeout = "80ms"
[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
unit = "V"
[[device.tag]]
name = "setpoint"
address = "40001"
type = "u16"
writable = true
[[device]]
name = "gone"
protocol = "tcp"
host = "{dead}"
poll = "100ms"
timeout = "80ms"
retries = 0
[[device.tag]]
name = "t"
address = "40001"
type = "u16"
"#,
        pki = pki.display(),
        dead = dead_port()
    );
    let cfg = config(&text);
    let (engine, server) = common::engine_with_opcua(&cfg).await;
    assert!(
        pki.join("own/cert.der").exists(),
        "own certificate made on first start"
    );
    let store = engine.store().clone();
    wait_until("both devices polled", WAIT, || {
        (0..2).all(|d| {
            store
                .device_status(DeviceId::new(d))
                .is_some_and(|s| s.last_cycle_at.is_some())
        })
    })
    .await;

    let (session, event_loop) =
        common::opcua_session(&server.endpoint_url, &pki.join("client")).await;

    let ns = server.namespace;
    let voltage = read(&session, &NodeId::new(ns, "meter.voltage")).await;
    assert_eq!(voltage.status, Some(StatusCode::Good));
    assert_eq!(voltage.value, Some(Variant::Float(230.5)));
    assert!(voltage.source_timestamp.is_some() && voltage.server_timestamp.is_some());

    let gone = read(&session, &NodeId::new(ns, "gone.t")).await;
    assert_eq!(
        gone.status,
        Some(StatusCode::BadCommunicationError),
        "a bad tag keeps its status on Read"
    );
    assert!(
        matches!(gone.value, None | Some(Variant::Empty)),
        "no stale number for a bad tag: {:?}",
        gone.value
    );

    let connected = read(&session, &NodeId::new(ns, "meter._Status.Connected")).await;
    assert_eq!(connected.value, Some(Variant::Boolean(true)));

    let write = WriteValue {
        node_id: NodeId::new(ns, "meter.setpoint"),
        attribute_id: AttributeId::Value as u32,
        index_range: opcua::types::NumericRange::default(),
        value: DataValue::value_only(Variant::UInt16(9)),
    };
    let results = session.write(&[write]).await.expect("write service");
    assert_eq!(results, vec![StatusCode::BadUserAccessDenied]);
    assert_eq!(
        sim.get_raw(1, edge_gateway::tags::Kind::Holding, 0),
        Some(7),
        "nothing reached the device"
    );

    wait_until("the session gauge counts the client", WAIT, || {
        engine.health().opcua_sessions.load(Ordering::Relaxed) == 1
    })
    .await;
    let _ = session.disconnect().await;
    event_loop.abort();
    drop(server);
    let _ = std::fs::remove_dir_all(&pki);
}
