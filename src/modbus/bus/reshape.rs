//! A reload's changes to a running bus: devices added and removed between
//! two cycles. The other devices keep their schedule, their state (demotion,
//! split blocks) and the connection, so a reload costs them nothing.

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Bus, DevicePlan, DeviceRun};
use crate::tags::DeviceId;

/// A change to a bus's devices.
#[derive(Debug)]
pub enum Reshape {
    /// Start polling a device, due at once. A device without tags is ignored.
    Add(Box<DevicePlan>),
    /// Stop polling a device; writes still queued for it are refused.
    Remove(DeviceId),
}

/// The next change, for `select!`: pending forever without a receiver.
pub(super) async fn next(rx: Option<&mut mpsc::UnboundedReceiver<Reshape>>) -> Option<Reshape> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The pause after a connect the bus makes: the longest any device asks for.
pub(super) fn pause_after_connect(devices: &[DeviceRun]) -> std::time::Duration {
    devices
        .iter()
        .map(|d| d.plan.config.pause_after_connect)
        .max()
        .unwrap_or_default()
}

impl Bus {
    pub(super) fn reshape(&mut self, change: Reshape) {
        match change {
            Reshape::Add(plan) => {
                if plan.blocks.is_empty() || self.devices.iter().any(|d| d.plan.id == plan.id) {
                    return;
                }
                tracing::info!(bus = %self.key, device = %plan.config.name, "device added to the bus");
                self.devices.push(DeviceRun::new(*plan, Instant::now()));
            }
            Reshape::Remove(id) => {
                let Some(at) = self.devices.iter().position(|d| d.plan.id == id) else {
                    return;
                };
                let gone = self.devices.remove(at);
                tracing::info!(bus = %self.key, device = %gone.plan.config.name, "device removed from the bus");
            }
        }
        self.pause_after_connect = pause_after_connect(&self.devices);
    }
}
