//! Read of tag values: the latest state from the tag store.
//!
//! A Read asks for the latest state, and a SCADA judges freshness by its
//! `SourceTimestamp`: so a Read of a tag carries value, status and the time of
//! the latest response from the store, as `/api/tags` does, and the server's
//! time as `ServerTimestamp`.

use opcua::types::{DataValue, TimestampsToReturn};

/// Keep only the timestamps the client asked for (OPC UA Part 4, 7.40).
pub(super) fn with_timestamps(mut dv: DataValue, timestamps: TimestampsToReturn) -> DataValue {
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
    use opcua::types::DateTime;

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
