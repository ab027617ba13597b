//! The running gateway: the tag store, the request counters and one task per
//! bus, built from a `Config`.
//!
//! Northbound faces (OPC UA, HTTP and `/metrics`) hold an `Arc<TagStore>` for
//! reads and the `Engine` for writes (`write_id`); they never talk to a bus
//! task directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::health::{self, Health};
use crate::modbus::bus::{self, BusHandle, BusPlan, Counters};
use crate::modbus::transport::{Connector, SystemConnector};
use crate::tags::{DeviceId, DeviceMeta, TagId, TagMeta, TagStore, Value};
use crate::write::WriteError;

/// The store plus the bus tasks that fill it.
#[derive(Debug)]
pub struct Engine {
    store: Arc<TagStore>,
    counters: Arc<Counters>,
    health: Arc<Health>,
    buses: Vec<BusHandle>,
    /// Bus index of each device.
    device_bus: Vec<usize>,
    /// Store id of each device's first tag: a tag's index within its device is
    /// its id minus this.
    first_tag: Vec<TagId>,
    tasks: Vec<JoinHandle<()>>,
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
        .map(|(d, bus)| DeviceMeta {
            polled: !d.tags.is_empty(),
            name: d.name.clone(),
            poll: d.poll,
            stale_after: d.stale_after,
            bus,
        })
        .collect();
    // A unit is one of a handful ("V", "kWh", …): one copy serves every tag.
    let mut units: HashMap<&str, Arc<str>> = HashMap::new();
    let tags = config
        .devices
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.tags.iter().map(move |t| (i, t)))
        .map(|(i, t)| TagMeta {
            device: DeviceId::new(i),
            name: t.name.as_str().into(),
            data_type: t.encoding.presented_type(),
            unit: t
                .unit
                .as_deref()
                .map(|u| units.entry(u).or_insert_with(|| Arc::from(u)).clone()),
            description: t.description.as_deref().map(Into::into),
            writable: t.writable,
            deadband: t.deadband,
        })
        .collect();
    TagStore::new(devices, tags)
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
                    health::liveness_limit(
                        p.devices.iter().map(|d| &d.config),
                        bus::WRITES_BETWEEN_POLLS,
                    ),
                )
            })
            .collect();
        let health = Arc::new(Health::new(beats, config.ready_grace));
        let first_tag = config
            .devices
            .iter()
            .scan(0, |next, d| {
                let first = *next;
                *next += d.tags.len();
                Some(TagId::new(first))
            })
            .collect();
        let mut device_bus = vec![0; config.devices.len()];
        let mut buses = Vec::new();
        let mut tasks = Vec::new();
        for (bi, plan) in plans.into_iter().enumerate() {
            for d in &plan.devices {
                if let Some(slot) = device_bus.get_mut(d.id.index()) {
                    *slot = bi;
                }
            }
            let (handle, task) = bus::spawn(
                plan,
                store.clone(),
                counters.clone(),
                health.clone(),
                bi,
                connector.clone(),
            );
            buses.push(handle);
            tasks.push(task);
        }
        tasks.push(tokio::spawn(age_unconfirmed(store.clone())));
        Engine {
            store,
            counters,
            health,
            buses,
            device_bus,
            first_tag,
            tasks,
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
            .first_tag
            .get(meta.device.index())
            .copied()
            .ok_or_else(WriteError::unknown_tag)?;
        let bus = self
            .device_bus
            .get(meta.device.index())
            .and_then(|b| self.buses.get(*b))
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
        for t in &self.tasks {
            t.abort();
        }
    }
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
