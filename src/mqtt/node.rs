//! The edge node's sessions: connect with the NDEATH Will, subscribe, wait
//! for the primary host if there is one, birth, then publish changes until
//! the connection ends; then again with the next bdSeq.
//!
//! Per session (Sparkplug 3.0): NCMD, DCMD (and STATE) are subscribed before
//! NBIRTH; NBIRTH has seq 0 and carries bdSeq; each polled device gets a
//! DBIRTH, followed by a DDEATH when it is down; every later message takes the
//! next seq, wrapping after 255; DDATA carries only what changed since the
//! last look at the store's change tracking; a device that goes down gets a
//! DDEATH and, when it is back, a fresh DBIRTH; `Node Control/Rebirth` births
//! everything again without reconnecting; a primary host whose STATE goes
//! offline makes the node publish NDEATH and reconnect, to birth again only
//! once the host is back.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::bd_seq::BdSeqFile;
use super::command;
use super::connection::{CONNECT_TIMEOUT, Connection, LinkEvent};
use super::payload::{
    self, Aliases, Form, STATUS_METRICS, bd_seq_metric, decode_command, epoch_ms, plain_metric,
    status_values, tag_metric,
};
use super::proto::payload::Metric;
use super::proto::payload::metric::Value as MetricValue;
use super::sparkplug::{
    CommandTarget, HostState, MessageType, REBIRTH, Seq, Topics, datatype, state_topic,
};
use crate::config::MqttConfig;
use crate::engine::Engine;
use crate::health::{Health, MqttState};
use crate::modbus::backoff::ExponentialBackoff;
use crate::tags::{ChangeCursor, DeviceId, TagId};

/// Shortest time between two rounds of DDATA: changes arriving meanwhile go
/// out together, one message per device.
const PUBLISH_PERIOD: Duration = Duration::from_millis(100);
/// How often device status and node metrics are compared with what was sent.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// A poll duration is republished when it moved by more than this fraction:
/// it changes every cycle, and each change would be a message.
const POLL_DURATION_DEADBAND: f64 = 0.1;
/// Reconnect delays.
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// How long a clean disconnect may take to flush NDEATH.
const CLOSE_TIME: Duration = Duration::from_secs(2);

/// The node's own metrics after bdSeq, in alias order (`Aliases::node`).
const NODE_METRICS: [(&str, u32); 6] = [
    (REBIRTH, datatype::BOOLEAN),
    ("Gateway/Version", datatype::STRING),
    ("Gateway/Devices", datatype::UINT32),
    ("Gateway/DevicesUp", datatype::UINT32),
    ("Gateway/Tags", datatype::UINT32),
    ("Gateway/Live", datatype::BOOLEAN),
];

/// Why a session ended.
enum Ended {
    /// Shutdown: NDEATH was published.
    Stopped,
    /// The connection failed or was closed; reconnect after a backoff.
    Lost(String),
    /// The primary host went offline: reconnect soon and wait for it.
    HostOffline,
}

/// What the node last published about one device.
#[derive(Debug, Clone, Default)]
struct DeviceView {
    /// DBIRTH published this session (and no DDEATH since).
    alive: bool,
    /// The `_Status` values last published.
    status: Option<[MetricValue; 4]>,
}

/// The edge node: settings, the engine it reads and writes, its counters.
pub(super) struct Node {
    pub(super) config: MqttConfig,
    pub(super) password: Option<String>,
    pub(super) engine: Arc<Engine>,
    pub(super) health: Arc<Health>,
    pub(super) changes: ChangeCursor,
    pub(super) topics: Topics,
    /// The bdSeq of the next connection.
    pub(super) next_bd_seq: u8,
    /// Where the next bdSeq is kept across restarts.
    pub(super) bd_seq_file: BdSeqFile,
    pub(super) pending_writes: Arc<Semaphore>,
}

/// One connection's state.
struct Session {
    conn: Connection,
    bd_seq: u8,
    seq: Seq,
    born: bool,
    devices: Vec<DeviceView>,
    node_values: Option<Vec<MetricValue>>,
    /// Timestamp of the newest STATE seen, to ignore older ones (§5.17).
    host_seen: Option<u64>,
    ids: Vec<TagId>,
}

impl Node {
    /// Connect, serve, reconnect, until `stop` turns true.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = ExponentialBackoff::saturating(
            RECONNECT_MIN,
            RECONNECT_MAX,
            u64::from(std::process::id()),
        );
        let mut last_problem: Option<String> = None;
        loop {
            let bd_seq = self.next_bd_seq;
            self.next_bd_seq = self.next_bd_seq.wrapping_add(1);
            let (file, next) = (self.bd_seq_file.clone(), self.next_bd_seq);
            match tokio::task::spawn_blocking(move || file.store(next)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot keep bdSeq for the next start; a restart will count from its last stored value");
                }
                Err(e) => tracing::warn!(error = %e, "cannot keep bdSeq for the next start"),
            }
            self.health.mqtt.set_state(MqttState::Disconnected);
            let will = payload::encode(now_ms(), None, vec![bd_seq_metric(bd_seq, now_ms())]);
            let conn = Connection::open(
                &self.config,
                self.password.as_deref(),
                &self.topics.node(MessageType::NDeath),
                will,
            );
            let ended = self.session(conn, bd_seq, &mut stop, &mut backoff).await;
            self.health.mqtt.set_state(MqttState::Disconnected);
            let delay = match ended {
                Ended::Stopped => return,
                Ended::HostOffline => {
                    tracing::warn!(host = ?self.config.primary_host_id, "primary host went offline: NDEATH published, reconnecting to wait for it");
                    RECONNECT_MIN
                }
                Ended::Lost(why) => {
                    if last_problem.as_deref() != Some(why.as_str()) {
                        tracing::warn!(broker = %self.config.broker, error = %why, "MQTT connection lost or refused; retrying");
                    }
                    self.health.mqtt.set_last_error(Some(why.clone()));
                    last_problem = Some(why);
                    backoff.next_delay()
                }
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut stop) => return,
            }
        }
    }

    /// One connection, from CONNECT to its end.
    async fn session(
        &mut self,
        conn: Connection,
        bd_seq: u8,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut ExponentialBackoff,
    ) -> Ended {
        let mut s = Session {
            conn,
            bd_seq,
            seq: Seq::default(),
            born: false,
            devices: vec![DeviceView::default(); self.engine.store().device_count()],
            node_values: None,
            host_seen: None,
            ids: Vec::new(),
        };
        // CONNECT and its ConnAck.
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, s.conn.events.recv()).await {
            Ok(Some(LinkEvent::Connected)) => {}
            Ok(Some(LinkEvent::Closed(why))) => return Ended::Lost(why),
            Ok(_) => return Ended::Lost("the connection ended before CONNACK".into()),
            Err(_) => return Ended::Lost("no CONNACK in time".into()),
        }
        backoff.reset();
        self.health.mqtt.set_last_error(None);
        tracing::info!(broker = %self.config.broker, client_id = %self.config.client_id, bd_seq, "connected to the MQTT broker");
        // Commands (and the host's STATE) are subscribed before any birth.
        let mut filters = vec![
            self.topics.node(MessageType::NCmd),
            self.topics.device_commands(),
        ];
        if let Some(host) = &self.config.primary_host_id {
            filters.push(state_topic(host));
        }
        let wanted = filters.len();
        for f in filters {
            if s.conn
                .client
                .subscribe(f, rumqttc::QoS::AtLeastOnce)
                .await
                .is_err()
            {
                return Ended::Lost("the MQTT client stopped".into());
            }
        }
        let mut granted = 0;
        while granted < wanted {
            match tokio::time::timeout(CONNECT_TIMEOUT, s.conn.events.recv()).await {
                Ok(Some(LinkEvent::Subscribed)) => granted += 1,
                Ok(Some(LinkEvent::Closed(why))) => return Ended::Lost(why),
                // Early messages (a retained STATE) are handled once subscribed.
                Ok(Some(LinkEvent::Message { topic, payload })) => {
                    if let Some(end) = self.on_message(&mut s, &topic, &payload).await {
                        return end;
                    }
                }
                Ok(Some(LinkEvent::Connected)) => {}
                Ok(None) => return Ended::Lost("the MQTT client stopped".into()),
                Err(_) => return Ended::Lost("no SUBACK in time".into()),
            }
        }
        if self.config.primary_host_id.is_none() {
            if !self.birth(&mut s).await {
                return Ended::Lost("publishing the births failed".into());
            }
        } else if !s.born {
            self.health.mqtt.set_state(MqttState::WaitingForHost);
        }
        let mut status_tick = tokio::time::interval(STATUS_PERIOD);
        let mut next_round = Instant::now();
        loop {
            tokio::select! {
                () = stopped(stop) => {
                    self.publish_ndeath(&s).await;
                    s.conn.close(CLOSE_TIME).await;
                    tracing::info!("MQTT session closed: NDEATH published");
                    return Ended::Stopped;
                }
                event = s.conn.events.recv() => match event {
                    Some(LinkEvent::Message { topic, payload }) => {
                        if let Some(end) = self.on_message(&mut s, &topic, &payload).await {
                            return end;
                        }
                    }
                    Some(LinkEvent::Closed(why)) => return Ended::Lost(why),
                    Some(_) => {}
                    None => return Ended::Lost("the MQTT client stopped".into()),
                },
                () = async {
                    tokio::time::sleep_until(next_round).await;
                    self.changes.changed().await;
                }, if s.born => {
                    if !self.publish_changes(&mut s).await {
                        return Ended::Lost("publishing DDATA failed".into());
                    }
                    next_round = Instant::now() + PUBLISH_PERIOD;
                }
                _ = status_tick.tick(), if s.born => {
                    if !self.publish_status(&mut s).await {
                        return Ended::Lost("publishing device status failed".into());
                    }
                }
            }
        }
    }

    /// A message on one of our subscriptions; `Some` ends the session.
    async fn on_message(&self, s: &mut Session, topic: &str, payload: &[u8]) -> Option<Ended> {
        if let Some(host) = &self.config.primary_host_id
            && topic == state_topic(host)
        {
            let Some(state) = HostState::parse(payload) else {
                tracing::warn!(host = %host, "ignoring a STATE message that is not Sparkplug 3.0 JSON");
                return None;
            };
            if s.host_seen.is_some_and(|seen| state.timestamp < seen) {
                return None;
            }
            s.host_seen = Some(state.timestamp);
            if state.online && !s.born {
                tracing::info!(host = %host, "primary host is online: birth");
                if !self.birth(s).await {
                    return Some(Ended::Lost("publishing the births failed".into()));
                }
            } else if !state.online && s.born {
                self.publish_ndeath(s).await;
                return Some(Ended::HostOffline);
            }
            return None;
        }
        match self.topics.command_target(topic) {
            Some(CommandTarget::Node) => {
                self.health
                    .mqtt
                    .count_message(MessageType::NCmd.index(), payload.len());
                let rebirth = decode_command(payload).is_ok_and(|metrics| {
                    metrics.iter().any(|m| {
                        m.name.as_deref() == Some(REBIRTH)
                            && m.value == Some(MetricValue::BooleanValue(true))
                    })
                });
                if rebirth && s.born {
                    tracing::info!("rebirth asked for by NCMD");
                    if !self.birth(s).await {
                        return Some(Ended::Lost("publishing the births failed".into()));
                    }
                }
            }
            Some(CommandTarget::Device(name)) => {
                self.health
                    .mqtt
                    .count_message(MessageType::DCmd.index(), payload.len());
                self.on_device_command(name, payload);
            }
            None => tracing::debug!(topic, "ignoring a message on an unexpected topic"),
        }
        None
    }

    /// A DCMD: check every metric, write the ones that pass.
    fn on_device_command(&self, device_name: &str, payload: &[u8]) {
        let store = self.engine.store();
        let Some(device) = store
            .devices()
            .find(|d| store.device_name(*d) == device_name)
        else {
            tracing::warn!(device = %device_name, "DCMD for a device this node does not have");
            return;
        };
        match decode_command(payload) {
            Ok(metrics) => {
                let checked = command::check(store, device, metrics, self.config.writes);
                command::run(
                    checked,
                    device_name,
                    &self.engine,
                    &self.health,
                    &self.pending_writes,
                );
            }
            Err(e) => {
                tracing::warn!(device = %device_name, error = %e, "DCMD refused");
                self.health
                    .mqtt
                    .count_write(crate::health::WriteOutcome::Refused);
            }
        }
    }

    async fn publish(
        &self,
        s: &mut Session,
        kind: MessageType,
        device: Option<&str>,
        metrics: Vec<Metric>,
    ) -> bool {
        let seq = kind.has_seq().then(|| s.seq.take());
        let bytes = payload::encode(now_ms(), seq, metrics);
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

    /// NDEATH before a clean disconnect: the broker sends the Will only when
    /// a connection is lost, not when it is closed.
    async fn publish_ndeath(&self, s: &Session) {
        let bytes = payload::encode(now_ms(), None, vec![bd_seq_metric(s.bd_seq, now_ms())]);
        let len = bytes.len();
        if s.conn
            .publish(
                self.topics.node(MessageType::NDeath),
                MessageType::NDeath.qos_level(),
                bytes,
            )
            .await
        {
            self.health
                .mqtt
                .count_message(MessageType::NDeath.index(), len);
        }
    }

    fn aliases(&self) -> Aliases {
        let store = self.engine.store();
        Aliases {
            tags: store.len(),
            devices: store.device_count(),
        }
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
            count(store.len()),
            MetricValue::BooleanValue(self.health.liveness().is_ok()),
        ]
    }

    /// NBIRTH and every DBIRTH (a DDEATH after each device that is down).
    async fn birth(&self, s: &mut Session) -> bool {
        let now = now_ms();
        s.seq.reset();
        // The births carry every current value: what changed before is in them.
        s.ids.clear();
        self.changes.drain(&mut s.ids);
        let aliases = self.aliases();
        let values = self.node_values();
        let mut metrics = vec![bd_seq_metric(s.bd_seq, now)];
        for (k, ((name, dt), v)) in NODE_METRICS.iter().zip(&values).enumerate() {
            metrics.push(plain_metric(
                name,
                aliases.node(k),
                *dt,
                v.clone(),
                Form::Birth,
                now,
            ));
        }
        s.node_values = Some(values);
        if !self.publish(s, MessageType::NBirth, None, metrics).await {
            return false;
        }
        let store = self.engine.store().clone();
        for device in store.devices() {
            if !store.device_meta(device).is_some_and(|m| m.polled) {
                continue;
            }
            if !self.device_birth(s, device).await {
                return false;
            }
            if is_down(&store, device) && !self.device_death(s, device).await {
                return false;
            }
        }
        s.born = true;
        self.health.mqtt.set_state(MqttState::Online);
        true
    }

    async fn device_birth(&self, s: &mut Session, device: DeviceId) -> bool {
        let store = self.engine.store().clone();
        let (now, aliases) = (now_ms(), self.aliases());
        let at = Instant::now();
        let mut metrics: Vec<Metric> = store
            .device_tags(device)
            .filter_map(|id| {
                let meta = store.meta(id)?;
                let snap = store.snapshot_at(id, at)?;
                Some(tag_metric(meta, id.index() as u64, &snap, Form::Birth, now))
            })
            .collect();
        let status = status_values(&store.device_status(device).unwrap_or_default());
        for (k, ((name, dt), v)) in STATUS_METRICS.iter().zip(status.iter()).enumerate() {
            metrics.push(plain_metric(
                name,
                aliases.status(device.index(), k),
                *dt,
                v.clone(),
                Form::Birth,
                now,
            ));
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
        true
    }

    async fn device_death(&self, s: &mut Session, device: DeviceId) -> bool {
        let name = self.engine.store().device_name(device).to_owned();
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

    /// DDATA for the tags that changed, one message per live device.
    async fn publish_changes(&self, s: &mut Session) -> bool {
        let store = self.engine.store().clone();
        s.ids.clear();
        self.changes.drain(&mut s.ids);
        let (now, at) = (now_ms(), Instant::now());
        let ids = std::mem::take(&mut s.ids);
        // Ids come in order and a device's tags are contiguous: one run each.
        let mut start = 0;
        let mut ok = true;
        while let Some(first) = ids.get(start).and_then(|id| store.meta(*id)) {
            let device = first.device;
            let end = ids
                .get(start..)
                .unwrap_or_default()
                .iter()
                .position(|id| store.meta(*id).is_none_or(|m| m.device != device))
                .map_or(ids.len(), |n| start + n);
            let alive = s.devices.get(device.index()).is_some_and(|v| v.alive);
            if alive {
                let metrics: Vec<Metric> = ids
                    .get(start..end)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|id| {
                        let snap = store.snapshot_at(*id, at)?;
                        Some(tag_metric(
                            store.meta(*id)?,
                            id.index() as u64,
                            &snap,
                            Form::Data,
                            now,
                        ))
                    })
                    .collect();
                let name = store.device_name(device).to_owned();
                if ok && !metrics.is_empty() {
                    ok = self
                        .publish(s, MessageType::DData, Some(&name), metrics)
                        .await;
                }
            }
            start = end;
        }
        s.ids = ids;
        ok
    }

    /// Device deaths and rebirths, changed `_Status` values, changed node metrics.
    async fn publish_status(&self, s: &mut Session) -> bool {
        let store = self.engine.store().clone();
        let (now, aliases) = (now_ms(), self.aliases());
        for device in store.devices() {
            if !store.device_meta(device).is_some_and(|m| m.polled) {
                continue;
            }
            let alive = s.devices.get(device.index()).is_some_and(|v| v.alive);
            let down = is_down(&store, device);
            if alive && down {
                if !self.device_death(s, device).await {
                    return false;
                }
                continue;
            }
            if !alive && !down {
                if !self.device_birth(s, device).await {
                    return false;
                }
                continue;
            }
            if !alive {
                continue;
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
                    Some(plain_metric(
                        name,
                        aliases.status(device.index(), k),
                        *dt,
                        v.clone(),
                        Form::Data,
                        now,
                    ))
                })
                .collect();
            if metrics.is_empty() {
                continue;
            }
            let name = store.device_name(device).to_owned();
            if !self
                .publish(s, MessageType::DData, Some(&name), metrics)
                .await
            {
                return false;
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
                    aliases.node(k),
                    *dt,
                    v.clone(),
                    Form::Data,
                    now,
                ))
            })
            .collect();
        if !changed.is_empty() {
            if !self.publish(s, MessageType::NData, None, changed).await {
                return false;
            }
            s.node_values = Some(values);
        }
        true
    }
}

/// A device that was polled and did not answer its last cycle.
fn is_down(store: &crate::tags::TagStore, device: DeviceId) -> bool {
    store
        .device_status(device)
        .is_some_and(|s| !s.connected && s.last_cycle.is_some())
}

/// Whether `_Status` metric `k` moved enough to publish.
fn status_changed(k: usize, old: &MetricValue, new: &MetricValue) -> bool {
    match (k, old, new) {
        (2, MetricValue::DoubleValue(a), MetricValue::DoubleValue(b)) => {
            (a - b).abs() > a.abs().max(1.0) * POLL_DURATION_DEADBAND
        }
        _ => old != new,
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard wait_for returns must not live across the caller's awaits.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}
