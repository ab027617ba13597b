//! A reload applied to a running engine (`Engine::reshape`), on tokio's
//! paused clock with in-memory devices: devices added, removed and changed
//! start and stop alone, and a device the reload does not touch keeps its
//! rhythm, its connection and its tag ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_gateway::config::{Config, ConfigChanges, RunningConfig, SerialSettings};
use edge_gateway::engine::{Engine, Reshaped};
use edge_gateway::modbus::bus::Outcome;
use edge_gateway::modbus::transport::{Connector, DeviceStream};
use edge_gateway::tags::{Quality, Value};
use edge_gateway::write::WriteErrorKind;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::time::{Instant, sleep};

use common::config;
use common::fake::{frame, read_frame};

/// One read as it reached a device: which endpoint, unit and start address, when.
#[derive(Debug, Clone)]
struct Read {
    endpoint: String,
    unit: u8,
    start: u16,
    at: Instant,
}

/// In-memory Modbus TCP devices: every endpoint answers reads of any unit
/// with `unit * 100 + register` and echoes writes; reads and connects are logged.
#[derive(Debug, Default)]
struct Plant {
    reads: Mutex<Vec<Read>>,
    connects: Mutex<HashMap<String, usize>>,
}

impl Plant {
    /// The reads of tag `a` (every read but those of `w` at 40100).
    fn reads(&self, endpoint: &str, unit: u8) -> Vec<Read> {
        let reads = self.reads.lock().unwrap();
        reads
            .iter()
            .filter(|r| r.endpoint == endpoint && r.unit == unit && r.start != 99)
            .cloned()
            .collect()
    }

    fn connects(&self, endpoint: &str) -> usize {
        self.connects
            .lock()
            .unwrap()
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(plant: Arc<Plant>, endpoint: String, mut stream: DuplexStream) {
    while let Some((tid, unit, pdu)) = read_frame(&mut stream).await {
        let start = u16::from_be_bytes([pdu[1], pdu[2]]);
        let answer = match pdu[0] {
            3 | 4 => {
                let count = u16::from_be_bytes([pdu[3], pdu[4]]);
                plant.reads.lock().unwrap().push(Read {
                    endpoint: endpoint.clone(),
                    unit,
                    start,
                    at: Instant::now(),
                });
                let mut a = vec![pdu[0], u8::try_from(count * 2).unwrap()];
                for r in start..start + count {
                    a.extend((u16::from(unit) * 100 + r).to_be_bytes());
                }
                a
            }
            6 => pdu.clone(),
            f => vec![f | 0x80, 1],
        };
        if stream.write_all(&frame(tid, unit, &answer)).await.is_err() {
            return;
        }
    }
}

#[derive(Debug)]
struct PlantConnector(Arc<Plant>);

#[async_trait::async_trait]
impl Connector for PlantConnector {
    async fn connect_tcp(&self, endpoint: &str) -> io::Result<Box<dyn DeviceStream>> {
        *self
            .0
            .connects
            .lock()
            .unwrap()
            .entry(endpoint.to_owned())
            .or_default() += 1;
        let (ours, theirs) = tokio::io::duplex(4096);
        tokio::spawn(serve(self.0.clone(), endpoint.to_owned(), theirs));
        Ok(Box::new(ours))
    }

    fn open_serial(&self, _: &str, _: SerialSettings) -> io::Result<Box<dyn DeviceStream>> {
        Err(io::ErrorKind::NotFound.into())
    }
}

/// A device with one holding register tag `a` at `address` (and a writable `w`).
fn device(name: &str, host: &str, unit: u8, poll: &str, address: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nprotocol = \"tcp\"\nhost = \"{host}\"\nunit = {unit}\n\
         poll = \"{poll}\"\ntimeout = \"50ms\"\n\
         [[device.tag]]\nname = \"a\"\naddress = \"{address}\"\ntype = \"u16\"\n\
         [[device.tag]]\nname = \"w\"\naddress = \"40100\"\ntype = \"u16\"\nwritable = true\n"
    )
}

fn reshape(engine: &Engine, old: &Config, new: &Config) -> (ConfigChanges, Reshaped) {
    let changes = ConfigChanges::between(&RunningConfig::of(old), new);
    let done = engine.reshape(new, &changes).unwrap();
    (changes, done)
}

fn value(engine: &Engine, device: &str, tag: &str) -> Option<(Quality, Option<Value>)> {
    let id = engine.store().find(device, tag)?;
    let snap = engine.store().snapshot(id)?;
    Some((snap.quality, snap.value))
}

#[tokio::test(start_paused = true)]
async fn a_reload_starts_and_stops_devices_alone_and_the_untouched_one_keeps_its_rhythm() {
    let plant = Arc::new(Plant::default());
    let connector: Arc<dyn Connector> = Arc::new(PlantConnector(plant.clone()));
    let before = config(&format!(
        "{}{}{}",
        device("steady", "plc:502", 1, "100ms", "40001"),
        device("leaving", "plc:502", 2, "100ms", "40001"),
        device("changing", "drive:502", 3, "200ms", "40001"),
    ));
    let engine = Engine::start_with(&before, &connector);
    let t0 = Instant::now();
    let steady_a = engine.store().find("steady", "a").unwrap();
    let changing_a = engine.store().find("changing", "a").unwrap();
    sleep(Duration::from_millis(1050)).await;
    assert_eq!(value(&engine, "leaving", "a").unwrap().0, Quality::Good);

    let after = config(&format!(
        "{}{}{}",
        device("steady", "plc:502", 1, "100ms", "40001"),
        device("changing", "drive:502", 3, "200ms", "40002"),
        device("arriving", "plc:502", 4, "100ms", "40001"),
    ));
    let reloaded_at = Instant::now();
    let (changes, done) = reshape(&engine, &before, &after);
    assert_eq!(changes.unchanged, ["steady"]);
    assert_eq!(done.stopped, ["leaving", "changing"]);
    assert_eq!(done.started, ["changing", "arriving"]);
    assert!(
        done.restarted_buses.is_empty() && done.stopped_buses.is_empty(),
        "{done:?}"
    );
    sleep(Duration::from_secs(1)).await;

    // The untouched device: every 100 ms from the start, none missed or
    // delayed, on the one connection it always had, with the same ids.
    let steady = plant.reads("plc:502", 1);
    let offsets: Vec<u128> = steady.iter().map(|r| (r.at - t0).as_millis()).collect();
    assert_eq!(offsets, (0..=20).map(|i| i * 100).collect::<Vec<u128>>());
    assert_eq!(
        plant.connects("plc:502"),
        1,
        "the shared connection was kept"
    );
    assert_eq!(engine.store().find("steady", "a"), Some(steady_a));
    assert_eq!(
        value(&engine, "steady", "a").unwrap(),
        (Quality::Good, Some(Value::U16(100)))
    );
    let counters = engine
        .counters()
        .device(engine.store().meta(steady_a).unwrap().device)
        .unwrap();
    assert_eq!(
        counters.overruns.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        counters.requests(
            edge_gateway::modbus::bus::Function::ReadHoldingRegisters,
            Outcome::Timeout
        ),
        0
    );

    // The removed device: no read after the reload, its tags unknown.
    assert!(
        plant
            .reads("plc:502", 2)
            .iter()
            .all(|r| r.at <= reloaded_at)
    );
    assert!(value(&engine, "leaving", "a").is_none());
    // The added one: polled from the reload on, over the same connection.
    let arriving = plant.reads("plc:502", 4);
    assert_eq!(arriving.first().map(|r| r.at), Some(reloaded_at));
    assert_eq!(arriving.len(), 10);
    assert_eq!(
        value(&engine, "arriving", "a").unwrap(),
        (Quality::Good, Some(Value::U16(400)))
    );
    // The changed one: new ids, the new address read from the reload on.
    let changed_a = engine.store().find("changing", "a").unwrap();
    assert_ne!(changed_a, changing_a);
    assert!(
        engine.store().meta(changing_a).is_none(),
        "the old id is a tombstone"
    );
    assert!(
        plant
            .reads("drive:502", 3)
            .iter()
            .filter(|r| r.at > reloaded_at)
            .all(|r| r.start == 1),
        "after the reload only the new address (40002) is read"
    );
    assert_eq!(
        value(&engine, "changing", "a").unwrap(),
        (Quality::Good, Some(Value::U16(301)))
    );
    assert!(engine.health().liveness().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_bus_left_without_devices_stops_and_writes_follow_the_reload() {
    let plant = Arc::new(Plant::default());
    let connector: Arc<dyn Connector> = Arc::new(PlantConnector(plant.clone()));
    let before = config(&format!(
        "{}{}",
        device("stays", "plc:502", 1, "100ms", "40001"),
        device("goes", "drive:502", 2, "100ms", "40001"),
    ));
    let engine = Engine::start_with(&before, &connector);
    sleep(Duration::from_millis(500)).await;
    let goes_w = engine.store().find("goes", "w").unwrap();

    let after = config(&format!(
        "{}{}",
        device("stays", "plc:502", 1, "100ms", "40001"),
        device("new", "meter:502", 5, "100ms", "40001"),
    ));
    let (_, done) = reshape(&engine, &before, &after);
    assert_eq!(done.stopped_buses, ["tcp://drive:502"]);
    let deadline = Instant::now() + Duration::from_secs(1);
    let refused = engine
        .write_id(goes_w, Value::U16(1), deadline)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), WriteErrorKind::UnknownTag, "{refused}");
    let new_w = engine.store().find("new", "w").unwrap();
    let written = engine
        .write_id(new_w, Value::U16(7), deadline)
        .await
        .unwrap();
    assert_eq!(written, Value::U16(7));

    // The stopped bus no longer beats, and liveness does not wait for it.
    sleep(Duration::from_secs(600)).await;
    let drive_reads = plant.reads("drive:502", 2).len();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        plant.reads("drive:502", 2).len(),
        drive_reads,
        "nothing polls the removed bus"
    );
    assert!(
        engine.health().liveness().is_ok(),
        "{:?}",
        engine.health().liveness()
    );
    assert_eq!(value(&engine, "new", "a").unwrap().0, Quality::Good);
}

#[tokio::test(start_paused = true)]
async fn a_changed_line_setting_restarts_its_bus_on_a_new_connection() {
    let plant = Arc::new(Plant::default());
    let connector: Arc<dyn Connector> = Arc::new(PlantConnector(plant.clone()));
    let first = device("first", "plc:502", 1, "100ms", "40001");
    let second = device("second", "plc:502", 2, "100ms", "40001");
    let before = config(&format!("{first}{second}"));
    let engine = Engine::start_with(&before, &connector);
    sleep(Duration::from_millis(500)).await;
    let second_a = engine.store().find("second", "a").unwrap();

    // A bus's backoff is one setting for all its devices (validation says
    // so): changing it changes every device and restarts the bus.
    let slower = |d: &str| {
        d.replace(
            "timeout = \"50ms\"",
            "timeout = \"50ms\"\nbackoff_max = \"5s\"",
        )
    };
    let after = config(&format!("{}{}", slower(&first), slower(&second)));
    let (changes, done) = reshape(&engine, &before, &after);
    assert_eq!(changes.changed, ["first", "second"]);
    assert_eq!(done.restarted_buses, ["tcp://plc:502"]);
    let restarted_at = Instant::now();
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        plant.connects("plc:502"),
        2,
        "one new connection for the restarted bus"
    );
    assert_ne!(engine.store().find("second", "a"), Some(second_a));
    assert_eq!(
        value(&engine, "second", "a").unwrap(),
        (Quality::Good, Some(Value::U16(200)))
    );
    assert_eq!(value(&engine, "first", "a").unwrap().0, Quality::Good);
    let after_restart = plant
        .reads("plc:502", 1)
        .iter()
        .filter(|r| r.at >= restarted_at)
        .count();
    assert_eq!(
        after_restart, 5,
        "polled at its rhythm from the restart on, once per cycle"
    );
    assert!(engine.health().liveness().is_ok());
}
