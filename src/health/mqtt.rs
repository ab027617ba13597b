//! What the Sparkplug edge node reports about itself: its session state and
//! its counters. The edge node writes them; `/metrics` and `/healthz` read
//! them, so neither face imports the other.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::lock::lock;

/// Where the edge node's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttState {
    /// Not connected; connecting or waiting to retry.
    Disconnected,
    /// Connected, waiting for the primary host's STATE to say online.
    WaitingForHost,
    /// Connected and born: data flows.
    Online,
}

impl MqttState {
    /// The word `/healthz` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            MqttState::Disconnected => "disconnected",
            MqttState::WaitingForHost => "waiting for primary host",
            MqttState::Online => "online",
        }
    }

    fn from_u8(v: u8) -> MqttState {
        match v {
            1 => MqttState::WaitingForHost,
            2 => MqttState::Online,
            _ => MqttState::Disconnected,
        }
    }
}

/// How a DCMD write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The device acknowledged it.
    Written,
    /// Refused before any device was asked: writes off, tag not writable,
    /// unknown metric, wrong type, too many at once.
    Refused,
    /// Sent, but the device or the bus failed it.
    Failed,
}

impl WriteOutcome {
    /// Every outcome, in the order metrics list them.
    pub const ALL: [WriteOutcome; 3] = [
        WriteOutcome::Written,
        WriteOutcome::Refused,
        WriteOutcome::Failed,
    ];

    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Written => "written",
            WriteOutcome::Refused => "refused",
            WriteOutcome::Failed => "failed",
        }
    }
}

/// Message types counted; the edge node maps its types onto these slots.
pub const MESSAGE_TYPES: usize = 8;

/// The edge node's state and counters.
#[derive(Debug, Default)]
pub struct MqttStats {
    /// Whether `[mqtt]` is configured: nothing is reported without it.
    enabled: AtomicBool,
    /// The `type` label of each message slot, from the edge node's vocabulary.
    type_names: OnceLock<[&'static str; MESSAGE_TYPES]>,
    state: AtomicU8,
    /// Messages published, by Sparkplug type (`sparkplug::MessageType::index`),
    /// and commands received in the NCMD and DCMD slots.
    messages: [AtomicU64; MESSAGE_TYPES],
    /// Payload bytes published.
    bytes: AtomicU64,
    writes: [AtomicU64; 3],
    /// The store-and-forward log: records and bytes waiting, records dropped
    /// (over a bound), records replayed.
    buffer_records: AtomicU64,
    buffer_bytes: AtomicU64,
    buffer_dropped: AtomicU64,
    replayed: AtomicU64,
    /// Why the last connection ended, for `/healthz`.
    last_error: Mutex<Option<String>>,
}

impl MqttStats {
    /// Mark the edge node as configured, with the name of each message slot.
    pub fn enable(&self, type_names: [&'static str; MESSAGE_TYPES]) {
        let _ = self.type_names.set(type_names);
        self.enabled.store(true, Ordering::Relaxed);
    }

    /// Each message slot's name and count.
    pub fn messages_by_type(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let names = self.type_names.get().copied().unwrap_or_default();
        names
            .into_iter()
            .zip(&self.messages)
            .map(|(n, c)| (n, c.load(Ordering::Relaxed)))
    }

    /// Whether the edge node is configured.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Set the session state.
    pub fn set_state(&self, s: MqttState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// The session state.
    pub fn state(&self) -> MqttState {
        MqttState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Count one message of type slot `kind` with `bytes` of payload.
    pub fn count_message(&self, kind: usize, bytes: usize) {
        if let Some(c) = self.messages.get(kind) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Messages counted in type slot `kind`.
    pub fn messages(&self, kind: usize) -> u64 {
        self.messages
            .get(kind)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Payload bytes published.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Count one DCMD write.
    pub fn count_write(&self, outcome: WriteOutcome) {
        if let Some(c) = self.writes.get(outcome as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// DCMD writes that ended with `outcome`.
    pub fn writes(&self, outcome: WriteOutcome) -> u64 {
        self.writes
            .get(outcome as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The log's size now and the records it dropped so far.
    pub fn set_buffer(&self, records: u64, bytes: u64, dropped: u64) {
        self.buffer_records.store(records, Ordering::Relaxed);
        self.buffer_bytes.store(bytes, Ordering::Relaxed);
        self.buffer_dropped.store(dropped, Ordering::Relaxed);
    }

    /// Records and bytes waiting in the log, and records it dropped.
    pub fn buffer(&self) -> (u64, u64, u64) {
        (
            self.buffer_records.load(Ordering::Relaxed),
            self.buffer_bytes.load(Ordering::Relaxed),
            self.buffer_dropped.load(Ordering::Relaxed),
        )
    }

    /// Count records replayed from the log.
    pub fn count_replayed(&self, n: u64) {
        self.replayed.fetch_add(n, Ordering::Relaxed);
    }

    /// Records replayed from the log so far.
    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }

    /// Record why the connection ended (`None` once it is back).
    pub fn set_last_error(&self, e: Option<String>) {
        *lock(&self.last_error) = e;
    }

    /// Why the last connection ended, if it has not come back since.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
}
