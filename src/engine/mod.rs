//! The running gateway: the tag store, the request counters and one task per
//! bus, built from a `Config`.
//!
//! Northbound faces (OPC UA, HTTP and `/metrics`) hold an `Arc<TagStore>` for
//! reads and the `Engine` for writes (`write_id`); they never talk to a bus
//! task directly.

mod buses;
mod reshape;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Config, DeviceConfig, TagConfig};
use crate::health::{self, Health};
use crate::lock::lock;
use crate::modbus::bus::{self, BusPlan, Counters};
use crate::modbus::transport::{Connector, SystemConnector};
use crate::tags::{DeviceId, DeviceMeta, TagId, TagMeta, TagStore, Value};
use crate::write::WriteError;

use buses::{Buses, RunningBus};
pub use reshape::{ReshapeError, Reshaped};

/// The store plus the bus tasks that fill it.
#[derive(Debug)]
pub struct Engine {
    store: Arc<TagStore>,
    counters: Arc<Counters>,
    health: Arc<Health>,
    connector: Arc<dyn Connector>,
    /// The running buses; a reload changes them (`reshape`).
    buses: Mutex<Buses>,
    ager: JoinHandle<()>,
}

/// Build the store for a config: every tag `Bad(Waiting)`, ids in config order.
pub fn build_store(config: &Config) -> TagStore {
    build_store_on(config, &bus::plan_buses(config))
}

/// [`build_store`] for buses already planned from `config`: planning reads
/// every tag into blocks, which the engine does once at start-up.
fn build_store_on(config: &Config, plans: &[BusPlan]) -> TagStore {
    // The bus each device is polled on, as the engine groups them (serial
    // ports by their canonical path).
    let mut bus_of = vec![String::new(); config.devices.len()];
    for plan in plans {
        for d in &plan.devices {
            if let Some(key) = bus_of.get_mut(d.id.index()) {
                key.clone_from(&plan.key);
            }
        }
    }
    let devices = config
        .devices
        .iter()
        .zip(bus_of)
        .map(|(d, bus)| device_meta(d, bus))
        .collect();
    let mut units = Units::new();
    let tags = config
        .devices
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.tags.iter().map(move |t| (i, t)))
        .map(|(i, t)| tag_meta(DeviceId::new(i), t, &mut units))
        .collect();
    TagStore::new(devices, tags)
}

/// A unit is one of a handful ("V", "kWh", …): one copy serves every tag.
type Units = HashMap<String, Arc<str>>;

fn device_meta(d: &DeviceConfig, bus: String) -> DeviceMeta {
    DeviceMeta {
        polled: !d.tags.is_empty(),
        name: d.name.clone(),
        poll: d.poll,
        stale_after: d.stale_after,
        bus,
    }
}

fn tag_meta(device: DeviceId, t: &TagConfig, units: &mut Units) -> TagMeta {
    TagMeta {
        device,
        name: t.name.as_str().into(),
        data_type: t.encoding.presented_type(),
        unit: t.unit.as_deref().map(|u| {
            units
                .entry(u.to_owned())
                .or_insert_with(|| Arc::from(u))
                .clone()
        }),
        description: t.description.as_deref().map(Into::into),
        writable: t.writable,
        deadband: t.deadband,
    }
}

impl Engine {
    /// Build the store and start polling over the system's sockets and
    /// serial ports. Must run inside a tokio runtime.
    pub fn start(config: &Config) -> Engine {
        Self::start_with(config, &SystemConnector::shared())
    }

    /// [`Engine::start`] with the device streams `connector` opens.
    pub fn start_with(config: &Config, connector: &Arc<dyn Connector>) -> Engine {
        let plans = bus::plan_buses(config);
        let store = Arc::new(build_store_on(config, &plans));
        let counters = Arc::new(Counters::new(config.devices.len()));
        let beats = plans
            .iter()
            .map(|p| {
                (
                    p.key.clone(),
                    liveness_limit(p.devices.iter().map(|d| &d.config)),
                )
            })
            .collect();
        let health = Arc::new(Health::new(beats, config.ready_grace));
        let mut buses = Buses::default();
        for (slot, plan) in plans.into_iter().enumerate() {
            let running = RunningBus::spawn(plan, slot, &store, &counters, &health, connector);
            buses.insert(running);
        }
        let ager = tokio::spawn(age_unconfirmed(store.clone()));
        Engine {
            store,
            counters,
            health,
            connector: connector.clone(),
            buses: Mutex::new(buses),
            ager,
        }
    }

    /// Liveness and readiness state.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The Modbus request counters of every device.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The tag store.
    pub fn store(&self) -> &Arc<TagStore> {
        &self.store
    }

    /// Write a tag by store id and wait for the device; returns the value written
    /// (after scaling and rounding), which the store now holds. Authorization of
    /// the *user* is the caller's job; the tag's `writable` flag is checked here.
    ///
    /// Nothing is sent to the device for this write after `deadline`, and the
    /// answer comes by then (plus `bus::WRITE_ANSWER_GRACE`): a caller that
    /// answers its own client at the deadline is never followed by a request.
    pub async fn write_id(
        &self,
        id: TagId,
        value: Value,
        deadline: Instant,
    ) -> Result<Value, WriteError> {
        let meta = self.store.meta(id).ok_or_else(WriteError::unknown_tag)?;
        if !meta.writable {
            return Err(WriteError::not_writable());
        }
        let first = self
            .store
            .device_tags(meta.device)
            .next()
            .ok_or_else(WriteError::unknown_tag)?;
        let bus = lock(&self.buses)
            .of_device(meta.device)
            .ok_or_else(WriteError::unknown_tag)?;
        bus.write(
            meta.device,
            id.index()
                .checked_sub(first.index())
                .ok_or_else(WriteError::unknown_tag)?,
            value,
            deadline,
        )
        .await
    }

    /// Stop every bus task.
    pub fn shutdown(&self) {
        lock(&self.buses).stop_all();
        self.ager.abort();
    }
}

/// The liveness limit of a bus with these devices.
fn liveness_limit<'a>(devices: impl IntoIterator<Item = &'a DeviceConfig>) -> Duration {
    health::liveness_limit(devices, bus::WRITES_BETWEEN_POLLS)
}

/// How often values that no poll confirms are aged in the store.
const AGE_EVERY: Duration = Duration::from_secs(1);

/// Age the values of devices whose bus stopped finishing cycles
/// (`TagStore::age`), so subscribers see them turn uncertain and bad.
async fn age_unconfirmed(store: Arc<TagStore>) {
    let mut tick = tokio::time::interval(AGE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        store.age(Instant::now());
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
