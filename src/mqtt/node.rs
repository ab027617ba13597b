//! The edge node's loop: one task that connects, subscribes, waits for the
//! primary host, births, publishes, records to the store-and-forward log while
//! it cannot publish, replays the log once it can, and reconnects with the
//! next bdSeq when a connection ends.
//!
//! Everything happens in one `select!` over the connection's events, a round
//! timer and a status timer, so the log records changes at the same pace
//! whatever the connection is doing (connecting, backing off, waiting for the
//! host). Per session (Sparkplug 3.0): NCMD, DCMD (and STATE) are subscribed
//! before NBIRTH; the rules of what is published are in `publish`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::bd_seq::BdSeqFile;
use super::buffer::{Log, Mark};
use super::command;
use super::connection::{CONNECT_TIMEOUT, Connection, LinkEvent};
use super::history::Recent;
use super::payload::{self, bd_seq_metric, decode_command, epoch_ms};
use super::proto::payload::metric::Value as MetricValue;
use super::sparkplug::{CommandTarget, HostState, MessageType, REBIRTH, Seq, Topics, state_topic};
use crate::config::MqttConfig;
use crate::engine::Engine;
use crate::health::{Health, MqttState, WriteOutcome};
use crate::modbus::backoff::ExponentialBackoff;
use crate::tags::{ChangeCursor, TagId};

/// A round: changes are published (or recorded) once per round, so changes
/// arriving meanwhile go out together, one message per device.
pub(super) const ROUND: Duration = Duration::from_millis(100);
/// How often device status and node metrics are compared with what was
/// sent, the log is synced to disk and replayed records are confirmed.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// Reconnect delays.
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// How long a clean disconnect may take to flush NDEATH.
const CLOSE_TIME: Duration = Duration::from_secs(2);

/// Why a session ended.
pub(super) enum Ended {
    /// The connection failed or was closed; reconnect after a backoff.
    Lost(String),
    /// The primary host went offline: reconnect soon and wait for it.
    HostOffline,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// CONNECT sent, no CONNACK yet.
    Connecting,
    /// SUBSCRIBEs sent, this many SUBACKs to come.
    Subscribing(usize),
    /// Subscribed; the primary host's STATE has not said online.
    WaitingForHost,
    /// NBIRTH published: data flows.
    Born,
}

/// What the node last published about one device.
#[derive(Debug, Clone, Default)]
pub(super) struct DeviceView {
    /// DBIRTH published this session (and no DDEATH since).
    pub(super) alive: bool,
    /// The `_Status` values last published.
    pub(super) status: Option<[MetricValue; 4]>,
}

/// One connection's state.
pub(super) struct Session {
    pub(super) conn: Connection,
    pub(super) bd_seq: u8,
    pub(super) seq: Seq,
    pub(super) phase: Phase,
    /// Until when the CONNACK or the SUBACKs may take.
    deadline: Instant,
    pub(super) devices: Vec<DeviceView>,
    pub(super) node_values: Option<Vec<MetricValue>>,
    /// The primary host's newest STATE: its timestamp and whether online.
    host: Option<HostState>,
    /// Replayed records read up to here are confirmed at the next status tick.
    pub(super) replay_mark: Option<Mark>,
    /// Replay pauses until then (only records of down devices were left).
    pub(super) replay_after: Option<Instant>,
    /// The live DDATA of the last second, recorded if the connection dies.
    pub(super) recent: Recent,
    /// The store's shape (`TagStore::shape`) this session last announced:
    /// a reload that changes it means DDEATHs and DBIRTHs (`follow_reload`).
    pub(super) born_shape: u64,
}

/// The edge node: settings, the engine it reads and writes, its counters.
pub(super) struct Node {
    pub(super) config: MqttConfig,
    pub(super) password: Option<String>,
    /// Set for `mqtts://`: shared by every connection.
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
    pub(super) engine: Arc<Engine>,
    pub(super) health: Arc<Health>,
    pub(super) changes: ChangeCursor,
    pub(super) topics: Topics,
    /// The bdSeq of the next connection.
    pub(super) next_bd_seq: u8,
    /// Where the next bdSeq is kept across restarts.
    pub(super) bd_seq_file: BdSeqFile,
    pub(super) pending_writes: Arc<Semaphore>,
    /// The store-and-forward log; `None` if it could not be opened.
    pub(super) log: Option<Log>,
    /// Records that could not go to or come from the log (I/O errors,
    /// replayed records of devices gone or down), added to its drops.
    pub(super) lost: u64,
    /// Whether the last log operation failed, to log one line per change.
    pub(super) log_failing: bool,
    /// Store ids drained from the change cursor, reused every round.
    pub(super) ids: Vec<TagId>,
}

impl Node {
    /// Connect, serve, record, replay and reconnect until `stop` turns true.
    pub(super) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        self.open_log().await;
        let mut backoff = ExponentialBackoff::saturating(
            RECONNECT_MIN,
            RECONNECT_MAX,
            u64::from(std::process::id()),
        );
        let mut session: Option<Session> = None;
        let mut retry_at = Some(Instant::now());
        let mut last_problem: Option<String> = None;
        let mut round = tokio::time::interval(ROUND);
        round.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut status = tokio::time::interval(STATUS_PERIOD);
        status.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut syncing: Option<JoinHandle<std::io::Result<()>>> = None;
        loop {
            let handshake = session
                .as_ref()
                .filter(|s| matches!(s.phase, Phase::Connecting | Phase::Subscribing(_)))
                .map(|s| s.deadline);
            let ended = tokio::select! {
                () = stopped(&mut stop) => {
                    self.shut_down(session.take()).await;
                    return;
                }
                () = sleep_until(retry_at), if session.is_none() => {
                    retry_at = None;
                    session = Some(self.connect().await);
                    None
                }
                event = next_event(&mut session) => match session.as_mut() {
                    Some(s) => self.on_event(s, event, &mut backoff).await,
                    None => None,
                },
                () = sleep_until(handshake), if handshake.is_some() => {
                    Some(Ended::Lost("the broker did not answer CONNECT or SUBSCRIBE in time".into()))
                }
                _ = round.tick() => {
                    if let Some(s) = session.as_mut().filter(|s| s.phase == Phase::Born) {
                        self.publish_round(s).await
                    } else {
                        self.record_round();
                        None
                    }
                }
                _ = status.tick() => {
                    let ended = match session.as_mut().filter(|s| s.phase == Phase::Born) {
                        Some(s) => self.publish_status(s).await,
                        None => None,
                    };
                    self.maintain_log(session.as_mut(), &mut syncing);
                    ended
                }
            };
            let Some(end) = ended else { continue };
            if let Some(s) = session.take()
                && matches!(end, Ended::Lost(_))
            {
                self.record_unconfirmed(s.recent);
            }
            if let Some(log) = self.log.as_mut() {
                // Replayed but not confirmed: sent again next session.
                log.rewind();
            }
            self.health.mqtt.set_state(MqttState::Disconnected);
            let delay = match end {
                Ended::HostOffline => {
                    tracing::warn!(host = ?self.config.primary_host_id, "primary host went offline: NDEATH published; recording to the buffer and waiting for it");
                    RECONNECT_MIN
                }
                Ended::Lost(why) => {
                    if last_problem.as_deref() != Some(why.as_str()) {
                        tracing::warn!(broker = %self.config.broker, error = %why, "MQTT connection lost or refused; recording to the buffer and retrying");
                    }
                    self.health.mqtt.set_last_error(Some(why.clone()));
                    last_problem = Some(why);
                    backoff.next_delay()
                }
            };
            retry_at = Some(Instant::now() + delay);
        }
    }

    /// Open the store-and-forward log (off the async threads: opening scans
    /// every segment). Without it the node still runs, and says so.
    async fn open_log(&mut self) {
        let b = self.config.buffer.clone();
        let max_age_ms = u64::try_from(b.max_age.as_millis()).unwrap_or(u64::MAX);
        let opened =
            tokio::task::spawn_blocking(move || Log::open(&b.dir, b.max_bytes, max_age_ms)).await;
        match opened {
            Ok(Ok((log, found))) => {
                if found.cut_bytes > 0 {
                    tracing::warn!(dir = %self.config.buffer.dir.display(), bytes = found.cut_bytes, "store-and-forward log: cut a torn or damaged tail (a power cut while writing?)");
                }
                if found.records > 0 {
                    tracing::info!(
                        records = found.records,
                        "store-and-forward log: records from before the restart wait to be replayed"
                    );
                }
                self.log = Some(log);
                self.report_log();
            }
            Ok(Err(e)) => {
                tracing::error!(dir = %self.config.buffer.dir.display(), error = %e, "cannot open the store-and-forward log; changes during an outage will not be kept");
            }
            Err(e) => tracing::error!(error = %e, "cannot open the store-and-forward log"),
        }
    }

    /// A new connection with the next bdSeq, kept for the next start first.
    async fn connect(&mut self) -> Session {
        let bd_seq = self.next_bd_seq;
        self.next_bd_seq = self.next_bd_seq.wrapping_add(1);
        let (file, next) = (self.bd_seq_file.clone(), self.next_bd_seq);
        let kept = tokio::task::spawn_blocking(move || file.store(next)).await;
        if let Some(e) =
            kept.map_or_else(|e| Some(e.to_string()), |r| r.err().map(|e| e.to_string()))
        {
            tracing::warn!(error = %e, "cannot keep bdSeq for the next start; a restart counts on from the last number kept");
        }
        let will = payload::encode(now_ms(), None, vec![bd_seq_metric(bd_seq, now_ms())]);
        let conn = Connection::open(
            &self.config,
            self.password.as_deref(),
            self.tls.as_ref(),
            &self.topics.node(MessageType::NDeath),
            will,
        );
        Session {
            conn,
            bd_seq,
            seq: Seq::default(),
            phase: Phase::Connecting,
            deadline: Instant::now() + CONNECT_TIMEOUT * 2,
            devices: vec![DeviceView::default(); self.engine.store().device_count()],
            node_values: None,
            host: None,
            replay_mark: None,
            replay_after: None,
            recent: Recent::default(),
            born_shape: self.engine.store().shape(),
        }
    }

    /// One event of the connection; `Some` ends the session.
    async fn on_event(
        &mut self,
        s: &mut Session,
        event: Option<LinkEvent>,
        backoff: &mut ExponentialBackoff,
    ) -> Option<Ended> {
        match event {
            None => Some(Ended::Lost("the MQTT client stopped".into())),
            Some(LinkEvent::Closed(why)) => Some(Ended::Lost(why)),
            Some(LinkEvent::Connected) => {
                backoff.reset();
                self.health.mqtt.set_last_error(None);
                tracing::info!(broker = %self.config.broker, client_id = %self.config.client_id, bd_seq = s.bd_seq, "connected to the MQTT broker");
                let mut filters = vec![
                    self.topics.node(MessageType::NCmd),
                    self.topics.device_commands(),
                ];
                if let Some(host) = &self.config.primary_host_id {
                    filters.push(state_topic(host));
                }
                s.phase = Phase::Subscribing(filters.len());
                s.deadline = Instant::now() + CONNECT_TIMEOUT;
                for f in filters {
                    if s.conn
                        .client
                        .subscribe(f, rumqttc::QoS::AtLeastOnce)
                        .await
                        .is_err()
                    {
                        return Some(Ended::Lost("the MQTT client stopped".into()));
                    }
                }
                None
            }
            Some(LinkEvent::Subscribed) => {
                if let Phase::Subscribing(left) = s.phase {
                    s.phase = Phase::Subscribing(left.saturating_sub(1));
                }
                if s.phase == Phase::Subscribing(0) {
                    s.phase = Phase::WaitingForHost;
                    if self.config.primary_host_id.is_none() || s.host.is_some_and(|h| h.online) {
                        return self.birth(s).await;
                    }
                    self.health.mqtt.set_state(MqttState::WaitingForHost);
                }
                None
            }
            Some(LinkEvent::Message { topic, payload }) => {
                self.on_message(s, &topic, &payload).await
            }
        }
    }

    /// A message on one of our subscriptions; `Some` ends the session.
    async fn on_message(&mut self, s: &mut Session, topic: &str, payload: &[u8]) -> Option<Ended> {
        if let Some(host) = &self.config.primary_host_id
            && topic == state_topic(host)
        {
            let Some(state) = HostState::parse(payload) else {
                tracing::warn!(host = %host, "ignoring a STATE message that is not Sparkplug 3.0 JSON");
                return None;
            };
            if s.host.is_some_and(|seen| state.timestamp < seen.timestamp) {
                return None;
            }
            s.host = Some(state);
            if state.online && s.phase == Phase::WaitingForHost {
                tracing::info!(host = %host, "primary host is online: birth");
                return self.birth(s).await;
            }
            if !state.online && s.phase == Phase::Born {
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
                if rebirth && s.phase == Phase::Born {
                    tracing::info!("rebirth asked for by NCMD");
                    return self.birth(s).await;
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
            self.health.mqtt.count_write(WriteOutcome::Refused);
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
                self.health.mqtt.count_write(WriteOutcome::Refused);
            }
        }
    }

    /// Once a second: fsync the log (off the async threads, one at a time),
    /// confirm replayed records read before the previous tick, report sizes.
    fn maintain_log(
        &mut self,
        session: Option<&mut Session>,
        syncing: &mut Option<JoinHandle<std::io::Result<()>>>,
    ) {
        let Some(log) = self.log.as_mut() else {
            return;
        };
        if syncing.as_ref().is_none_or(JoinHandle::is_finished)
            && let Some(f) = log.sync_handle()
        {
            *syncing = Some(tokio::task::spawn_blocking(move || f.sync_data()));
        }
        if let Some(s) = session.filter(|s| s.phase == Phase::Born) {
            if let Some(mark) = s.replay_mark.take() {
                let committed = log.commit_to(mark);
                self.log_result(committed);
            }
            if let Some(log) = self.log.as_ref() {
                s.replay_mark = Some(log.read_mark());
            }
        }
        self.report_log();
    }

    /// Log a log failure once, and its recovery once.
    pub(super) fn log_result(&mut self, r: std::io::Result<()>) {
        match r {
            Err(e) if !self.log_failing => {
                tracing::error!(dir = %self.config.buffer.dir.display(), error = %e, "store-and-forward log failed; records are lost until it works again");
                self.log_failing = true;
            }
            Ok(()) if self.log_failing => {
                tracing::info!(dir = %self.config.buffer.dir.display(), "store-and-forward log works again");
                self.log_failing = false;
            }
            _ => {}
        }
    }

    /// The log's sizes into the counters.
    pub(super) fn report_log(&self) {
        if let Some(log) = &self.log {
            self.health
                .mqtt
                .set_buffer(log.records(), log.bytes(), log.dropped() + self.lost);
        }
    }

    /// Shutdown: NDEATH and DISCONNECT if connected; the log to disk.
    async fn shut_down(&mut self, session: Option<Session>) {
        if let Some(s) = session
            && !matches!(s.phase, Phase::Connecting)
        {
            self.publish_ndeath(&s).await;
            s.conn.close(CLOSE_TIME).await;
            tracing::info!("MQTT session closed: NDEATH published");
        }
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let written = log.write_pending();
        let handle = log.sync_handle();
        self.log_result(written);
        if let Some(f) = handle {
            let _ = tokio::task::spawn_blocking(move || f.sync_data()).await;
        }
    }
}

/// The next event of the session's connection; pending forever without one.
async fn next_event(session: &mut Option<Session>) -> Option<LinkEvent> {
    match session {
        Some(s) => s.conn.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleep until `at`; pending forever for `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard wait_for returns must not live across the caller's awaits.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Milliseconds since the epoch, now.
pub(super) fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}
