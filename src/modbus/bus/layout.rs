//! Bus planning: which devices share a bus, the store id of every tag, and
//! each device's read blocks. Pure: the only outside fact, the canonical name
//! of a serial port, is passed in.

use super::super::link::Target;
use super::super::plan::{self, Block, Span};
use crate::config::{Config, DeviceConfig, Transport};
use crate::modbus::codec::Encoding;
use crate::tags::Kind;
use crate::tags::{DeviceId, TagId};

/// What a bus task needs of one tag to read, decode and write it; names,
/// units and descriptions stay in the store's `TagMeta`, once.
#[derive(Debug, Clone)]
pub struct PolledTag {
    pub kind: Kind,
    /// 0-based protocol address.
    pub address: u16,
    pub encoding: Encoding,
    pub writable: bool,
}

/// A device with its read plan.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    /// Index of the device in the config and the store.
    pub id: DeviceId,
    /// The device's settings; its tags are in `tags`, not here.
    pub config: DeviceConfig,
    /// Store id of the device's first tag; tag `i` of the device is `first_tag + i`.
    pub first_tag: TagId,
    /// Each tag, by tag index within the device.
    pub tags: Vec<PolledTag>,
    /// Footprint of each tag, by tag index within the device.
    pub spans: Vec<Span>,
    pub blocks: Vec<Block>,
}

impl DevicePlan {
    /// Plan a device whose first tag has store id `first_tag`.
    pub fn new(id: DeviceId, config: &DeviceConfig, first_tag: TagId) -> Self {
        let spans: Vec<Span> = config
            .tags
            .iter()
            .enumerate()
            .map(|(index, t)| Span {
                index,
                kind: t.kind,
                address: t.address,
                count: t.count(),
            })
            .collect();
        let blocks = plan::plan(&spans, &config.limits);
        let tags = config
            .tags
            .iter()
            .map(|t| PolledTag {
                kind: t.kind,
                address: t.address,
                encoding: t.encoding.clone(),
                writable: t.writable,
            })
            .collect();
        DevicePlan {
            id,
            config: config.without_tags(),
            first_tag,
            tags,
            spans,
            blocks,
        }
    }

    /// Store id of tag `index` of this device.
    pub fn tag_id(&self, index: usize) -> Option<TagId> {
        (index < self.tags.len()).then(|| TagId::new(self.first_tag.index() + index))
    }
}

/// Devices sharing one link.
#[derive(Debug, Clone)]
pub struct BusPlan {
    /// `tcp://host:port` or `rtu:///dev/ttyUSB0`.
    pub key: String,
    pub target: Target,
    pub devices: Vec<DevicePlan>,
}

/// Group the config's devices into buses. Tag ids run in config order.
/// Serial ports are compared by their canonical path, so a by-id symlink and
/// the tty it points at are one bus.
pub fn plan_buses(config: &Config) -> Vec<BusPlan> {
    plan_buses_with(config, canonical_port)
}

/// The path a serial port's name leads to (a by-id symlink resolved).
pub fn canonical_port(port: &str) -> Option<String> {
    std::fs::canonicalize(port)
        .ok()
        .map(|p| p.display().to_string())
}

/// `plan_buses` with the port resolution given: pure, for tests.
pub fn plan_buses_with(
    config: &Config,
    canonical_port: impl Fn(&str) -> Option<String>,
) -> Vec<BusPlan> {
    let mut buses: Vec<BusPlan> = Vec::new();
    let mut next_tag = 0;
    for (id, dev) in config.devices.iter().enumerate() {
        let plan = DevicePlan::new(DeviceId::new(id), dev, TagId::new(next_tag));
        next_tag += dev.tags.len();
        let key = bus_key(dev, &canonical_port);
        if let Some(bus) = buses.iter_mut().find(|b| b.key == key) {
            bus.devices.push(plan);
        } else {
            buses.push(BusPlan {
                key,
                target: bus_target(dev),
                devices: vec![plan],
            });
        }
    }
    buses
}

/// The bus a device is polled on: devices with the same key share a link.
pub fn bus_key(dev: &DeviceConfig, canonical_port: impl Fn(&str) -> Option<String>) -> String {
    match &dev.transport {
        Transport::Rtu { port, .. } => {
            canonical_port(port).map_or_else(|| dev.transport.bus_key(), |p| format!("rtu://{p}"))
        }
        Transport::Tcp { .. } => dev.transport.bus_key(),
    }
}

/// The link a bus opens, from the first of its devices (the serial settings
/// of a port are its first device's).
pub fn bus_target(dev: &DeviceConfig) -> Target {
    match &dev.transport {
        Transport::Tcp { endpoint } => Target::Tcp(endpoint.clone()),
        Transport::Rtu { port, serial } => Target::Rtu {
            port: port.clone(),
            serial: *serial,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/serial/by-id/usb-FTDI-port0"
unit = 1
  [[device.tag]]
  name = "a"
  address = "30001"
  type = "u16"
  [[device.tag]]
  name = "b"
  address = "30003"
  type = "u16"

[[device]]
name = "drive"
protocol = "rtu"
port = "/dev/ttyUSB0"
unit = 2
  [[device.tag]]
  name = "c"
  address = "40001"
  type = "u16"

[[device]]
name = "plc"
protocol = "tcp"
host = "127.0.0.1:5020"
  [[device.tag]]
  name = "d"
  address = "40001"
  type = "u16"
"#;

    fn config() -> Config {
        match Config::parse(CONFIG, "test.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn two_names_of_one_serial_port_are_one_bus() {
        let buses = plan_buses_with(&config(), |_| Some("/dev/ttyUSB0".into()));
        let keys: Vec<&str> = buses.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(keys, ["rtu:///dev/ttyUSB0", "tcp://127.0.0.1:5020"]);
        let devices: Vec<usize> = buses
            .iter()
            .flat_map(|b| b.devices.iter().map(|d| d.id.index()))
            .collect();
        assert_eq!(devices, [0, 1, 2]);
    }

    #[test]
    fn unresolvable_ports_keep_their_configured_names() {
        let buses = plan_buses_with(&config(), |_| None);
        let keys: Vec<&str> = buses.iter().map(|b| b.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rtu:///dev/serial/by-id/usb-FTDI-port0",
                "rtu:///dev/ttyUSB0",
                "tcp://127.0.0.1:5020"
            ]
        );
    }

    #[test]
    fn tag_ids_run_in_config_order_across_buses() {
        let buses = plan_buses_with(&config(), |_| None);
        let ids: Vec<Vec<TagId>> = buses
            .iter()
            .flat_map(|b| {
                b.devices
                    .iter()
                    .map(|d| (0..=d.tags.len()).map_while(|i| d.tag_id(i)).collect())
            })
            .collect();
        let ids: Vec<Vec<usize>> = ids
            .iter()
            .map(|d| d.iter().map(|t| t.index()).collect())
            .collect();
        assert_eq!(ids, [vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn a_device_plan_coalesces_its_tags_into_blocks() {
        let buses = plan_buses_with(&config(), |_| None);
        let meter = buses.first().and_then(|b| b.devices.first());
        let blocks: Vec<(u16, u16)> = meter.map_or(vec![], |d| {
            d.blocks.iter().map(|b| (b.start, b.count)).collect()
        });
        assert_eq!(blocks, [(0, 3)], "two registers two apart are one read");
    }
}
