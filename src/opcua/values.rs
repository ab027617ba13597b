//! Tag values as OPC UA sees them: Variants both ways, the `StatusCode` of a
//! quality (exactly as DESIGN.md maps it), `DataTypes`, timestamps, and the
//! `DataValue` a snapshot becomes. Pure conversions, shared by the address
//! space, the value sync and Read.

use std::time::{SystemTime, UNIX_EPOCH};

use opcua::types::{DataTypeId, DataValue, DateTime, StatusCode, UAString, Variant};

use crate::tags::{BadCause, DataType, Quality, Value};

/// `SourceTimestamp` from a wall-clock time.
pub fn datetime(t: SystemTime) -> DateTime {
    // OPC UA counts 100 ns ticks from 1601-01-01.
    const TICKS_1601_TO_1970: i64 = 116_444_736_000_000_000;
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ticks = i64::try_from(d.as_nanos() / 100).unwrap_or(i64::MAX - TICKS_1601_TO_1970);
    DateTime::from(ticks.saturating_add(TICKS_1601_TO_1970))
}

/// `StatusCode` of a quality, exactly as DESIGN.md maps it.
pub fn status_code(q: Quality) -> StatusCode {
    match q {
        Quality::Good => StatusCode::Good,
        Quality::Uncertain(_) => StatusCode::UncertainLastUsableValue,
        Quality::Bad(BadCause::Communication) => StatusCode::BadCommunicationError,
        Quality::Bad(BadCause::Timeout) => StatusCode::BadTimeout,
        Quality::Bad(BadCause::Exception(_)) => StatusCode::BadDeviceFailure,
        Quality::Bad(BadCause::Decode) => StatusCode::BadDataUnavailable,
        Quality::Bad(BadCause::Waiting) => StatusCode::BadWaitingForInitialData,
    }
}

/// A tag value as a Variant of the node's `DataType`.
pub fn variant(v: &Value) -> Variant {
    match v {
        Value::Bool(b) => Variant::Boolean(*b),
        Value::U16(x) => Variant::UInt16(*x),
        Value::I16(x) => Variant::Int16(*x),
        Value::U32(x) => Variant::UInt32(*x),
        Value::I32(x) => Variant::Int32(*x),
        Value::U64(x) => Variant::UInt64(*x),
        Value::I64(x) => Variant::Int64(*x),
        Value::F32(x) => Variant::Float(*x),
        Value::F64(x) => Variant::Double(*x),
        Value::String(s) => Variant::String(UAString::from(s.as_str())),
    }
}

/// A written Variant as a tag value; the codec range-checks it for the tag.
pub fn value_of(v: &Variant) -> Option<Value> {
    Some(match v {
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(x) => Value::I16(i16::from(*x)),
        Variant::Byte(x) => Value::U16(u16::from(*x)),
        Variant::Int16(x) => Value::I16(*x),
        Variant::UInt16(x) => Value::U16(*x),
        Variant::Int32(x) => Value::I32(*x),
        Variant::UInt32(x) => Value::U32(*x),
        Variant::Int64(x) => Value::I64(*x),
        Variant::UInt64(x) => Value::U64(*x),
        Variant::Float(x) => Value::F32(*x),
        Variant::Double(x) => Value::F64(*x),
        Variant::String(s) => Value::String(s.value().clone().unwrap_or_default()),
        _ => return None,
    })
}

/// The OPC UA `DataType` of a tag type.
pub(super) fn data_type_id(t: DataType) -> DataTypeId {
    match t {
        DataType::Bool => DataTypeId::Boolean,
        DataType::U16 => DataTypeId::UInt16,
        DataType::I16 => DataTypeId::Int16,
        DataType::U32 => DataTypeId::UInt32,
        DataType::I32 => DataTypeId::Int32,
        DataType::U64 => DataTypeId::UInt64,
        DataType::I64 => DataTypeId::Int64,
        DataType::F32 => DataTypeId::Float,
        DataType::F64 => DataTypeId::Double,
        DataType::String => DataTypeId::String,
    }
}

/// A `DataValue` for a tag snapshot. A bad tag carries an empty Variant: no
/// stale number for a client to mistake for data, a change even for clients
/// without a `StatusValue` filter, and (unlike no value at all) the library keeps
/// the status with it when the node is read.
pub fn data_value(
    value: Option<&Value>,
    quality: Quality,
    source: Option<SystemTime>,
    now: DateTime,
) -> DataValue {
    let value = match quality {
        Quality::Bad(_) => Some(Variant::Empty),
        _ => Some(value.map_or(Variant::Empty, variant)),
    };
    DataValue {
        value,
        status: Some(status_code(quality)),
        source_timestamp: source.map(datetime),
        server_timestamp: Some(now),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn source_timestamps_convert_to_opc_ua_ticks() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_309_323_456);
        assert_eq!(datetime(t).to_rfc3339(), "2026-11-22T01:02:03.456Z");
    }

    #[test]
    fn quality_maps_to_design_status_codes() {
        assert_eq!(
            status_code(Quality::Uncertain(BadCause::Timeout)),
            StatusCode::UncertainLastUsableValue
        );
        assert_eq!(
            status_code(Quality::Bad(BadCause::Exception(
                crate::modbus::protocol::ExceptionCode::IllegalDataAddress
            ))),
            StatusCode::BadDeviceFailure
        );
        assert_eq!(
            status_code(Quality::Bad(BadCause::Decode)),
            StatusCode::BadDataUnavailable
        );
        assert_eq!(
            status_code(Quality::Bad(BadCause::Waiting)),
            StatusCode::BadWaitingForInitialData
        );
    }
}
