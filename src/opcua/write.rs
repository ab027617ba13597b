//! The OPC UA Write service for tags: checks first, then the device round
//! trips through the engine.
//!
//! A write reaches a device only for a tag marked writable and a user
//! allowed to write, with a value of the tag's type; everything else is
//! answered without touching a device. Folders, properties and `_Status`
//! are read-only.

use std::time::Duration;

use opcua::server::address_space::validate_node_write;
use opcua::server::node_manager::{RequestContext, WriteNode};
use opcua::types::{AttributeId, StatusCode};

use super::manager::GatewayNodes;
use super::space::NodeRef;
use super::values::value_of;
use crate::tags::{TagId, Value};
use crate::write::WriteErrorKind;

/// Answer every node of one Write request.
pub(super) async fn write(
    nodes: &GatewayNodes,
    context: &RequestContext,
    nodes_to_write: &mut [&mut WriteNode],
) {
    let may_write = nodes.auth.may_write(context.user_token());
    let store = nodes.engine.store();
    // Phase 1, without awaiting: decide what may go to a device.
    let mut jobs: Vec<(usize, TagId, Value)> = Vec::new();
    {
        let type_tree = context.type_tree().read();
        for (i, node) in nodes_to_write.iter_mut().enumerate() {
            let w = node.value();
            let tag = match nodes.space.resolve(&w.node_id) {
                Some(NodeRef::Tag(tag)) => tag,
                Some(_) => {
                    node.set_status(StatusCode::BadNotWritable);
                    continue;
                }
                None => {
                    node.set_status(StatusCode::BadNodeIdUnknown);
                    continue;
                }
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
            // The stack checks the Variant against the node's DataType.
            let Some(built) = nodes.space.build(NodeRef::Tag(tag)) else {
                node.set_status(StatusCode::BadNodeIdUnknown);
                continue;
            };
            if let Err(e) = validate_node_write(&built, context, w, &*type_tree) {
                node.set_status(e);
                continue;
            }
            match w.value.value.as_ref().and_then(value_of) {
                Some(v) => jobs.push((i, tag, v)),
                None => node.set_status(StatusCode::BadTypeMismatch),
            }
        }
    }
    // Phase 2: the device round trips.
    for (i, tag, value) in jobs {
        let status = write_tag(nodes, tag, value).await;
        tracing::info!(user = %context.user_token().0, tag = %nodes.tag_node_id(tag), status = %status, "OPC UA write");
        if let Some(node) = nodes_to_write.get_mut(i) {
            node.set_status(status);
        }
    }
}

/// Write one tag through the engine; the `StatusCode` the client gets.
async fn write_tag(nodes: &GatewayNodes, id: TagId, value: Value) -> StatusCode {
    let Some(device) = nodes.engine.store().meta(id).map(|m| m.device) else {
        return StatusCode::BadNodeIdUnknown;
    };
    let limit = nodes
        .write_timeouts
        .get(device.index())
        .copied()
        .unwrap_or(Duration::from_secs(5));
    match tokio::time::timeout(limit, nodes.engine.write_id(id, value)).await {
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
