//! History: what the edge node records to the store-and-forward log while
//! it cannot publish, and how it replays it once born.
//!
//! - A round while not born: the changed tags go to the log, by name.
//! - A connection found dead: the live DDATA of its last second goes to the
//!   log too (`Recent`), since `QoS` 0 cannot tell whether it left.
//! - A round while born: up to `REPLAY_PER_ROUND` records replayed as DDATA
//!   with `is_historical`; a record of a device that is down waits at the
//!   tail of the log for its next DBIRTH.

use prost::Message as _;

use super::buffer;
use super::node::{Ended, Node, Session, now_ms};
use super::payload::{self, Form};
use super::proto::Payload;
use super::publish::lost;
use super::sparkplug::MessageType;
use crate::tags::{DeviceId, TagId};

/// Records replayed per round at most (10 rounds a second): the backlog
/// drains at up to this rate while live data keeps its place in every round.
const REPLAY_PER_ROUND: usize = 50;
/// Live DDATA kept after it was handed to the connection, to be recorded
/// if the connection turns out dead (`record_unconfirmed`): this long...
const RECENT_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// ... and at most this many bytes of it.
const RECENT_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The live DDATA of the last `RECENT_FOR`, newest last.
#[derive(Debug, Default)]
pub(super) struct Recent {
    entries: std::collections::VecDeque<(u64, DeviceId, Vec<u8>)>,
    since: std::collections::VecDeque<tokio::time::Instant>,
    bytes: usize,
}

impl Recent {
    pub(super) fn push(&mut self, device: DeviceId, payload: &[u8]) {
        let now = tokio::time::Instant::now();
        while self.since.front().is_some_and(|t| now - *t > RECENT_FOR)
            || self.bytes + payload.len() > RECENT_MAX_BYTES && !self.entries.is_empty()
        {
            self.since.pop_front();
            if let Some((_, _, b)) = self.entries.pop_front() {
                self.bytes -= b.len();
            }
        }
        self.bytes += payload.len();
        self.since.push_back(now);
        self.entries.push_back((now_ms(), device, payload.to_vec()));
    }
}

/// How long replay pauses when all it found were records of devices that
/// are down (a DBIRTH resumes it at once).
const REPLAY_HOLD: std::time::Duration = std::time::Duration::from_secs(5);
impl Node {
    /// A connection was found dead: what it was given in its last moments
    /// may never have left the machine (`QoS` 0 has no acknowledgement), so
    /// the live DDATA of the last `Recent` window goes to the log as well,
    /// to be replayed as history. A host may get such a value twice; it
    /// does not miss it.
    pub(super) fn record_unconfirmed(&mut self, recent: Recent) {
        if self.log.is_none() {
            return;
        }
        let store = self.engine.store().clone();
        let mut result = Ok(());
        for (written_at, device, bytes) in recent.entries {
            let Ok(mut p) = Payload::decode(bytes.as_slice()) else {
                continue;
            };
            p.seq = None;
            // From aliases back to names: the log outlives this config.
            p.metrics.retain_mut(|m| {
                let Some(meta) = m
                    .alias
                    .and_then(|a| usize::try_from(a).ok())
                    .and_then(|a| store.meta(TagId::new(a)))
                else {
                    return false;
                };
                m.name = Some(meta.name.to_string());
                m.alias = None;
                m.datatype = Some(payload::datatype_of(meta.data_type));
                m.is_historical = Some(true);
                true
            });
            if p.metrics.is_empty() {
                continue;
            }
            let body = buffer::entry(store.device_name(device), &p.encode_to_vec());
            if let Some(log) = self.log.as_mut()
                && let Err(e) = log.append(written_at, &body)
            {
                self.lost += 1;
                result = Err(e);
            }
        }
        self.log_result(result);
    }

    /// Up to `REPLAY_PER_ROUND` records of the log, as historical DDATA.
    pub(super) async fn replay(&mut self, s: &mut Session) -> Option<Ended> {
        if s.replay_after
            .is_some_and(|t| tokio::time::Instant::now() < t)
        {
            return None;
        }
        let log = self.log.as_mut()?;
        if !log.has_unread() {
            return None;
        }
        let batch = match log.read_batch(REPLAY_PER_ROUND, now_ms()) {
            Ok(b) => b,
            Err(e) => {
                self.log_result(Err(e));
                return None;
            }
        };
        let store = self.engine.store().clone();
        let (mut replayed, mut held) = (0, 0);
        let total = batch.len();
        for (written_at, body) in batch {
            let target = buffer::parse_entry(&body).and_then(|(name, bytes)| {
                let device = store.devices().find(|d| store.device_name(*d) == name)?;
                Some((device, name, Payload::decode(bytes).ok()?))
            });
            let Some((device, name, mut p)) = target else {
                // A device gone from the config, or a damaged record.
                self.lost += 1;
                continue;
            };
            if !s.devices.get(device.index()).is_some_and(|v| v.alive) {
                // No DDATA after a DDEATH: the record waits at the tail of
                // the log for the device's next DBIRTH (its own order kept).
                let requeued = self.log.as_mut().map(|l| l.append(written_at, &body));
                if let Some(Err(e)) = requeued {
                    self.lost += 1;
                    self.log_result(Err(e));
                }
                held += 1;
                continue;
            }
            p.seq = Some(s.seq.take());
            if !self
                .send(s, MessageType::DData, Some(name), p.encode_to_vec())
                .await
            {
                return Some(lost("historical DDATA"));
            }
            replayed += 1;
        }
        if held > 0 && held == total {
            // Only records of devices that are down: wait for one to return.
            s.replay_after = Some(tokio::time::Instant::now() + REPLAY_HOLD);
        }
        self.health.mqtt.count_replayed(replayed);
        if replayed > 0 && !self.log.as_ref().is_some_and(buffer::Log::has_unread) {
            tracing::info!(
                records = self.health.mqtt.replayed(),
                "store-and-forward backlog replayed"
            );
        }
        None
    }

    /// A round while not born: the changed tags go to the log.
    pub(super) fn record_round(&mut self) {
        let runs = self.drain_changes();
        if self.log.is_none() || runs.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.ids);
        let store = self.engine.store().clone();
        let now = now_ms();
        let mut result = Ok(());
        for (device, range) in runs {
            let metrics = self.metrics_of(ids.get(range).unwrap_or_default(), Form::Historical);
            if metrics.is_empty() {
                continue;
            }
            let payload = payload::encode(now, None, metrics);
            let body = buffer::entry(store.device_name(device), &payload);
            if let Some(log) = self.log.as_mut()
                && let Err(e) = log.append(now, &body)
            {
                self.lost += 1;
                result = Err(e);
            }
        }
        self.ids = ids;
        if let Some(log) = self.log.as_mut()
            && let Err(e) = log.write_pending()
        {
            result = Err(e);
        }
        self.log_result(result);
    }
}
