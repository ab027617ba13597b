//! A reload applied to the running engine: removed and changed devices stop,
//! added and changed ones start, untouched ones are not touched at all (same
//! ids, same bus task, same connection, same schedule).
//!
//! A changed device is stopped and started as a new device with new tag ids:
//! its tags may mean something else now (another address, type or scale), so
//! no value of the old ones is carried over. A bus whose line settings change
//! (serial settings or backoff, one per bus by validation, so every device on
//! it changed too) is restarted on a new connection, as one connection cannot
//! serve two settings; a device on it that did not change (a serial port whose
//! name now leads to another tty) keeps its ids and values.

use std::collections::HashSet;

use super::buses::{Line, RunningBus};
use super::{Engine, Units, device_meta, liveness_limit, tag_meta};
use crate::append::Full;
use crate::config::{Config, ConfigChanges, DeviceConfig};
use crate::lock::lock;
use crate::modbus::bus::{self, BusPlan, DevicePlan};
use crate::tags::{DeviceId, TagId};

/// What a reload did to the running devices and buses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reshaped {
    /// Devices started (added or changed), in the new config's order.
    pub started: Vec<String>,
    /// Devices stopped (removed or changed).
    pub stopped: Vec<String>,
    /// Buses restarted because their line settings changed.
    pub restarted_buses: Vec<String>,
    /// Buses stopped because no device is left on them.
    pub stopped_buses: Vec<String>,
}

/// A reload the engine could not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReshapeError {
    /// The store, counters or heartbeats cannot grow any more.
    #[error(transparent)]
    Full(#[from] Full),
    /// The changes name a device as running that the engine does not run:
    /// they were not computed against the running config.
    #[error("device {0}: the reload expected it to be running, and it is not")]
    NotRunning(String),
}

impl Engine {
    /// Apply a new, valid `config`, given `changes` from the running config
    /// to it (`ConfigChanges::between`); settings outside the devices are
    /// not this function's (they need a restart).
    pub fn reshape(
        &self,
        config: &Config,
        changes: &ConfigChanges,
    ) -> Result<Reshaped, ReshapeError> {
        let mut buses = lock(&self.buses);
        let mut done = Reshaped::default();
        for name in changes.removed.iter().chain(&changes.changed) {
            let id = self
                .running(name)
                .ok_or_else(|| ReshapeError::NotRunning(name.clone()))?;
            buses.remove_device(id);
            self.store.remove_device(id);
            done.stopped.push(name.clone());
        }
        let starting: HashSet<&str> = changes
            .added
            .iter()
            .chain(&changes.changed)
            .map(String::as_str)
            .collect();
        let grouped = by_bus(config);
        for (key, devices) in &grouped {
            let Some(first) = devices.first() else {
                continue;
            };
            let line = Line::of(first);
            if let Some(running) = buses.get_mut(key)
                && running.line.as_ref() == Some(&line)
            {
                for dev in devices
                    .iter()
                    .filter(|d| starting.contains(d.name.as_str()))
                {
                    let plan = self.new_device(dev, key)?;
                    buses.add_to(key, plan);
                    done.started.push(dev.name.clone());
                }
                if let Some(running) = buses.get_mut(key) {
                    self.health
                        .set_limit(running.beat, liveness_limit(running.configs()));
                }
                continue;
            }
            // No bus for this key yet, or its line changed: start it afresh.
            if let Some(old) = buses.stop(key) {
                self.health.retire_bus(old.beat);
                tracing::info!(bus = %key, "bus restarted: its line settings changed");
                done.restarted_buses.push(key.clone());
            }
            let mut plans = Vec::with_capacity(devices.len());
            for dev in devices {
                if starting.contains(dev.name.as_str()) {
                    plans.push(self.new_device(dev, key)?);
                    done.started.push(dev.name.clone());
                } else {
                    let id = self
                        .running(&dev.name)
                        .ok_or_else(|| ReshapeError::NotRunning(dev.name.clone()))?;
                    plans.push(DevicePlan::new(id, dev, self.first_tag(id)));
                }
            }
            let beat = self
                .health
                .add_bus(key.clone(), liveness_limit(devices.iter().copied()))?;
            let plan = BusPlan {
                key: key.clone(),
                target: line.target,
                devices: plans,
            };
            buses.insert(RunningBus::spawn(
                plan,
                beat,
                &self.store,
                &self.counters,
                &self.health,
                &self.connector,
            ));
        }
        for key in buses.keys() {
            if grouped.iter().all(|(k, _)| *k != key)
                && let Some(old) = buses.stop(&key)
            {
                self.health.retire_bus(old.beat);
                tracing::info!(bus = %key, "bus stopped: no device is left on it");
                done.stopped_buses.push(key);
            }
        }
        done.started
            .sort_by_key(|name| config.devices.iter().position(|d| d.name == *name));
        Ok(done)
    }

    /// The id of the running device `name`.
    fn running(&self, name: &str) -> Option<DeviceId> {
        self.store
            .devices()
            .find(|d| self.store.device_name(*d) == name)
    }

    /// Store id of a device's first tag (for a device without tags, the next
    /// id, which it never uses).
    fn first_tag(&self, device: DeviceId) -> TagId {
        self.store
            .device_tags(device)
            .next()
            .unwrap_or_else(|| TagId::new(self.store.len()))
    }

    /// Give a new device its ids in the store and counters, and plan it.
    fn new_device(&self, dev: &DeviceConfig, bus: &str) -> Result<DevicePlan, Full> {
        let mut units = Units::new();
        let tags = dev
            .tags
            .iter()
            // The store sets each tag's device.
            .map(|t| tag_meta(DeviceId::new(usize::MAX), t, &mut units))
            .collect();
        let id = self
            .store
            .add_device(device_meta(dev, bus.to_owned()), tags)?;
        self.counters.cover(id.index() + 1)?;
        Ok(DevicePlan::new(id, dev, self.first_tag(id)))
    }
}

/// The new config's devices grouped by the bus they are polled on, buses in
/// the order of their first device, devices in config order.
fn by_bus(config: &Config) -> Vec<(String, Vec<&DeviceConfig>)> {
    let mut grouped: Vec<(String, Vec<&DeviceConfig>)> = Vec::new();
    for dev in &config.devices {
        let key = bus::bus_key(dev, bus::canonical_port);
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, devices)) => devices.push(dev),
            None => grouped.push((key, vec![dev])),
        }
    }
    grouped
}
