//! Read of tag values: answered from the tag store, not from the node.
//!
//! The address space holds a tag's value as of its last *change*: that is all
//! subscriptions need, and pushing every unchanged response would cost the
//! most when the most tags are polled. A Read, though, asks for the latest
//! state, and a SCADA judges freshness by its `SourceTimestamp`: so a Read of a
//! tag takes value, status and the time of the latest response from the
//! store, as `/api/tags` does. The node still decides whether the read is
//! allowed (access level, index range, encoding), and every other node and
//! attribute is read from the address space as before.

use opcua::server::address_space::AddressSpace;
use opcua::server::node_manager::{ParsedReadValueId, RequestContext};
use opcua::types::{AttributeId, DataValue, DateTime, NumericRange, TimestampsToReturn};

use super::nodes::NodeMap;
use super::values::data_value;
use crate::tags::TagStore;

/// The values of `nodes`, in order: tags from the store, the rest from `space`.
pub(super) fn read_values(
    store: &TagStore,
    map: &NodeMap,
    space: &AddressSpace,
    context: &RequestContext,
    nodes: &[&ParsedReadValueId],
    max_age: f64,
    timestamps: TimestampsToReturn,
) -> Vec<DataValue> {
    nodes
        .iter()
        .map(|n| {
            let from_store = n.attribute_id == AttributeId::Value
                && n.index_range == NumericRange::None
                && space.validate_node_read(context, n).is_ok();
            let latest = from_store
                .then(|| map.by_node.get(&n.node_id))
                .flatten()
                .and_then(|id| store.snapshot(*id));
            match latest {
                Some(s) => with_timestamps(
                    data_value(s.value.as_ref(), s.quality, s.source_time, DateTime::now()),
                    timestamps,
                ),
                None => space.read(context, n, max_age, timestamps),
            }
        })
        .collect()
}

/// Keep only the timestamps the client asked for (OPC UA Part 4, 7.40).
fn with_timestamps(mut dv: DataValue, timestamps: TimestampsToReturn) -> DataValue {
    match timestamps {
        TimestampsToReturn::Both => {}
        TimestampsToReturn::Source => dv.server_timestamp = None,
        TimestampsToReturn::Server => dv.source_timestamp = None,
        TimestampsToReturn::Neither | TimestampsToReturn::Invalid => {
            dv.source_timestamp = None;
            dv.server_timestamp = None;
        }
    }
    dv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped() -> DataValue {
        DataValue {
            source_timestamp: Some(DateTime::now()),
            server_timestamp: Some(DateTime::now()),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_timestamps_asked_for_are_returned() {
        let both = with_timestamps(stamped(), TimestampsToReturn::Both);
        assert!(both.source_timestamp.is_some() && both.server_timestamp.is_some());
        let source = with_timestamps(stamped(), TimestampsToReturn::Source);
        assert!(source.source_timestamp.is_some() && source.server_timestamp.is_none());
        let server = with_timestamps(stamped(), TimestampsToReturn::Server);
        assert!(server.source_timestamp.is_none() && server.server_timestamp.is_some());
        let neither = with_timestamps(stamped(), TimestampsToReturn::Neither);
        assert!(neither.source_timestamp.is_none() && neither.server_timestamp.is_none());
    }
}
