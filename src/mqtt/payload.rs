//! Building Sparkplug payloads from the tag model, and reading the values of
//! commands back into it. Pure: no clock, no store, no broker.
//!
//! Aliases are fixed for the life of the gateway, reloads included: a tag's
//! alias is its store id (never reused); the four `_Status` metrics of device
//! `d` are `STATUS_ALIAS_BASE + 4d + k`, the node's own metrics
//! `NODE_ALIAS_BASE + k`, both far above any tag id, so adding tags and
//! devices moves no alias. Every alias is unique across the edge node (§6.4.4).

use prost::Message;

use super::proto::Payload;
use super::proto::payload::metric::Value as MetricValue;
use super::proto::payload::property_value::Value as PropertyValueKind;
use super::proto::payload::{Metric, PropertySet, PropertyValue};
use super::sparkplug::{BD_SEQ, ENG_UNIT, QUALITY, datatype, quality};
use crate::tags::{DataType, DeviceStatus, Quality, TagMeta, TagSnapshot, Value};

/// The Sparkplug datatype of a tag type.
pub fn datatype_of(t: DataType) -> u32 {
    match t {
        DataType::Bool => datatype::BOOLEAN,
        DataType::U16 => datatype::UINT16,
        DataType::I16 => datatype::INT16,
        DataType::U32 => datatype::UINT32,
        DataType::I32 => datatype::INT32,
        DataType::U64 => datatype::UINT64,
        DataType::I64 => datatype::INT64,
        DataType::F32 => datatype::FLOAT,
        DataType::F64 => datatype::DOUBLE,
        DataType::String => datatype::STRING,
    }
}

/// A value in its metric field. Signed integers travel as their two's
/// complement in the unsigned field of their width class (`int_value` for up
/// to 32 bits, `long_value` for 64), as Tahu encodes them.
pub fn metric_value(v: &Value) -> MetricValue {
    match v {
        Value::Bool(b) => MetricValue::BooleanValue(*b),
        Value::U16(n) => MetricValue::IntValue(u32::from(*n)),
        Value::I16(n) => MetricValue::IntValue(i32::from(*n).cast_unsigned()),
        Value::U32(n) => MetricValue::IntValue(*n),
        Value::I32(n) => MetricValue::IntValue(n.cast_unsigned()),
        Value::U64(n) => MetricValue::LongValue(*n),
        Value::I64(n) => MetricValue::LongValue(n.cast_unsigned()),
        Value::F32(f) => MetricValue::FloatValue(*f),
        Value::F64(f) => MetricValue::DoubleValue(*f),
        Value::String(s) => MetricValue::StringValue(s.clone()),
    }
}

/// A command's value as a value of tag type `t`; `None` when it is of
/// another kind or out of the type's range (a refused write, not a cast).
pub fn value_for(t: DataType, v: &MetricValue) -> Option<Value> {
    // Integers may come in either integer field: hosts differ in which they
    // fill for which width. int_value holds a sign-extended 32-bit integer.
    let int = match v {
        MetricValue::IntValue(n) => Some((i128::from(*n), i128::from(n.cast_signed()))),
        MetricValue::LongValue(n) => Some((i128::from(*n), i128::from(n.cast_signed()))),
        _ => None,
    };
    let fits = |f: fn(i128) -> Option<Value>| int.and_then(|(u, s)| f(u).or_else(|| f(s)));
    match t {
        DataType::Bool => match v {
            MetricValue::BooleanValue(b) => Some(Value::Bool(*b)),
            _ => None,
        },
        DataType::U16 => fits(|n| u16::try_from(n).ok().map(Value::U16)),
        DataType::I16 => fits(|n| i16::try_from(n).ok().map(Value::I16)),
        DataType::U32 => fits(|n| u32::try_from(n).ok().map(Value::U32)),
        DataType::I32 => fits(|n| i32::try_from(n).ok().map(Value::I32)),
        DataType::U64 => match v {
            MetricValue::LongValue(n) => Some(Value::U64(*n)),
            _ => fits(|n| u64::try_from(n).ok().map(Value::U64)),
        },
        DataType::I64 => match v {
            MetricValue::LongValue(n) => Some(Value::I64(n.cast_signed())),
            _ => fits(|n| i64::try_from(n).ok().map(Value::I64)),
        },
        DataType::F32 => match v {
            MetricValue::FloatValue(f) => Some(Value::F32(*f)),
            _ => None,
        },
        DataType::F64 => match v {
            MetricValue::DoubleValue(f) => Some(Value::F64(*f)),
            MetricValue::FloatValue(f) => Some(Value::F64(f64::from(*f))),
            _ => None,
        },
        DataType::String => match v {
            MetricValue::StringValue(s) => Some(Value::String(s.clone())),
            _ => None,
        },
    }
}

/// The `Quality` property code of a quality.
pub fn quality_code(q: Quality) -> i32 {
    match q {
        Quality::Good => quality::GOOD,
        Quality::Uncertain(_) => quality::STALE,
        Quality::Bad(_) => quality::BAD,
    }
}

fn int32_property(v: i32) -> PropertyValue {
    PropertyValue {
        r#type: Some(datatype::INT32),
        is_null: None,
        value: Some(PropertyValueKind::IntValue(v.cast_unsigned())),
    }
}

fn string_property(v: &str) -> PropertyValue {
    PropertyValue {
        r#type: Some(datatype::STRING),
        is_null: None,
        value: Some(PropertyValueKind::StringValue(v.to_owned())),
    }
}

/// Milliseconds since the epoch.
pub fn epoch_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a metric goes into a birth (name, datatype, every property), a
/// data message (alias, value, quality only), or the store-and-forward log
/// (name and datatype instead of the alias, which may differ after a restart
/// with another config; `is_historical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Birth,
    Data,
    Historical,
}

/// A tag's metric: its value (null when bad), source timestamp, `Quality`,
/// and in a birth its name, datatype and `engUnit`. `now_ms` stands in for a
/// tag that has no timestamp yet.
pub fn tag_metric(
    meta: &TagMeta,
    alias: u64,
    snap: &TagSnapshot,
    form: Form,
    now_ms: u64,
) -> Metric {
    let value = snap.usable_value().map(metric_value);
    let mut keys = vec![QUALITY.to_owned()];
    let mut values = vec![int32_property(quality_code(snap.quality))];
    if form == Form::Birth
        && let Some(unit) = &meta.unit
    {
        keys.push(ENG_UNIT.to_owned());
        values.push(string_property(unit));
    }
    let named = form != Form::Data;
    Metric {
        name: named.then(|| meta.name.to_string()),
        alias: (form != Form::Historical).then_some(alias),
        timestamp: Some(snap.source_time.map_or(now_ms, epoch_ms)),
        datatype: named.then(|| datatype_of(meta.data_type)),
        is_historical: (form == Form::Historical).then_some(true),
        is_null: value.is_none().then_some(true),
        value,
        properties: Some(PropertySet { keys, values }),
        ..Metric::default()
    }
}

/// A metric that is not a tag (a `_Status` or node metric): no properties.
pub fn plain_metric(
    name: &str,
    alias: u64,
    datatype: u32,
    value: MetricValue,
    form: Form,
    now_ms: u64,
) -> Metric {
    Metric {
        name: (form == Form::Birth).then(|| name.to_owned()),
        alias: Some(alias),
        timestamp: Some(now_ms),
        datatype: (form == Form::Birth).then_some(datatype),
        value: Some(value),
        ..Metric::default()
    }
}

/// The four `_Status` metrics of a device, in alias order.
pub const STATUS_METRICS: [(&str, u32); 4] = [
    ("_Status/Connected", datatype::BOOLEAN),
    ("_Status/LastError", datatype::STRING),
    ("_Status/PollDuration", datatype::DOUBLE),
    ("_Status/RequestsPerCycle", datatype::UINT32),
];

/// The values of a device's `_Status` metrics, in `STATUS_METRICS` order.
pub fn status_values(s: &DeviceStatus) -> [MetricValue; 4] {
    [
        MetricValue::BooleanValue(s.connected),
        MetricValue::StringValue(s.last_error.clone().unwrap_or_default()),
        MetricValue::DoubleValue(s.last_poll_duration.as_secs_f64() * 1000.0),
        MetricValue::IntValue(s.requests_per_cycle),
    ]
}

/// The first `_Status` alias: above every tag id a store can give (2^40).
pub const STATUS_ALIAS_BASE: u64 = 1 << 40;
/// The first node metric alias: above every `_Status` alias.
pub const NODE_ALIAS_BASE: u64 = 1 << 56;

/// The alias of status metric `k` (`STATUS_METRICS`) of device `device`.
pub fn status_alias(device: usize, k: usize) -> u64 {
    STATUS_ALIAS_BASE + (device * STATUS_METRICS.len() + k) as u64
}

/// The alias of node metric `k`.
pub fn node_alias(k: usize) -> u64 {
    NODE_ALIAS_BASE + k as u64
}

/// The bdSeq metric of an NBIRTH or NDEATH (Int64, §6.4.21).
pub fn bd_seq_metric(bd_seq: u8, now_ms: u64) -> Metric {
    Metric {
        name: Some(BD_SEQ.to_owned()),
        timestamp: Some(now_ms),
        datatype: Some(datatype::INT64),
        value: Some(MetricValue::LongValue(u64::from(bd_seq))),
        ..Metric::default()
    }
}

/// A payload with these metrics, encoded; `seq` is absent for NDEATH.
pub fn encode(now_ms: u64, seq: Option<u64>, metrics: Vec<Metric>) -> Vec<u8> {
    Payload {
        timestamp: Some(now_ms),
        metrics,
        seq,
        ..Payload::default()
    }
    .encode_to_vec()
}

/// One metric of a command: addressed by name or alias, with a value.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandMetric {
    pub name: Option<String>,
    pub alias: Option<u64>,
    pub value: Option<MetricValue>,
}

/// Why a command payload was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("not a Sparkplug B payload: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("a command with {0} metrics is more than {MAX_COMMAND_METRICS} allows")]
    TooMany(usize),
}

/// Most metrics one NCMD or DCMD may carry; a host writing more at once is
/// asked to split them rather than let one message queue a burst of writes.
pub const MAX_COMMAND_METRICS: usize = 256;

/// The metrics of an NCMD or DCMD payload.
pub fn decode_command(payload: &[u8]) -> Result<Vec<CommandMetric>, CommandError> {
    let p = Payload::decode(payload)?;
    if p.metrics.len() > MAX_COMMAND_METRICS {
        return Err(CommandError::TooMany(p.metrics.len()));
    }
    Ok(p.metrics
        .into_iter()
        .map(|m| CommandMetric {
            name: m.name,
            alias: m.alias,
            value: if m.is_null == Some(true) {
                None
            } else {
                m.value
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::{BadCause, DeviceId};
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    fn meta(t: DataType, unit: Option<&str>) -> TagMeta {
        TagMeta {
            device: DeviceId::new(0),
            name: "flow".into(),
            data_type: t,
            unit: unit.map(Arc::from),
            description: None,
            writable: true,
            deadband: None,
        }
    }

    fn snap(value: Option<Value>, quality: Quality, ms: u64) -> TagSnapshot {
        TagSnapshot {
            value,
            quality,
            source_time: Some(UNIX_EPOCH + Duration::from_millis(ms)),
            changed_at: None,
        }
    }

    fn property(m: &Metric, key: &str) -> Option<PropertyValueKind> {
        let p = m.properties.as_ref()?;
        let i = p.keys.iter().position(|k| k == key)?;
        p.values.get(i)?.value.clone()
    }

    #[test]
    fn a_birth_metric_has_name_type_unit_quality_and_source_time() {
        let m = tag_metric(
            &meta(DataType::F32, Some("m3/h")),
            7,
            &snap(Some(Value::F32(1.5)), Quality::Good, 1234),
            Form::Birth,
            99,
        );
        assert_eq!(m.name.as_deref(), Some("flow"));
        assert_eq!(m.alias, Some(7));
        assert_eq!(m.datatype, Some(datatype::FLOAT));
        assert_eq!(m.timestamp, Some(1234));
        assert_eq!(m.value, Some(MetricValue::FloatValue(1.5)));
        assert_eq!(m.is_null, None);
        assert_eq!(
            property(&m, QUALITY),
            Some(PropertyValueKind::IntValue(192))
        );
        assert_eq!(
            property(&m, ENG_UNIT),
            Some(PropertyValueKind::StringValue("m3/h".into()))
        );
    }

    #[test]
    fn a_data_metric_has_alias_value_and_quality_only() {
        let m = tag_metric(
            &meta(DataType::U16, Some("V")),
            3,
            &snap(
                Some(Value::U16(5)),
                Quality::Uncertain(BadCause::Timeout),
                50,
            ),
            Form::Data,
            99,
        );
        assert_eq!((&m.name, m.datatype), (&None, None));
        assert_eq!(m.value, Some(MetricValue::IntValue(5)));
        assert_eq!(
            property(&m, QUALITY),
            Some(PropertyValueKind::IntValue(500))
        );
        assert_eq!(property(&m, ENG_UNIT), None);
    }

    #[test]
    fn a_historical_metric_goes_by_name_and_says_so() {
        let m = tag_metric(
            &meta(DataType::U16, Some("V")),
            3,
            &snap(Some(Value::U16(5)), Quality::Good, 50),
            Form::Historical,
            99,
        );
        assert_eq!((m.name.as_deref(), m.alias), (Some("flow"), None));
        assert_eq!(
            (m.datatype, m.is_historical),
            (Some(datatype::UINT16), Some(true))
        );
        assert_eq!(m.timestamp, Some(50));
    }

    #[test]
    fn a_bad_tag_is_null_with_quality_0() {
        let m = tag_metric(
            &meta(DataType::I32, None),
            0,
            &snap(
                Some(Value::I32(-4)),
                Quality::Bad(BadCause::Communication),
                5,
            ),
            Form::Data,
            99,
        );
        assert_eq!((&m.value, m.is_null), (&None, Some(true)));
        assert_eq!(property(&m, QUALITY), Some(PropertyValueKind::IntValue(0)));
    }

    #[test]
    fn a_tag_never_polled_is_stamped_now() {
        let s = TagSnapshot {
            value: None,
            quality: Quality::Bad(BadCause::Waiting),
            source_time: None,
            changed_at: None,
        };
        let m = tag_metric(&meta(DataType::Bool, None), 0, &s, Form::Birth, 77);
        assert_eq!(m.timestamp, Some(77));
    }

    #[test]
    fn signed_values_travel_as_twos_complement() {
        assert_eq!(
            metric_value(&Value::I16(-1)),
            MetricValue::IntValue(u32::MAX)
        );
        assert_eq!(
            metric_value(&Value::I64(-2)),
            MetricValue::LongValue(u64::MAX - 1)
        );
        assert_eq!(
            value_for(DataType::I16, &MetricValue::IntValue(u32::MAX)),
            Some(Value::I16(-1))
        );
    }

    #[test]
    fn command_values_out_of_range_or_of_another_kind_are_refused() {
        assert_eq!(
            value_for(DataType::U16, &MetricValue::IntValue(70_000)),
            None
        );
        assert_eq!(
            value_for(DataType::U16, &MetricValue::LongValue(12)),
            Some(Value::U16(12))
        );
        assert_eq!(value_for(DataType::Bool, &MetricValue::IntValue(1)), None);
        assert_eq!(
            value_for(DataType::F32, &MetricValue::DoubleValue(1.0)),
            None
        );
        assert_eq!(
            value_for(DataType::F64, &MetricValue::FloatValue(0.5)),
            Some(Value::F64(0.5))
        );
        assert_eq!(
            value_for(DataType::String, &MetricValue::BooleanValue(true)),
            None
        );
    }

    #[test]
    fn aliases_do_not_overlap_and_do_not_depend_on_the_counts() {
        assert_eq!(status_alias(0, 0), STATUS_ALIAS_BASE);
        assert_eq!(status_alias(1, 3), STATUS_ALIAS_BASE + 7);
        assert_eq!(node_alias(0), NODE_ALIAS_BASE);
        // A device id the store may give stays below the node metrics.
        assert!(status_alias(1 << 40, 3) < NODE_ALIAS_BASE);
    }

    #[test]
    fn commands_decode_and_bound_their_size() {
        let bytes = encode(
            1,
            None,
            vec![Metric {
                name: Some("setpoint".into()),
                value: Some(MetricValue::IntValue(3)),
                ..Metric::default()
            }],
        );
        let c = decode_command(&bytes).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name.as_deref(), Some("setpoint"));
        assert!(decode_command(&[0xff, 0xff, 0xff]).is_err());
        let many = encode(1, None, vec![Metric::default(); MAX_COMMAND_METRICS + 1]);
        assert!(matches!(
            decode_command(&many),
            Err(CommandError::TooMany(_))
        ));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<u16>().prop_map(Value::U16),
            any::<i16>().prop_map(Value::I16),
            any::<u32>().prop_map(Value::U32),
            any::<i32>().prop_map(Value::I32),
            any::<u64>().prop_map(Value::U64),
            any::<i64>().prop_map(Value::I64),
            any::<f32>()
                .prop_filter("not NaN", |f| !f.is_nan())
                .prop_map(Value::F32),
            any::<f64>()
                .prop_filter("not NaN", |f| !f.is_nan())
                .prop_map(Value::F64),
            ".{0,8}".prop_map(Value::String),
        ]
    }

    fn type_of(v: &Value) -> DataType {
        match v {
            Value::Bool(_) => DataType::Bool,
            Value::U16(_) => DataType::U16,
            Value::I16(_) => DataType::I16,
            Value::U32(_) => DataType::U32,
            Value::I32(_) => DataType::I32,
            Value::U64(_) => DataType::U64,
            Value::I64(_) => DataType::I64,
            Value::F32(_) => DataType::F32,
            Value::F64(_) => DataType::F64,
            Value::String(_) => DataType::String,
        }
    }

    proptest! {
        /// What a host reads from a birth it can write back unchanged.
        #[test]
        fn every_value_round_trips_through_its_metric_field(v in any_value()) {
            prop_assert_eq!(value_for(type_of(&v), &metric_value(&v)), Some(v));
        }

        /// No command payload makes the decoder or the conversion panic.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(metrics) = decode_command(&bytes) {
                for m in metrics {
                    if let Some(v) = m.value {
                        for (_, t) in DataType::NAMES {
                            let _ = value_for(*t, &v);
                        }
                    }
                }
            }
        }
    }
}
