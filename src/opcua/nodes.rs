//! The gateway's address space and its node manager.
//!
//! `Objects/<gateway>/<device>/<tag>` with `NodeIds` `ns=<gateway ns>;s=<device>.<tag>`,
//! stable across restarts and reordering. Device folders are `s=<device>`, the
//! gateway folder `s=gateway:<name>`; each device has `_Status` variables
//! (`s=<device>._Status.Connected` …), properties `s=<device>.<tag>#EngineeringUnits`.
//! Config validation keeps these apart: device names have no '.', ':' or '#', tag
//! names no '#' and no leading '_'.
//!
//! Writes are handled here, asynchronously: the library's simple write callback
//! runs under the address-space lock and cannot wait for a device.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opcua::server::address_space::{AccessLevel, AddressSpace, ObjectBuilder, VariableBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::InMemoryNodeManagerImpl;
use opcua::server::node_manager::{ParsedReadValueId, RequestContext, ServerContext, WriteNode};
use opcua::sync::RwLock;
use opcua::types::{
    AttributeId, DataTypeId, DataValue, EUInformation, LocalizedText, NodeId, QualifiedName, Range,
    StatusCode, TimestampsToReturn, UAString, VariableTypeId, Variant,
};

use super::auth::GatewayAuth;
use super::values::{data_type_id, value_of};
use crate::config::Config;
use crate::engine::Engine;
use crate::tags::{TagId, Value};
use crate::write::WriteErrorKind;

/// `NodeIds` of one device's `_Status` variables.
#[derive(Debug, Clone)]
pub struct StatusNodes {
    pub connected: NodeId,
    pub last_error: NodeId,
    pub poll_duration: NodeId,
    pub requests_per_cycle: NodeId,
}

/// Where every tag and status variable lives.
#[derive(Debug, Default)]
pub struct NodeMap {
    /// `NodeId` of each tag, by `TagId`.
    pub tags: Vec<NodeId>,
    /// The reverse: tag by `NodeId`.
    pub by_node: HashMap<NodeId, TagId>,
    /// Per device, in config order.
    pub status: Vec<StatusNodes>,
}

impl NodeMap {
    /// The `NodeId` of a tag.
    pub fn node(&self, id: TagId) -> Option<&NodeId> {
        self.tags.get(id.index())
    }
}

/// The in-memory node manager's custom part: namespace, writes.
pub struct GatewayNodes {
    namespace: NamespaceMetadata,
    engine: Arc<Engine>,
    auth: Arc<GatewayAuth>,
    /// Shared with the value pump.
    pub map: Arc<NodeMap>,
    /// Longest a write may wait for its device: its timeout plus slack.
    write_timeouts: Vec<Duration>,
}

impl std::fmt::Debug for GatewayNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayNodes")
            .field("namespace", &self.namespace.namespace_uri)
            .field("tags", &self.map.tags.len())
            .finish_non_exhaustive()
    }
}

/// UNECE Recommendation 20 common codes for the units a gateway meets most.
const UNECE: [(&str, &str, &str); 22] = [
    ("V", "VLT", "volt"),
    ("mV", "2Z", "millivolt"),
    ("kV", "KVT", "kilovolt"),
    ("A", "AMP", "ampere"),
    ("mA", "4K", "milliampere"),
    ("W", "WTT", "watt"),
    ("kW", "KWT", "kilowatt"),
    ("Wh", "WHR", "watt hour"),
    ("kWh", "KWH", "kilowatt hour"),
    ("var", "D44", "var"),
    ("kvar", "KVR", "kilovar"),
    ("VA", "D46", "volt - ampere"),
    ("kVA", "KVA", "kilovolt - ampere"),
    ("Hz", "HTZ", "hertz"),
    ("Cel", "CEL", "degree Celsius"),
    ("°C", "CEL", "degree Celsius"),
    ("bar", "BAR", "bar"),
    ("Pa", "PAL", "pascal"),
    ("kPa", "KPA", "kilopascal"),
    ("rpm", "RPM", "revolutions per minute"),
    ("%", "P1", "percent"),
    ("m3/h", "MQH", "cubic metre per hour"),
];

/// `EUInformation` for a unit: the UNECE code when known, else unitId -1 with the text.
pub fn eu_information(unit: &str) -> EUInformation {
    let (unit_id, description) = UNECE.iter().find(|(u, _, _)| *u == unit).map_or(
        (-1, unit.to_owned()),
        |(_, code, desc)| {
            // Part 8 §5.6.3: the code's characters, big-endian, in an Int32.
            let id = code.bytes().fold(0i32, |acc, b| (acc << 8) | i32::from(b));
            (id, (*desc).to_owned())
        },
    );
    EUInformation {
        namespace_uri: "http://www.opcfoundation.org/UA/units/un/cefact".into(),
        unit_id,
        display_name: LocalizedText::new("", unit),
        description: LocalizedText::new("", &description),
    }
}

/// The namespace URI of a gateway's tags.
pub fn namespace_uri(gateway: &str) -> String {
    format!("urn:edge-gateway:{}:tags", super::uri_safe(gateway))
}

/// Build the address space for `config` in namespace `ns`.
pub fn populate(space: &mut AddressSpace, ns: u16, config: &Config) -> NodeMap {
    let mut map = NodeMap::default();
    let root = NodeId::new(ns, format!("gateway:{}", config.gateway_name));
    ObjectBuilder::new(
        &root,
        QualifiedName::new(ns, config.gateway_name.as_str()),
        config.gateway_name.as_str(),
    )
    .is_folder()
    .description(format!("edge-gateway {}", config.gateway_name))
    .organized_by(NodeId::objects_folder_id())
    .insert(space);
    for dev in &config.devices {
        let folder = NodeId::new(ns, dev.name.clone());
        ObjectBuilder::new(
            &folder,
            QualifiedName::new(ns, dev.name.as_str()),
            dev.name.as_str(),
        )
        .is_folder()
        .description(format!(
            "Modbus unit {} at {}",
            dev.unit,
            dev.transport.bus_key()
        ))
        .organized_by(root.clone())
        .insert(space);
        let sampling_ms = dev.poll.as_secs_f64() * 1000.0;
        for tag in &dev.tags {
            let id = NodeId::new(ns, format!("{}.{}", dev.name, tag.name));
            let presented = tag.encoding.presented_type();
            let access = if tag.writable {
                AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE
            } else {
                AccessLevel::CURRENT_READ
            };
            let analog = presented.is_numeric() && tag.unit.is_some();
            let type_definition = match (analog, tag.range.is_some()) {
                (true, true) => VariableTypeId::AnalogItemType,
                // AnalogItemType makes EURange mandatory; without a range the unit-only type fits.
                (true, false) => VariableTypeId::AnalogUnitType,
                (false, _) => VariableTypeId::BaseDataVariableType,
            };
            let mut builder = VariableBuilder::new(
                &id,
                QualifiedName::new(ns, tag.name.as_str()),
                tag.name.as_str(),
            )
            .data_type(data_type_id(presented))
            .value_rank(-1)
            .value(Variant::Empty)
            .access_level(access)
            .user_access_level(access)
            .minimum_sampling_interval(sampling_ms)
            .has_type_definition(type_definition)
            .organized_by(folder.clone());
            if let Some(d) = &tag.description {
                builder = builder.description(d.as_str());
            }
            builder.insert(space);
            if analog && let Some(unit) = &tag.unit {
                VariableBuilder::new(
                    &NodeId::new(ns, format!("{}.{}#EngineeringUnits", dev.name, tag.name)),
                    "EngineeringUnits",
                    "EngineeringUnits",
                )
                .data_type(DataTypeId::EUInformation)
                .value(eu_information(unit))
                .has_type_definition(VariableTypeId::PropertyType)
                .property_of(id.clone())
                .insert(space);
            }
            if let Some((low, high)) = tag.range {
                VariableBuilder::new(
                    &NodeId::new(ns, format!("{}.{}#EURange", dev.name, tag.name)),
                    "EURange",
                    "EURange",
                )
                .data_type(DataTypeId::Range)
                .value(Range { low, high })
                .has_type_definition(VariableTypeId::PropertyType)
                .property_of(id.clone())
                .insert(space);
            }
            map.by_node.insert(id.clone(), TagId::new(map.tags.len()));
            map.tags.push(id);
        }
        let status_folder = NodeId::new(ns, format!("{}._Status", dev.name));
        ObjectBuilder::new(&status_folder, QualifiedName::new(ns, "_Status"), "_Status")
            .is_folder()
            .description("Health of the device's polling")
            .organized_by(folder.clone())
            .insert(space);
        let status_var =
            |name: &str, ty: DataTypeId, initial: Variant, space: &mut AddressSpace| {
                let id = NodeId::new(ns, format!("{}._Status.{name}", dev.name));
                VariableBuilder::new(&id, QualifiedName::new(ns, name), name)
                    .data_type(ty)
                    .value_rank(-1)
                    .value(initial)
                    .has_type_definition(VariableTypeId::BaseDataVariableType)
                    .organized_by(status_folder.clone())
                    .insert(space);
                id
            };
        map.status.push(StatusNodes {
            connected: status_var(
                "Connected",
                DataTypeId::Boolean,
                Variant::Boolean(false),
                space,
            ),
            last_error: status_var(
                "LastError",
                DataTypeId::String,
                Variant::String(UAString::from("")),
                space,
            ),
            poll_duration: status_var(
                "PollDuration",
                DataTypeId::Double,
                Variant::Double(0.0),
                space,
            ),
            requests_per_cycle: status_var(
                "RequestsPerCycle",
                DataTypeId::UInt32,
                Variant::UInt32(0),
                space,
            ),
        });
    }
    map
}

impl GatewayNodes {
    /// The node manager for `config`, writing through `engine`.
    pub fn new(
        namespace: NamespaceMetadata,
        engine: Arc<Engine>,
        auth: Arc<GatewayAuth>,
        map: Arc<NodeMap>,
        config: &Config,
    ) -> Self {
        let write_timeouts = config
            .devices
            .iter()
            .map(|d| d.timeout.saturating_mul(2) + Duration::from_secs(1))
            .collect();
        GatewayNodes {
            namespace,
            engine,
            auth,
            map,
            write_timeouts,
        }
    }

    /// Write one tag through the engine; the `StatusCode` the client gets.
    async fn write_tag(&self, id: TagId, value: Value) -> StatusCode {
        let Some(device) = self.engine.store().meta(id).map(|m| m.device) else {
            return StatusCode::BadNodeIdUnknown;
        };
        let limit = self
            .write_timeouts
            .get(device.index())
            .copied()
            .unwrap_or(Duration::from_secs(5));
        match tokio::time::timeout(limit, self.engine.write_id(id, value)).await {
            Err(_) => StatusCode::BadTimeout,
            Ok(Ok(_)) => StatusCode::Good,
            Ok(Err(e)) => match e.kind() {
                WriteErrorKind::UnknownTag => StatusCode::BadNodeIdUnknown,
                WriteErrorKind::NotWritable => StatusCode::BadNotWritable,
                WriteErrorKind::TypeMismatch => StatusCode::BadTypeMismatch,
                WriteErrorKind::OutOfRange => StatusCode::BadOutOfRange,
                WriteErrorKind::Timeout => StatusCode::BadTimeout,
                WriteErrorKind::Communication => StatusCode::BadCommunicationError,
                WriteErrorKind::Exception(_) => StatusCode::BadDeviceFailure,
                WriteErrorKind::Busy => StatusCode::BadTooManyOperations,
                WriteErrorKind::Closed => StatusCode::BadShutdown,
            },
        }
    }
}

#[async_trait::async_trait]
impl InMemoryNodeManagerImpl for GatewayNodes {
    async fn init(&self, _address_space: &mut AddressSpace, _context: ServerContext) {}

    fn name(&self) -> &'static str {
        "edge-gateway"
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    /// Tag values come from the store: the latest response, not the last change.
    async fn read_values(
        &self,
        context: &RequestContext,
        address_space: &RwLock<AddressSpace>,
        nodes: &[&ParsedReadValueId],
        max_age: f64,
        timestamps_to_return: TimestampsToReturn,
    ) -> Vec<DataValue> {
        let space = address_space.read();
        super::read::read_values(
            self.engine.store(),
            &self.map,
            &space,
            context,
            nodes,
            max_age,
            timestamps_to_return,
        )
    }

    async fn write(
        &self,
        context: &RequestContext,
        address_space: &RwLock<AddressSpace>,
        nodes_to_write: &mut [&mut WriteNode],
    ) -> Result<(), StatusCode> {
        let may_write = self.auth.may_write(context.user_token());
        let store = self.engine.store();
        // Phase 1, under the locks and without awaiting: decide what may go to a device.
        let mut jobs: Vec<(usize, TagId, Value)> = Vec::new();
        {
            let mut space = address_space.write();
            let type_tree = context.type_tree().read();
            for (i, node) in nodes_to_write.iter_mut().enumerate() {
                let w = node.value();
                let Some(&tag) = self.map.by_node.get(&w.node_id) else {
                    // Folders, properties, _Status: read-only.
                    let status = if space.find(&w.node_id).is_some() {
                        StatusCode::BadNotWritable
                    } else {
                        StatusCode::BadNodeIdUnknown
                    };
                    node.set_status(status);
                    continue;
                };
                if w.attribute_id != AttributeId::Value || w.index_range.has_range() {
                    node.set_status(StatusCode::BadWriteNotSupported);
                    continue;
                }
                if !store.meta(tag).is_some_and(|m| m.writable) {
                    node.set_status(StatusCode::BadNotWritable);
                    continue;
                }
                if !may_write {
                    node.set_status(StatusCode::BadUserAccessDenied);
                    continue;
                }
                // The library checks the Variant against the node's DataType.
                if let Err(e) = space.validate_node_write(context, w, &*type_tree) {
                    node.set_status(e);
                    continue;
                }
                match w.value.value.as_ref().and_then(value_of) {
                    Some(v) => jobs.push((i, tag, v)),
                    None => node.set_status(StatusCode::BadTypeMismatch),
                }
            }
        }
        // Phase 2: the device round trips, after the locks are released.
        for (i, tag, value) in jobs {
            let status = self.write_tag(tag, value).await;
            tracing::info!(user = %context.user_token().0, tag = %self.map.node(tag).map(ToString::to_string).unwrap_or_default(), status = %status, "OPC UA write");
            if let Some(node) = nodes_to_write.get_mut(i) {
                node.set_status(status);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unece_codes_are_packed_big_endian() {
        assert_eq!(eu_information("V").unit_id, 5_655_636); // "VLT"
        assert_eq!(eu_information("°C").unit_id, 4_408_652); // "CEL"
        assert_eq!(eu_information("%").unit_id, 0x5031); // "P1"
        assert_eq!(eu_information("furlong").unit_id, -1);
    }
}
