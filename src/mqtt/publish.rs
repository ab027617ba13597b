//! What the edge node publishes, and what it records while it cannot.
//!
//! - A birth: NBIRTH (seq 0, bdSeq, `Node Control/Rebirth`, `Gateway/…`),
//!   then a DBIRTH per polled device with every tag and its `_Status`, and a
//!   DDEATH right after it for a device that is down.
//! - A round, while born: DDATA with the tags that changed since the last
//!   round (one message per live device), then some of the store-and-forward
//!   log (`history`).
//! - A round, while not born: the changed tags go to the log (`history`).
//! - Once a second, while born: DDEATH for a device that went down, DBIRTH
//!   for one that came back, DDATA for changed `_Status` values, NDATA for
//!   changed node metrics.
//!
//! Every message but NDEATH takes the next seq, wrapping after 255.

use super::node::{DeviceView, Ended, Node, Phase, Session, now_ms};
use super::payload::{
    self, Form, STATUS_METRICS, bd_seq_metric, node_alias, plain_metric, status_alias,
    status_values, tag_metric,
};
use super::proto::payload::Metric;
use super::proto::payload::metric::Value as MetricValue;
use super::sparkplug::{MessageType, REBIRTH, datatype};
use crate::health::MqttState;
use crate::tags::{BadCause, DeviceId, Quality, TagId, TagStore};

/// A poll duration is republished when it moved by more than this fraction:
/// it changes every cycle, and each change would be a message.
const POLL_DURATION_DEADBAND: f64 = 0.1;
/// ... and by more than this many milliseconds, so sub-millisecond jitter
/// of a fast device is not news either.
const POLL_DURATION_FLOOR_MS: f64 = 1.0;
/// Index of `_Status/PollDuration` in `STATUS_METRICS`.
const POLL_DURATION: usize = 2;

/// The node's own metrics after bdSeq, in alias order (`node_alias`).
const NODE_METRICS: [(&str, u32); 6] = [
    (REBIRTH, datatype::BOOLEAN),
    ("Gateway/Version", datatype::STRING),
    ("Gateway/Devices", datatype::UINT32),
    ("Gateway/DevicesUp", datatype::UINT32),
    ("Gateway/Tags", datatype::UINT32),
    ("Gateway/Live", datatype::BOOLEAN),
];

pub(super) fn lost(what: &str) -> Ended {
    Ended::Lost(format!("publishing {what} failed"))
}

impl Node {
    async fn publish(
        &self,
        s: &mut Session,
        kind: MessageType,
        device: Option<&str>,
        metrics: Vec<Metric>,
    ) -> bool {
        let seq = kind.has_seq().then(|| s.seq.take());
        let bytes = payload::encode(now_ms(), seq, metrics);
        self.send(s, kind, device, bytes).await
    }

    pub(super) async fn send(
        &self,
        s: &Session,
        kind: MessageType,
        device: Option<&str>,
        bytes: Vec<u8>,
    ) -> bool {
        let topic = match device {
            Some(d) => self.topics.device(kind, d),
            None => self.topics.node(kind),
        };
        let len = bytes.len();
        let ok = s.conn.publish(topic, kind.qos_level(), bytes).await;
        if ok {
            self.health.mqtt.count_message(kind.index(), len);
        }
        ok
    }

    /// DDATA of one device; `Some` ends the session.
    async fn device_data(
        &self,
        s: &mut Session,
        device: DeviceId,
        metrics: Vec<Metric>,
    ) -> Option<Ended> {
        let store = self.engine.store().clone();
        let name = store.device_name(device);
        let bytes = payload::encode(now_ms(), Some(s.seq.take()), metrics);
        s.recent.push(device, &bytes);
        let sent = self.send(s, MessageType::DData, Some(name), bytes).await;
        (!sent).then(|| lost("DDATA"))
    }

    /// NDEATH before a clean disconnect: the broker sends the Will only when
    /// a connection is lost, not when it is closed.
    pub(super) async fn publish_ndeath(&self, s: &Session) {
        let bytes = payload::encode(now_ms(), None, vec![bd_seq_metric(s.bd_seq, now_ms())]);
        self.send(s, MessageType::NDeath, None, bytes).await;
    }

    fn node_values(&self) -> Vec<MetricValue> {
        let store = self.engine.store();
        let (up, total) = crate::http::devices_up(store);
        let count = |n: usize| MetricValue::IntValue(u32::try_from(n).unwrap_or(u32::MAX));
        vec![
            MetricValue::BooleanValue(false),
            MetricValue::StringValue(env!("CARGO_PKG_VERSION").to_owned()),
            count(total),
            count(up),
            count(store.tags().count()),
            MetricValue::BooleanValue(self.health.liveness().is_ok()),
        ]
    }

    /// NBIRTH and every DBIRTH (a DDEATH after each device that is down).
    pub(super) async fn birth(&mut self, s: &mut Session) -> Option<Ended> {
        let now = now_ms();
        if s.phase == Phase::Born {
            // A rebirth: what changed since the last round is in the births.
            self.drain_changes();
        } else {
            // The first birth after an outage: the last changes of the
            // outage go to the log with the rest of it.
            self.record_round();
        }
        s.seq.reset();
        let store = self.engine.store().clone();
        s.born_shape = store.shape();
        s.devices
            .resize(store.device_count(), DeviceView::default());
        let values = self.node_values();
        let mut metrics = vec![bd_seq_metric(s.bd_seq, now)];
        for (k, ((name, dt), v)) in NODE_METRICS.iter().zip(&values).enumerate() {
            metrics.push(plain_metric(
                name,
                node_alias(k),
                *dt,
                v.clone(),
                Form::Birth,
                now,
            ));
        }
        s.node_values = Some(values);
        if !self.publish(s, MessageType::NBirth, None, metrics).await {
            return Some(lost("NBIRTH"));
        }
        for device in store.devices() {
            if !store.device_meta(device).is_some_and(|m| m.polled) {
                continue;
            }
            if !self.device_birth(s, device).await {
                return Some(lost("DBIRTH"));
            }
            if is_down(&store, device) && !self.device_death(s, device).await {
                return Some(lost("DDEATH"));
            }
        }
        s.phase = Phase::Born;
        self.health.mqtt.set_state(MqttState::Online);
        None
    }

    async fn device_birth(&self, s: &mut Session, device: DeviceId) -> bool {
        let store = self.engine.store().clone();
        let now = now_ms();
        let at = tokio::time::Instant::now();
        let mut metrics: Vec<Metric> = store
            .device_tags(device)
            .filter_map(|id| {
                let snap = store.snapshot_at(id, at)?;
                Some(tag_metric(
                    store.meta(id)?,
                    id.index() as u64,
                    &snap,
                    Form::Birth,
                    now,
                ))
            })
            .collect();
        let status = status_values(&store.device_status(device).unwrap_or_default());
        for (k, ((name, dt), v)) in STATUS_METRICS.iter().zip(status.iter()).enumerate() {
            let alias = status_alias(device.index(), k);
            metrics.push(plain_metric(name, alias, *dt, v.clone(), Form::Birth, now));
        }
        let name = store.device_name(device).to_owned();
        if !self
            .publish(s, MessageType::DBirth, Some(&name), metrics)
            .await
        {
            return false;
        }
        if let Some(v) = s.devices.get_mut(device.index()) {
            *v = DeviceView {
                alive: true,
                status: Some(status),
            };
        }
        // Records held for it can go now.
        s.replay_after = None;
        true
    }

    async fn device_death(&self, s: &mut Session, device: DeviceId) -> bool {
        // A device a reload removed is named too: its DDEATH says it is gone.
        let name = self
            .engine
            .store()
            .device_name_even_removed(device)
            .to_owned();
        if !self
            .publish(s, MessageType::DDeath, Some(&name), Vec::new())
            .await
        {
            return false;
        }
        if let Some(v) = s.devices.get_mut(device.index()) {
            v.alive = false;
        }
        true
    }

    /// Drain the tags changed since the last round into `self.ids`, in id
    /// order, and return them as one run per device (a device's tags are
    /// contiguous), so that each device's message is built, sent and freed
    /// before the next: a round of 100k changes never holds them all as
    /// metrics at once.
    pub(super) fn drain_changes(&mut self) -> Vec<(DeviceId, std::ops::Range<usize>)> {
        self.ids.clear();
        if !self.changes.has_changes() {
            return Vec::new();
        }
        self.changes.drain(&mut self.ids);
        let store = self.engine.store();
        let mut runs: Vec<(DeviceId, std::ops::Range<usize>)> = Vec::new();
        for (i, id) in self.ids.iter().enumerate() {
            let Some(device) = store.meta(*id).map(|m| m.device) else {
                continue;
            };
            match runs.last_mut() {
                Some((d, r)) if *d == device => r.end = i + 1,
                _ => runs.push((device, i..i + 1)),
            }
        }
        runs
    }

    /// The metrics of the changed tags `ids`, in `form`.
    pub(super) fn metrics_of(&self, ids: &[TagId], form: Form) -> Vec<Metric> {
        let store = self.engine.store();
        let (now, at) = (now_ms(), tokio::time::Instant::now());
        ids.iter()
            .filter_map(|id| {
                let (meta, snap) = (store.meta(*id)?, store.snapshot_at(*id, at)?);
                // A tag never polled says nothing worth keeping in history.
                let unpolled = snap.quality == Quality::Bad(BadCause::Waiting);
                (form != Form::Historical || !unpolled)
                    .then(|| tag_metric(meta, id.index() as u64, &snap, form, now))
            })
            .collect()
    }

    /// After a reload added or removed devices: a DDEATH for each device
    /// born this session that is gone (a changed device included), and a
    /// DBIRTH for each new one; the others, and the node, are not
    /// re-announced (aliases do not move). The node's device and tag
    /// counts follow as NDATA at the next status tick.
    async fn follow_reload(&mut self, s: &mut Session) -> Option<Ended> {
        let store = self.engine.store().clone();
        s.born_shape = store.shape();
        let gone: Vec<DeviceId> = s
            .devices
            .iter()
            .enumerate()
            .filter(|(i, v)| v.alive && store.device_meta(DeviceId::new(*i)).is_none())
            .map(|(i, _)| DeviceId::new(i))
            .collect();
        for device in &gone {
            if !self.device_death(s, *device).await {
                return Some(lost("DDEATH"));
            }
        }
        let known = s.devices.len();
        s.devices
            .resize(store.device_count(), DeviceView::default());
        let mut born = 0;
        for device in store.devices().filter(|d| d.index() >= known) {
            if !store.device_meta(device).is_some_and(|m| m.polled) {
                continue;
            }
            if !self.device_birth(s, device).await {
                return Some(lost("DBIRTH"));
            }
            born += 1;
            if is_down(&store, device) && !self.device_death(s, device).await {
                return Some(lost("DDEATH"));
            }
        }
        tracing::info!(
            devices_gone = gone.len(),
            devices_born = born,
            "reload: Sparkplug DDEATH and DBIRTH for the devices it changed"
        );
        None
    }

    /// A round while born: live DDATA, then some of the backlog.
    pub(super) async fn publish_round(&mut self, s: &mut Session) -> Option<Ended> {
        if self.engine.store().shape() != s.born_shape {
            return self.follow_reload(s).await;
        }
        let runs = self.drain_changes();
        let ids = std::mem::take(&mut self.ids);
        let mut ended = None;
        for (device, range) in runs {
            // A device that is down gets no DDATA until its next DBIRTH.
            if !s.devices.get(device.index()).is_some_and(|v| v.alive) {
                continue;
            }
            let metrics = self.metrics_of(ids.get(range).unwrap_or_default(), Form::Data);
            if let Some(end) = self.device_data(s, device, metrics).await {
                ended = Some(end);
                break;
            }
        }
        self.ids = ids;
        if ended.is_some() {
            return ended;
        }
        self.replay(s).await
    }

    /// Device deaths and rebirths, changed `_Status` values, changed node metrics.
    pub(super) async fn publish_status(&mut self, s: &mut Session) -> Option<Ended> {
        if self.engine.store().shape() != s.born_shape {
            return self.follow_reload(s).await;
        }
        let store = self.engine.store().clone();
        let now = now_ms();
        for device in store.devices() {
            if !store.device_meta(device).is_some_and(|m| m.polled) {
                continue;
            }
            let alive = s.devices.get(device.index()).is_some_and(|v| v.alive);
            match (alive, is_down(&store, device)) {
                (true, true) => {
                    if !self.device_death(s, device).await {
                        return Some(lost("DDEATH"));
                    }
                    continue;
                }
                (false, false) => {
                    if !self.device_birth(s, device).await {
                        return Some(lost("DBIRTH"));
                    }
                    continue;
                }
                (false, true) => continue,
                (true, false) => {}
            }
            let current = status_values(&store.device_status(device).unwrap_or_default());
            let previous = s.devices.get(device.index()).and_then(|v| v.status.clone());
            let metrics: Vec<Metric> = current
                .iter()
                .enumerate()
                .filter(|(k, v)| {
                    previous
                        .as_ref()
                        .and_then(|p| p.get(*k))
                        .is_none_or(|old| status_changed(*k, old, v))
                })
                .filter_map(|(k, v)| {
                    let (name, dt) = STATUS_METRICS.get(k)?;
                    let alias = status_alias(device.index(), k);
                    Some(plain_metric(name, alias, *dt, v.clone(), Form::Data, now))
                })
                .collect();
            if metrics.is_empty() {
                continue;
            }
            if let Some(end) = self.device_data(s, device, metrics).await {
                return Some(end);
            }
            if let Some(v) = s.devices.get_mut(device.index()) {
                v.status = Some(current);
            }
        }
        let values = self.node_values();
        let changed: Vec<Metric> = values
            .iter()
            .enumerate()
            .filter(|(k, v)| s.node_values.as_ref().and_then(|p| p.get(*k)) != Some(*v))
            .filter_map(|(k, v)| {
                let (name, dt) = NODE_METRICS.get(k)?;
                Some(plain_metric(
                    name,
                    node_alias(k),
                    *dt,
                    v.clone(),
                    Form::Data,
                    now,
                ))
            })
            .collect();
        if !changed.is_empty() {
            if !self.publish(s, MessageType::NData, None, changed).await {
                return Some(lost("NDATA"));
            }
            s.node_values = Some(values);
        }
        None
    }
}

/// A device that was polled and did not answer its last cycle.
fn is_down(store: &TagStore, device: DeviceId) -> bool {
    store
        .device_status(device)
        .is_some_and(|s| !s.connected && s.last_cycle.is_some())
}

/// Whether `_Status` metric `k` moved enough to publish.
fn status_changed(k: usize, old: &MetricValue, new: &MetricValue) -> bool {
    match (k, old, new) {
        (POLL_DURATION, MetricValue::DoubleValue(a), MetricValue::DoubleValue(b)) => {
            (a - b).abs() > (a.abs() * POLL_DURATION_DEADBAND).max(POLL_DURATION_FLOOR_MS)
        }
        _ => old != new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_duration_is_republished_only_beyond_its_deadband() {
        let d = |ms| MetricValue::DoubleValue(ms);
        assert!(!status_changed(POLL_DURATION, &d(100.0), &d(105.0)));
        assert!(status_changed(POLL_DURATION, &d(100.0), &d(120.0)));
        assert!(
            !status_changed(POLL_DURATION, &d(0.2), &d(0.9)),
            "sub-ms jitter"
        );
        let c = MetricValue::BooleanValue;
        assert!(status_changed(0, &c(true), &c(false)));
        assert_eq!(STATUS_METRICS[POLL_DURATION].0, "_Status/PollDuration");
    }
}
