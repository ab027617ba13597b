//! The OPC UA Write service for tags: checks first, then the device round
//! trips through the engine.
//!
//! A write reaches a device only for a tag marked writable and a user
//! allowed to write, with a value of the tag's type; everything else is
//! answered without touching a device. Folders, properties and `_Status`
//! are read-only.
//!
//! One Write request has one deadline (`write_deadline`): the client's
//! timeoutHint, capped by `[opcua] max_write_time`. Its nodes are written in
//! order, and no Modbus request of this Write (a node, or the second half of
//! a bit's read-modify-write) is sent after it: the nodes still waiting are
//! answered `BadTimeout`, and the client gets its answer before it gives up.

use std::time::Duration;

use tokio::time::Instant;

use opcua::server::address_space::validate_node_write;
use opcua::server::node_manager::{RequestContext, WriteNode};
use opcua::types::{AttributeId, StatusCode};

use super::manager::GatewayNodes;
use super::space::NodeRef;
use super::values::value_of;
use crate::modbus::bus::WRITE_ANSWER_GRACE;
use crate::tags::{TagId, Value};
use crate::write::WriteErrorKind;

/// Answer every node of one Write request.
pub(super) async fn write(
    nodes: &GatewayNodes,
    context: &RequestContext,
    nodes_to_write: &mut [&mut WriteNode],
) {
    let deadline = write_deadline(Instant::now(), context.timeout_hint, nodes.max_write_time);
    let may_write = nodes.auth.may_write(context.user_token());
    let store = nodes.engine.store();
    // Phase 1, without awaiting: decide what may go to a device.
    let mut jobs: Vec<(usize, TagId, Value)> = Vec::new();
    {
        let type_tree = context.type_tree().read();
        for (i, node) in nodes_to_write.iter_mut().enumerate() {
            let w = node.value();
            let tag = match nodes.space().resolve(&w.node_id) {
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
            let Some(built) = nodes.space().build(NodeRef::Tag(tag)) else {
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
        let status = write_tag(nodes, tag, value, deadline).await;
        tracing::info!(user = %context.user_token().0, tag = %nodes.tag_node_id(tag), status = %status, "OPC UA write");
        if let Some(node) = nodes_to_write.get_mut(i) {
            node.set_status(status);
        }
    }
}

/// When the device round trips of a Write that arrived at `now` must stop:
/// the client's `timeout_hint_ms` (0: none) capped by `max`, less a margin
/// so that the answer, sent at most `WRITE_ANSWER_GRACE` later, reaches the
/// client before its own timer fires.
pub(super) fn write_deadline(now: Instant, timeout_hint_ms: u32, max: Duration) -> Instant {
    let hint = Duration::from_millis(u64::from(timeout_hint_ms));
    let budget = if hint.is_zero() { max } else { hint.min(max) };
    let margin = (budget / 10).min(Duration::from_millis(250)) + WRITE_ANSWER_GRACE;
    now + budget.saturating_sub(margin)
}

/// Write one tag through the engine; the `StatusCode` the client gets.
async fn write_tag(nodes: &GatewayNodes, id: TagId, value: Value, deadline: Instant) -> StatusCode {
    match nodes.engine.write_id(id, value, deadline).await {
        Ok(_) => StatusCode::Good,
        Err(e) => match e.kind() {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(10);

    #[test]
    fn the_hint_bounds_the_deadline_less_a_margin_for_the_answer() {
        let now = Instant::now();
        assert_eq!(
            write_deadline(now, 1000, MAX),
            now + Duration::from_millis(850)
        );
        assert_eq!(
            write_deadline(now, 200, MAX),
            now + Duration::from_millis(130)
        );
    }

    #[test]
    fn no_hint_or_a_longer_one_is_capped_by_the_server_maximum() {
        let now = Instant::now();
        let capped = now + MAX - Duration::from_millis(300);
        assert_eq!(write_deadline(now, 0, MAX), capped);
        assert_eq!(write_deadline(now, u32::MAX, MAX), capped);
    }

    #[test]
    fn a_hint_too_short_for_any_round_trip_leaves_no_time() {
        let now = Instant::now();
        assert_eq!(write_deadline(now, 40, MAX), now);
    }
}
