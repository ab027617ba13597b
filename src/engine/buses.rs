//! The engine's running buses: one task per bus key, the bus each device is
//! polled on, and what each link was opened with.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::config::{Backoff, DeviceConfig};
use crate::health::Health;
use crate::modbus::bus::{self, BusHandle, BusPlan, Counters, DevicePlan, Reshape};
use crate::modbus::link::Target;
use crate::modbus::transport::Connector;
use crate::tags::{DeviceId, TagStore};

/// What a bus's link was opened with; a reload that changes it restarts the
/// bus, as one connection or serial line cannot serve two settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) target: Target,
    backoff: Backoff,
}

impl Line {
    /// The line of a bus whose first device is `first` (a bus takes its
    /// serial settings and backoff from its first device).
    pub(super) fn of(first: &DeviceConfig) -> Line {
        Line {
            target: bus::bus_target(first),
            backoff: first.backoff,
        }
    }
}

/// One running bus task.
#[derive(Debug)]
pub(super) struct RunningBus {
    pub(super) key: String,
    handle: BusHandle,
    task: JoinHandle<()>,
    /// This bus's slot in `Health`.
    pub(super) beat: usize,
    pub(super) line: Option<Line>,
    /// The devices it polls, with their settings (no tags): its liveness
    /// limit is theirs.
    pub(super) devices: Vec<(DeviceId, DeviceConfig)>,
}

impl RunningBus {
    /// Start the task for `plan`, beating in `health` slot `beat`.
    pub(super) fn spawn(
        plan: BusPlan,
        beat: usize,
        store: &Arc<TagStore>,
        counters: &Arc<Counters>,
        health: &Arc<Health>,
        connector: &Arc<dyn Connector>,
    ) -> RunningBus {
        let key = plan.key.clone();
        let line = plan.devices.first().map(|d| Line::of(&d.config));
        let devices = plan
            .devices
            .iter()
            .map(|d| (d.id, d.config.clone()))
            .collect();
        let (handle, task) = bus::spawn(
            plan,
            store.clone(),
            counters.clone(),
            health.clone(),
            beat,
            connector.clone(),
        );
        RunningBus {
            key,
            handle,
            task,
            beat,
            line,
            devices,
        }
    }

    /// Start polling a device on this running bus, before its next cycle.
    pub(super) fn add(&mut self, plan: DevicePlan) {
        self.devices.push((plan.id, plan.config.clone()));
        self.handle.reshape(Reshape::Add(Box::new(plan)));
    }

    /// The settings of the devices it polls.
    pub(super) fn configs(&self) -> impl Iterator<Item = &DeviceConfig> {
        self.devices.iter().map(|(_, c)| c)
    }

    fn stop(&self) {
        self.task.abort();
    }
}

/// The running buses by key, and the bus of each device.
#[derive(Debug, Default)]
pub(super) struct Buses {
    by_key: HashMap<String, RunningBus>,
    bus_of: HashMap<DeviceId, String>,
}

impl Buses {
    pub(super) fn insert(&mut self, bus: RunningBus) {
        for (id, _) in &bus.devices {
            self.bus_of.insert(*id, bus.key.clone());
        }
        self.by_key.insert(bus.key.clone(), bus);
    }

    /// The handle of the bus polling `device`.
    pub(super) fn of_device(&self, device: DeviceId) -> Option<BusHandle> {
        let key = self.bus_of.get(&device)?;
        self.by_key.get(key).map(|b| b.handle.clone())
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut RunningBus> {
        self.by_key.get_mut(key)
    }

    /// Add a device to the running bus `key`, recording where it is polled.
    pub(super) fn add_to(&mut self, key: &str, plan: DevicePlan) {
        let id = plan.id;
        if let Some(bus) = self.by_key.get_mut(key) {
            bus.add(plan);
            self.bus_of.insert(id, key.to_owned());
        }
    }

    /// Stop polling `device`: its bus drops it before its next cycle.
    pub(super) fn remove_device(&mut self, device: DeviceId) {
        let Some(key) = self.bus_of.remove(&device) else {
            return;
        };
        if let Some(bus) = self.by_key.get_mut(&key) {
            bus.devices.retain(|(id, _)| *id != device);
            bus.handle.reshape(Reshape::Remove(device));
        }
    }

    /// Stop the bus `key` and forget it; returns it (for its health slot).
    pub(super) fn stop(&mut self, key: &str) -> Option<RunningBus> {
        let bus = self.by_key.remove(key)?;
        bus.stop();
        self.bus_of.retain(|_, k| k != key);
        Some(bus)
    }

    /// The keys of every running bus.
    pub(super) fn keys(&self) -> Vec<String> {
        self.by_key.keys().cloned().collect()
    }

    pub(super) fn stop_all(&self) {
        for bus in self.by_key.values() {
            bus.stop();
        }
    }
}
