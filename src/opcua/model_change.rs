//! The `GeneralModelChangeEvent` a reload raises on the Server object
//! (Part 3, 9.32): the device folders that came, went or changed their
//! children, so a client that caches the address space browses them again.
//! Devices, not tags: a reload of a 10k-tag device says one line, not 10k.

use opcua::core_namespace::events::BaseModelChangeEventType;
use opcua::nodes::NamespaceMap;
use opcua::types::{ByteString, ModelChangeStructureDataType, NodeId, ObjectTypeId};

/// `ModelChangeStructureDataType.Verb` bits (Part 3, 9.32.4).
pub(super) mod verb {
    pub(in crate::opcua) const NODE_ADDED: u8 = 1;
    pub(in crate::opcua) const NODE_DELETED: u8 = 2;
    pub(in crate::opcua) const REFERENCE_ADDED: u8 = 4;
    pub(in crate::opcua) const REFERENCE_DELETED: u8 = 8;
}

/// `GeneralModelChangeEventType` (i=2133), with `Changes` as the array the
/// standard declares (the generated type in async-opcua has one element).
#[derive(Debug, opcua::Event)]
#[opcua(identifier = "i=2133")]
pub(super) struct GeneralModelChange {
    pub(super) base: BaseModelChangeEventType,
    pub(super) changes: Vec<ModelChangeStructureDataType>,
}

/// The event for these changes of device folders (`NodeId`, verb).
pub(super) fn event(
    changes: impl IntoIterator<Item = (NodeId, u8)>,
    message: &str,
) -> GeneralModelChange {
    let now = opcua::types::DateTime::now();
    let mut e = GeneralModelChange::new_event(
        GeneralModelChange::event_type_id(),
        event_id(now),
        message,
        &NamespaceMap::new(),
        now,
    );
    e.base.base = e
        .base
        .base
        .set_source_node(opcua::types::ObjectId::Server.into())
        .set_source_name("Server".into());
    e.changes = changes
        .into_iter()
        .map(|(affected, verb)| ModelChangeStructureDataType {
            affected,
            affected_type: ObjectTypeId::FolderType.into(),
            verb,
        })
        .collect();
    e
}

/// A unique `EventId`: the time and a counter, which no two events share.
fn event_id(now: opcua::types::DateTime) -> ByteString {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut id = now.checked_ticks().to_be_bytes().to_vec();
    id.extend(n.to_be_bytes());
    ByteString::from(id)
}
