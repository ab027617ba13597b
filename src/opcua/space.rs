//! The tag namespace, described rather than stored: which nodes exist, what
//! they are called and how they are built, computed from the tag store's
//! metadata on demand.
//!
//! `Objects/<gateway>/<device>/<tag>` with `NodeIds` `ns=<gateway ns>;s=<device>.<tag>`,
//! stable across restarts and reordering. Device folders are `s=<device>`, the
//! gateway folder `s=gateway:<name>`; each device has `_Status` variables
//! (`s=<device>._Status.Connected` …), properties `s=<device>.<tag>#EngineeringUnits`.
//! Config validation keeps these apart: device names have no '.', ':' or '#', tag
//! names no '#' and no leading '_'.
//!
//! Nothing here is held per tag but two ids (device order and name order) and
//! the `EURange` of the tags that have one: names, types and units are the
//! store's. A node object is built only while a request needs its attributes
//! (`build`), from the same builder calls an in-memory address space would
//! use, so every attribute reads as it would from one.

use std::collections::HashMap;
use std::sync::Arc;

use opcua::server::address_space::{AccessLevel, NodeType, ObjectBuilder, VariableBuilder};
use opcua::types::{
    DataTypeId, DataValue, DateTime, EUInformation, LocalizedText, NodeClass, NodeId, ObjectTypeId,
    QualifiedName, Range, StatusCode, UAString, VariableTypeId, Variant,
};

use super::units::eu_information;
use super::values::{self, data_type_id};
use crate::config::DeviceConfig;
use crate::tags::{DeviceId, TagId, TagMeta, TagStore};

/// A property of a tag variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Property {
    EngineeringUnits,
    EuRange,
}

impl Property {
    /// The browse name (namespace 0, as the standard declares it).
    pub(super) fn name(self) -> &'static str {
        match self {
            Property::EngineeringUnits => "EngineeringUnits",
            Property::EuRange => "EURange",
        }
    }
}

/// One of a device's `_Status` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusVar {
    Connected,
    LastError,
    PollDuration,
    RequestsPerCycle,
}

impl StatusVar {
    /// Every status variable, in browse order.
    pub(super) const ALL: [StatusVar; 4] = [
        StatusVar::Connected,
        StatusVar::LastError,
        StatusVar::PollDuration,
        StatusVar::RequestsPerCycle,
    ];

    /// Its browse name.
    pub(super) fn name(self) -> &'static str {
        match self {
            StatusVar::Connected => "Connected",
            StatusVar::LastError => "LastError",
            StatusVar::PollDuration => "PollDuration",
            StatusVar::RequestsPerCycle => "RequestsPerCycle",
        }
    }

    fn data_type(self) -> DataTypeId {
        match self {
            StatusVar::Connected => DataTypeId::Boolean,
            StatusVar::LastError => DataTypeId::String,
            StatusVar::PollDuration => DataTypeId::Double,
            StatusVar::RequestsPerCycle => DataTypeId::UInt32,
        }
    }
}

/// A node of the tag namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeRef {
    Gateway,
    Device(DeviceId),
    Tag(TagId),
    Property(TagId, Property),
    StatusFolder(DeviceId),
    Status(DeviceId, StatusVar),
}

/// What the namespace keeps per device.
#[derive(Debug)]
struct DeviceEntry {
    name: String,
    description: String,
    /// Its tags in config order (browse order).
    tags: Vec<TagId>,
    /// The same, sorted by tag name (lookup).
    by_name: Vec<TagId>,
}

/// The tag namespace of one gateway.
#[derive(Debug)]
pub(super) struct TagSpace {
    ns: u16,
    gateway: String,
    store: Arc<TagStore>,
    devices: HashMap<DeviceId, DeviceEntry>,
    /// Device ids in config order (browse order).
    order: Vec<DeviceId>,
    device_by_name: HashMap<String, DeviceId>,
    ranges: HashMap<TagId, (f64, f64)>,
}

/// The namespace URI of a gateway's tags.
pub fn namespace_uri(gateway: &str) -> String {
    format!("urn:edge-gateway:{}:tags", super::uri_safe(gateway))
}

impl TagSpace {
    /// The namespace `ns` of gateway `gateway` for the devices `config`, whose
    /// tags are the live ones of `store` (matched by device name: a reload
    /// gives changed devices new ids).
    pub(super) fn new(
        ns: u16,
        gateway: &str,
        config: &[DeviceConfig],
        store: Arc<TagStore>,
    ) -> Self {
        let live: HashMap<&str, DeviceId> =
            store.devices().map(|d| (store.device_name(d), d)).collect();
        let mut devices = HashMap::with_capacity(config.len());
        let mut order = Vec::with_capacity(config.len());
        let mut ranges = HashMap::new();
        for d in config {
            let Some(&id) = live.get(d.name.as_str()) else {
                continue;
            };
            let tags: Vec<TagId> = store.device_tags(id).collect();
            for (t, configured) in tags.iter().zip(&d.tags) {
                if let Some(range) = configured.range {
                    ranges.insert(*t, range);
                }
            }
            let mut by_name = tags.clone();
            by_name.sort_by(|a, b| name_of(&store, *a).cmp(name_of(&store, *b)));
            order.push(id);
            devices.insert(
                id,
                DeviceEntry {
                    name: d.name.clone(),
                    description: format!("Modbus unit {} at {}", d.unit, d.transport.bus_key()),
                    tags,
                    by_name,
                },
            );
        }
        drop(live);
        let device_by_name = devices
            .iter()
            .map(|(id, d)| (d.name.clone(), *id))
            .collect();
        TagSpace {
            ns,
            gateway: gateway.to_owned(),
            store,
            devices,
            order,
            device_by_name,
            ranges,
        }
    }

    /// The gateway's name, as its folder shows it.
    pub(super) fn gateway(&self) -> &str {
        &self.gateway
    }

    /// The device of this name, if it is in the namespace.
    pub(super) fn device_named(&self, name: &str) -> Option<DeviceId> {
        self.device_by_name.get(name).copied()
    }

    /// The tag store the namespace presents.
    pub(super) fn store(&self) -> &TagStore {
        &self.store
    }

    /// Every device id, in config order.
    pub(super) fn devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.order.iter().copied()
    }

    /// A device's tags, in config order.
    pub(super) fn device_tags(&self, device: DeviceId) -> &[TagId] {
        self.devices.get(&device).map_or(&[], |d| d.tags.as_slice())
    }

    /// The node a `NodeId` names, if it is one of ours.
    pub(super) fn resolve(&self, id: &NodeId) -> Option<NodeRef> {
        if id.namespace != self.ns {
            return None;
        }
        let opcua::types::Identifier::String(s) = &id.identifier else {
            return None;
        };
        let s = s.as_ref();
        if let Some(name) = s.strip_prefix("gateway:") {
            return (name == self.gateway).then_some(NodeRef::Gateway);
        }
        let Some((device, rest)) = s.split_once('.') else {
            return self.device_by_name.get(s).map(|d| NodeRef::Device(*d));
        };
        let d = *self.device_by_name.get(device)?;
        if rest == "_Status" {
            return Some(NodeRef::StatusFolder(d));
        }
        if let Some(var) = rest.strip_prefix("_Status.") {
            return StatusVar::ALL
                .into_iter()
                .find(|v| v.name() == var)
                .map(|v| NodeRef::Status(d, v));
        }
        let (tag, property) = match rest.split_once('#') {
            Some((tag, "EngineeringUnits")) => (tag, Some(Property::EngineeringUnits)),
            Some((tag, "EURange")) => (tag, Some(Property::EuRange)),
            Some(_) => return None,
            None => (rest, None),
        };
        let id = self.find_tag(d, tag)?;
        match property {
            None => Some(NodeRef::Tag(id)),
            Some(p) if self.has_property(id, p) => Some(NodeRef::Property(id, p)),
            Some(_) => None,
        }
    }

    fn find_tag(&self, device: DeviceId, name: &str) -> Option<TagId> {
        let entry = self.devices.get(&device)?;
        let i = entry
            .by_name
            .binary_search_by(|id| name_of(&self.store, *id).cmp(name))
            .ok()?;
        entry.by_name.get(i).copied()
    }

    /// Whether a tag has this property.
    pub(super) fn has_property(&self, tag: TagId, p: Property) -> bool {
        match p {
            Property::EngineeringUnits => self.store.meta(tag).is_some_and(is_analog),
            Property::EuRange => self.ranges.contains_key(&tag),
        }
    }

    /// A device's name, as the namespace has it.
    pub(super) fn device_name(&self, d: DeviceId) -> &str {
        self.devices.get(&d).map_or("", |e| e.name.as_str())
    }

    /// The `NodeId` of a node.
    pub(super) fn node_id(&self, node: NodeRef) -> NodeId {
        let s = match node {
            NodeRef::Gateway => format!("gateway:{}", self.gateway),
            NodeRef::Device(d) => self.device_name(d).to_owned(),
            NodeRef::Tag(t) => format!("{}.{}", self.device_name_of(t), name_of(&self.store, t)),
            NodeRef::Property(t, p) => format!(
                "{}.{}#{}",
                self.device_name_of(t),
                name_of(&self.store, t),
                p.name()
            ),
            NodeRef::StatusFolder(d) => format!("{}._Status", self.device_name(d)),
            NodeRef::Status(d, v) => format!("{}._Status.{}", self.device_name(d), v.name()),
        };
        NodeId::new(self.ns, s)
    }

    fn device_name_of(&self, t: TagId) -> &str {
        self.store
            .meta(t)
            .map_or("", |m| self.device_name(m.device))
    }

    /// Browse name of a node.
    pub(super) fn browse_name(&self, node: NodeRef) -> QualifiedName {
        match node {
            NodeRef::Gateway => QualifiedName::new(self.ns, self.gateway.as_str()),
            NodeRef::Device(d) => QualifiedName::new(self.ns, self.device_name(d)),
            NodeRef::Tag(t) => QualifiedName::new(self.ns, name_of(&self.store, t)),
            NodeRef::Property(_, p) => QualifiedName::new(0, p.name()),
            NodeRef::StatusFolder(_) => QualifiedName::new(self.ns, "_Status"),
            NodeRef::Status(_, v) => QualifiedName::new(self.ns, v.name()),
        }
    }

    /// Display name of a node: its browse name's text.
    pub(super) fn display_name(&self, node: NodeRef) -> LocalizedText {
        let name = self.browse_name(node);
        LocalizedText::new("", name.name.as_ref())
    }

    /// Node class of a node.
    pub(super) fn node_class(node: NodeRef) -> NodeClass {
        match node {
            NodeRef::Gateway | NodeRef::Device(_) | NodeRef::StatusFolder(_) => NodeClass::Object,
            _ => NodeClass::Variable,
        }
    }

    /// The type definition of a node.
    pub(super) fn type_definition(&self, node: NodeRef) -> NodeId {
        match node {
            NodeRef::Gateway | NodeRef::Device(_) | NodeRef::StatusFolder(_) => {
                ObjectTypeId::FolderType.into()
            }
            NodeRef::Tag(t) => {
                let analog = self.store.meta(t).is_some_and(is_analog);
                match (analog, self.ranges.contains_key(&t)) {
                    (true, true) => VariableTypeId::AnalogItemType.into(),
                    // AnalogItemType makes EURange mandatory; without a range the unit-only type fits.
                    (true, false) => VariableTypeId::AnalogUnitType.into(),
                    (false, _) => VariableTypeId::BaseDataVariableType.into(),
                }
            }
            NodeRef::Property(..) => VariableTypeId::PropertyType.into(),
            NodeRef::Status(..) => VariableTypeId::BaseDataVariableType.into(),
        }
    }

    /// The latest state of a tag as a `DataValue`, from the store.
    pub(super) fn tag_value(&self, t: TagId, now: DateTime) -> Option<DataValue> {
        let s = self.store.snapshot(t)?;
        Some(values::data_value(
            s.value.as_ref(),
            s.quality,
            s.source_time,
            now,
        ))
    }

    /// The current value of a `_Status` variable, stamped with the device's
    /// last cycle (the time the status describes).
    pub(super) fn status_value(&self, d: DeviceId, var: StatusVar, now: DateTime) -> DataValue {
        let s = self.store.device_status(d).unwrap_or_default();
        let value = match var {
            StatusVar::Connected => Variant::Boolean(s.connected),
            StatusVar::LastError => {
                Variant::String(UAString::from(s.last_error.unwrap_or_default()))
            }
            StatusVar::PollDuration => Variant::Double(s.last_poll_duration.as_secs_f64() * 1000.0),
            StatusVar::RequestsPerCycle => Variant::UInt32(s.requests_per_cycle),
        };
        DataValue {
            value: Some(value),
            status: Some(StatusCode::Good),
            source_timestamp: Some(s.last_cycle_at.map_or(now, values::datetime)),
            server_timestamp: Some(now),
            ..Default::default()
        }
    }

    /// A node object with every attribute of `node`, its value current, for
    /// the stack's attribute and access checks. `None` if it cannot be built.
    pub(super) fn build(&self, node: NodeRef) -> Option<NodeType> {
        let id = self.node_id(node);
        let now = DateTime::now();
        let built = match node {
            NodeRef::Gateway => folder(&id, self.browse_name(node), &self.gateway)
                .description(format!("edge-gateway {}", self.gateway))
                .into_node()?,
            NodeRef::Device(d) => {
                let entry = self.devices.get(&d)?;
                folder(&id, self.browse_name(node), &entry.name)
                    .description(entry.description.as_str())
                    .into_node()?
            }
            NodeRef::StatusFolder(_) => folder(&id, self.browse_name(node), "_Status")
                .description("Health of the device's polling")
                .into_node()?,
            NodeRef::Tag(t) => {
                let meta = self.store.meta(t)?;
                let poll = self.store.device_meta(meta.device)?.poll;
                let access = if meta.writable {
                    AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE
                } else {
                    AccessLevel::CURRENT_READ
                };
                let mut builder = VariableBuilder::new(&id, self.browse_name(node), &*meta.name)
                    .data_type(data_type_id(meta.data_type))
                    .value_rank(-1)
                    .value(Variant::Empty)
                    .access_level(access)
                    .user_access_level(access)
                    .minimum_sampling_interval(poll.as_secs_f64() * 1000.0);
                if let Some(d) = &meta.description {
                    builder = builder.description(&**d);
                }
                let mut var = variable(builder)?;
                var.set_data_value(self.tag_value(t, now)?);
                NodeType::Variable(Box::new(var))
            }
            NodeRef::Property(t, p) => {
                let builder = VariableBuilder::new(&id, p.name(), p.name());
                let builder = match p {
                    Property::EngineeringUnits => {
                        let unit = self.store.meta(t)?.unit.as_deref()?;
                        let eu: EUInformation = eu_information(unit);
                        builder.data_type(DataTypeId::EUInformation).value(eu)
                    }
                    Property::EuRange => {
                        let (low, high) = *self.ranges.get(&t)?;
                        builder
                            .data_type(DataTypeId::Range)
                            .value(Range { low, high })
                    }
                };
                NodeType::Variable(Box::new(variable(builder)?))
            }
            NodeRef::Status(d, v) => {
                let builder = VariableBuilder::new(&id, self.browse_name(node), v.name())
                    .data_type(v.data_type())
                    .value_rank(-1)
                    .value(Variant::Empty);
                let mut var = variable(builder)?;
                var.set_data_value(self.status_value(d, v, now));
                NodeType::Variable(Box::new(var))
            }
        };
        Some(built)
    }
}

/// A tag is presented as an analog item when it is numeric and has a unit.
fn is_analog(meta: &TagMeta) -> bool {
    meta.data_type.is_numeric() && meta.unit.is_some()
}

fn name_of(store: &TagStore, id: TagId) -> &str {
    store.meta(id).map_or("", |m| &*m.name)
}

fn folder(id: &NodeId, browse_name: QualifiedName, display: &str) -> ObjectBuilder {
    ObjectBuilder::new(id, browse_name, display).is_folder()
}

fn variable(builder: VariableBuilder) -> Option<opcua::server::address_space::Variable> {
    builder.is_valid().then(|| builder.build())
}

/// Build an object node, or `None` if the builder says it is invalid (it
/// panics on `build` then, which a request must never cause).
trait IntoNode {
    fn into_node(self) -> Option<NodeType>;
}

impl IntoNode for ObjectBuilder {
    fn into_node(self) -> Option<NodeType> {
        self.is_valid()
            .then(|| NodeType::Object(Box::new(self.build())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const CONFIG: &str = r#"
[gateway]
name = "line 3"
[[device]]
name = "meter"
protocol = "tcp"
host = "127.0.0.1:5020"
[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
unit = "V"
range = [0.0, 400.0]
[[device.tag]]
name = "energy.total"
address = "30003"
type = "u32"
unit = "kWh"
[[device.tag]]
name = "alarm"
address = "10001"
[[device]]
name = "plc"
protocol = "tcp"
host = "127.0.0.1:5021"
[[device.tag]]
name = "a"
address = "40001"
type = "u16"
"#;

    fn space() -> TagSpace {
        let config = Config::parse(CONFIG, "t.toml").unwrap();
        let store = Arc::new(crate::engine::build_store(&config));
        TagSpace::new(2, &config.gateway_name, &config.devices, store)
    }

    fn every_node(space: &TagSpace) -> Vec<NodeRef> {
        let mut all = vec![NodeRef::Gateway];
        for d in space.devices() {
            all.push(NodeRef::Device(d));
            all.push(NodeRef::StatusFolder(d));
            all.extend(StatusVar::ALL.map(|v| NodeRef::Status(d, v)));
            for &t in space.device_tags(d) {
                all.push(NodeRef::Tag(t));
                for p in [Property::EngineeringUnits, Property::EuRange] {
                    if space.has_property(t, p) {
                        all.push(NodeRef::Property(t, p));
                    }
                }
            }
        }
        all
    }

    #[test]
    fn every_node_id_resolves_back_to_its_node_and_builds() {
        let space = space();
        let all = every_node(&space);
        assert_eq!(all.len(), 1 + 2 * 6 + 4 + 3, "{all:?}");
        for node in all {
            let id = space.node_id(node);
            assert_eq!(space.resolve(&id), Some(node), "{id}");
            let built = space.build(node).expect("builds");
            assert_eq!(built.as_node().node_id(), &id);
            assert_eq!(built.as_node().node_class(), TagSpace::node_class(node));
        }
    }

    #[test]
    fn node_ids_are_the_documented_strings() {
        let space = space();
        let id = |s: &str| NodeId::new(2, s);
        let voltage = space.resolve(&id("meter.voltage")).unwrap();
        let NodeRef::Tag(t) = voltage else {
            panic!("{voltage:?}")
        };
        assert_eq!(
            space.resolve(&id("meter.voltage#EURange")),
            Some(NodeRef::Property(t, Property::EuRange))
        );
        assert!(matches!(
            space.resolve(&id("meter.energy.total")),
            Some(NodeRef::Tag(_))
        ));
        assert!(
            space.resolve(&id("meter.energy.total#EURange")).is_none(),
            "no range"
        );
        assert!(
            space.resolve(&id("meter.alarm#EngineeringUnits")).is_none(),
            "no unit"
        );
        assert_eq!(space.resolve(&id("gateway:line 3")), Some(NodeRef::Gateway));
        assert!(space.resolve(&id("gateway:line 4")).is_none());
        assert!(space.resolve(&id("meter._Status.Nope")).is_none());
        assert!(space.resolve(&id("nobody.voltage")).is_none());
        assert!(
            space.resolve(&NodeId::new(3, "meter.voltage")).is_none(),
            "other namespace"
        );
        assert!(space.resolve(&NodeId::new(2, 7u32)).is_none(), "numeric id");
    }

    #[test]
    fn type_definitions_follow_unit_and_range() {
        let space = space();
        let tag = |s: &str| space.resolve(&NodeId::new(2, s)).unwrap();
        let ty = |s: &str| space.type_definition(tag(s));
        assert_eq!(
            ty("meter.voltage"),
            NodeId::from(VariableTypeId::AnalogItemType)
        );
        assert_eq!(
            ty("meter.energy.total"),
            NodeId::from(VariableTypeId::AnalogUnitType)
        );
        assert_eq!(
            ty("meter.alarm"),
            NodeId::from(VariableTypeId::BaseDataVariableType)
        );
        assert_eq!(
            ty("meter._Status.Connected"),
            NodeId::from(VariableTypeId::BaseDataVariableType)
        );
        assert_eq!(ty("meter"), NodeId::from(ObjectTypeId::FolderType));
    }
}
