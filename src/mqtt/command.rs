//! DCMD: which metrics of a command may become writes, and the writes
//! themselves through the engine (the one write path every face shares).
//!
//! A metric becomes a write only when `[mqtt] writes` is on, it names a tag
//! of the addressed device (by name or alias), the tag is writable and the
//! value fits the tag's type; everything else is refused here and never
//! reaches a device. A DCMD has no caller waiting for an answer, so its
//! deadline is fixed (`DCMD_WRITE_TIME`): a write the bus could not start by
//! then is dropped rather than applied late.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::payload::{CommandMetric, value_for};
use crate::engine::Engine;
use crate::health::{Health, WriteOutcome};
use crate::tags::{DeviceId, TagId, TagStore, Value};

/// How long after its arrival a DCMD write may still be sent to a device.
pub const DCMD_WRITE_TIME: Duration = Duration::from_secs(10);
/// DCMD writes waiting for their bus at once; more are refused, so a host
/// that floods commands cannot queue unbounded work.
pub const MAX_PENDING_WRITES: usize = 64;

/// Why a command metric was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    #[error("writes over MQTT are disabled ([mqtt] writes = false)")]
    WritesDisabled,
    #[error("no such tag on this device")]
    UnknownTag,
    #[error("the tag is not writable")]
    NotWritable,
    #[error("the value is missing, of another type than {0}, or out of its range")]
    BadValue(&'static str),
    #[error("more than {MAX_PENDING_WRITES} writes are pending")]
    Busy,
}

/// One metric of a command, checked: a write to make, or why not.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checked {
    /// What the host called it (name, or `alias N`), for the log.
    pub(super) metric: String,
    pub(super) decision: Result<(TagId, Value), Refusal>,
}

/// Check every metric of a DCMD to `device`. Pure but for reading metas.
pub(super) fn check(
    store: &TagStore,
    device: DeviceId,
    metrics: Vec<CommandMetric>,
    writes_enabled: bool,
) -> Vec<Checked> {
    metrics
        .into_iter()
        .map(|m| {
            let metric = match (&m.name, m.alias) {
                (Some(n), _) => n.clone(),
                (None, Some(a)) => format!("alias {a}"),
                (None, None) => "(unnamed)".to_owned(),
            };
            let decision = decide(store, device, &m, writes_enabled);
            Checked { metric, decision }
        })
        .collect()
}

fn decide(
    store: &TagStore,
    device: DeviceId,
    m: &CommandMetric,
    writes_enabled: bool,
) -> Result<(TagId, Value), Refusal> {
    if !writes_enabled {
        return Err(Refusal::WritesDisabled);
    }
    let id = match (&m.name, m.alias) {
        (Some(name), _) => store.find_in(device, name),
        (None, Some(alias)) => usize::try_from(alias)
            .ok()
            .map(TagId::new)
            .filter(|id| store.meta(*id).is_some_and(|meta| meta.device == device)),
        (None, None) => None,
    }
    .ok_or(Refusal::UnknownTag)?;
    let meta = store.meta(id).ok_or(Refusal::UnknownTag)?;
    if !meta.writable {
        return Err(Refusal::NotWritable);
    }
    let value = m
        .value
        .as_ref()
        .and_then(|v| value_for(meta.data_type, v))
        .ok_or(Refusal::BadValue(meta.data_type.as_str()))?;
    Ok((id, value))
}

/// Carry out the checked metrics of one DCMD: refusals are logged and
/// counted at once; writes go to the engine in the background (the edge node
/// keeps serving while a device answers), each logged and counted when done.
pub(super) fn run(
    checked: Vec<Checked>,
    device_name: &str,
    engine: &Arc<Engine>,
    health: &Arc<Health>,
    pending: &Arc<Semaphore>,
) {
    let deadline = Instant::now() + DCMD_WRITE_TIME;
    for c in checked {
        let decision = c.decision.and_then(|(id, value)| {
            pending
                .clone()
                .try_acquire_owned()
                .map(|permit| (id, value, permit))
                .map_err(|_| Refusal::Busy)
        });
        let (id, value, permit) = match decision {
            Ok(w) => w,
            Err(why) => {
                tracing::warn!(device = %device_name, tag = %c.metric, reason = %why, "DCMD write refused");
                health.mqtt.count_write(WriteOutcome::Refused);
                continue;
            }
        };
        let (engine, health) = (engine.clone(), health.clone());
        let (device, tag) = (device_name.to_owned(), c.metric);
        tokio::spawn(async move {
            let _permit = permit;
            match engine.write_id(id, value.clone(), deadline).await {
                Ok(written) => {
                    tracing::info!(device = %device, tag = %tag, value = %written, "DCMD write done");
                    health.mqtt.count_write(WriteOutcome::Written);
                }
                Err(e) => {
                    tracing::warn!(device = %device, tag = %tag, value = %value, error = %e, "DCMD write failed");
                    health.mqtt.count_write(WriteOutcome::Failed);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::proto::payload::metric::Value as MetricValue;
    use crate::tags::{DataType, DeviceMeta, TagMeta};

    fn store() -> TagStore {
        let device = |name: &str| DeviceMeta {
            name: name.into(),
            polled: true,
            poll: Duration::from_secs(1),
            stale_after: Duration::from_secs(3),
            bus: "tcp://127.0.0.1:502".into(),
        };
        let tag = |d: usize, name: &str, writable: bool| TagMeta {
            device: DeviceId::new(d),
            name: name.into(),
            data_type: DataType::U16,
            unit: None,
            description: None,
            writable,
            deadband: None,
        };
        TagStore::new(
            vec![device("a"), device("b")],
            vec![
                tag(0, "setpoint", true),
                tag(0, "reading", false),
                tag(1, "setpoint", true),
            ],
        )
    }

    fn metric(name: Option<&str>, alias: Option<u64>, v: Option<u32>) -> CommandMetric {
        CommandMetric {
            name: name.map(str::to_owned),
            alias,
            value: v.map(MetricValue::IntValue),
        }
    }

    fn decisions(enabled: bool, m: Vec<CommandMetric>) -> Vec<Result<(TagId, Value), Refusal>> {
        check(&store(), DeviceId::new(0), m, enabled)
            .into_iter()
            .map(|c| c.decision)
            .collect()
    }

    #[test]
    fn a_writable_tag_by_name_or_alias_becomes_a_write() {
        assert_eq!(
            decisions(
                true,
                vec![
                    metric(Some("setpoint"), None, Some(7)),
                    metric(None, Some(0), Some(8))
                ]
            ),
            vec![
                Ok((TagId::new(0), Value::U16(7))),
                Ok((TagId::new(0), Value::U16(8)))
            ]
        );
    }

    #[test]
    fn nothing_is_written_with_writes_disabled() {
        assert_eq!(
            decisions(false, vec![metric(Some("setpoint"), None, Some(7))]),
            vec![Err(Refusal::WritesDisabled)]
        );
    }

    #[test]
    fn read_only_unknown_other_devices_and_bad_values_are_refused() {
        assert_eq!(
            decisions(
                true,
                vec![
                    metric(Some("reading"), None, Some(1)),
                    metric(Some("nope"), None, Some(1)),
                    // alias 2 is device b's tag: not this device's.
                    metric(None, Some(2), Some(1)),
                    metric(None, Some(u64::MAX), Some(1)),
                    metric(Some("setpoint"), None, Some(70_000)),
                    metric(Some("setpoint"), None, None),
                    metric(None, None, Some(1)),
                ]
            ),
            vec![
                Err(Refusal::NotWritable),
                Err(Refusal::UnknownTag),
                Err(Refusal::UnknownTag),
                Err(Refusal::UnknownTag),
                Err(Refusal::BadValue("u16")),
                Err(Refusal::BadValue("u16")),
                Err(Refusal::UnknownTag),
            ]
        );
    }
}
