//! The tag model and the tag store.
//!
//! A tag is one named value of one device. The store holds, per tag, the latest
//! value, its quality and its source timestamp. It is built once at start-up from
//! the validated config and never grows: tag ids are indexes, so northbound
//! consumers (HTTP, OPC UA, metrics) can keep them.
//!
//! Invariants:
//! - a tag that was never polled is `Bad(Waiting)` with no value;
//! - a value survives a failed poll as `Uncertain` only while it is younger than
//!   its device's `stale_after`; after that the quality is `Bad` and the value is
//!   withheld from readers (`TagSnapshot::usable_value`);
//! - the change feed announces every change of value or quality, never a plain
//!   re-confirmation, so subscribers are not woken for nothing.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::telemetry::DeviceCounters;

/// Modbus data table a tag lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Coil,
    Discrete,
    Input,
    Holding,
}

impl Kind {
    /// Config and CLI spellings, the one table both parse with.
    pub const NAMES: &[(&str, Kind)] = &[
        ("coil", Kind::Coil),
        ("discrete", Kind::Discrete),
        ("input", Kind::Input),
        ("holding", Kind::Holding),
    ];

    /// True for the one-bit tables (coils, discrete inputs).
    pub fn is_bit(self) -> bool {
        matches!(self, Kind::Coil | Kind::Discrete)
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Coil => "coil",
            Kind::Discrete => "discrete",
            Kind::Input => "input",
            Kind::Holding => "holding",
        }
    }
}

/// Tag data type as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    String,
}

impl DataType {
    /// Config and CLI spellings, the one table both parse with.
    pub const NAMES: &[(&str, DataType)] = &[
        ("bool", DataType::Bool),
        ("u16", DataType::U16),
        ("i16", DataType::I16),
        ("u32", DataType::U32),
        ("i32", DataType::I32),
        ("u64", DataType::U64),
        ("i64", DataType::I64),
        ("f32", DataType::F32),
        ("f64", DataType::F64),
        ("string", DataType::String),
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String => "string",
        }
    }

    /// True for the integer and float types.
    pub fn is_numeric(self) -> bool {
        !matches!(self, DataType::Bool | DataType::String)
    }
}

/// Byte/word order of multi-register values, named after the 32-bit layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WordOrder {
    #[default]
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl WordOrder {
    /// Spellings, the one table config and CLI parse with: lower-case as the
    /// CLI takes them; the config matches them ignoring case (and documents
    /// them upper-case, as `as_str` prints them).
    pub const NAMES: &[(&str, WordOrder)] = &[
        ("abcd", WordOrder::Abcd),
        ("cdab", WordOrder::Cdab),
        ("badc", WordOrder::Badc),
        ("dcba", WordOrder::Dcba),
    ];

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }
}

/// A decoded, typed tag value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    String(String),
}

impl Value {
    /// The value as a float, for metrics and deadbands; `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Value::Bool(b) => f64::from(u8::from(b)),
            Value::U16(v) => f64::from(v),
            Value::I16(v) => f64::from(v),
            Value::U32(v) => f64::from(v),
            Value::I32(v) => f64::from(v),
            // 64-bit integers lose precision above 2^53; acceptable for metrics and deadbands.
            Value::U64(v) => v as f64,
            Value::I64(v) => v as f64,
            Value::F32(v) => f64::from(v),
            Value::F64(v) => v,
            Value::String(_) => return None,
        })
    }

    /// The value as a float for display: an f32 through its shortest decimal form,
    /// so 230.1f32 shows as 230.1 and not 230.10000610351562. Allocates for f32.
    pub fn as_display_f64(&self) -> Option<f64> {
        match self {
            Value::F32(v) => v.to_string().parse().ok(),
            other => other.as_f64(),
        }
    }

    /// JSON form: numbers stay numbers (64-bit integers exactly), strings and bools as such.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::U16(v) => (*v).into(),
            Value::I16(v) => (*v).into(),
            Value::U32(v) => (*v).into(),
            Value::I32(v) => (*v).into(),
            Value::U64(v) => (*v).into(),
            Value::I64(v) => (*v).into(),
            // Through the shortest decimal form, so 230.1f32 is 230.1 and not 230.10000610351562.
            Value::F32(v) => {
                serde_json::Number::from_f64(v.to_string().parse().unwrap_or(f64::NAN))
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::F64(v) => serde_json::Number::from_f64(*v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(v) => write!(f, "{v:?}"),
        }
    }
}

/// Why a tag has no good value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadCause {
    /// No connection to the device (refused, reset, port missing, malformed reply).
    Communication,
    /// The device did not answer within the timeout.
    Timeout,
    /// The device answered with this Modbus exception code.
    Exception(u8),
    /// The registers arrived but do not make a valid value (NaN, non-ASCII string).
    Decode,
    /// Not polled yet since start-up.
    Waiting,
}

impl BadCause {
    /// Stable lowercase name, used in JSON, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BadCause::Communication => "communication",
            BadCause::Timeout => "timeout",
            BadCause::Exception(_) => "exception",
            BadCause::Decode => "decode",
            BadCause::Waiting => "waiting",
        }
    }
}

/// Data quality of a tag, with the reason when it is not good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    /// The last good value is kept after a failed poll, until it is older than `stale_after`.
    Uncertain(BadCause),
    Bad(BadCause),
}

impl Quality {
    /// The quality word: "good", "uncertain" or "bad".
    pub fn level(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain(_) => "uncertain",
            Quality::Bad(_) => "bad",
        }
    }

    /// The reason when not good.
    pub fn cause(self) -> Option<BadCause> {
        match self {
            Quality::Good => None,
            Quality::Uncertain(c) | Quality::Bad(c) => Some(c),
        }
    }
}

/// What a failed poll does to a tag's quality: keep the value as uncertain while it
/// is fresh, otherwise bad. Pure, so the rule is tested without a clock.
pub fn quality_after_failure(
    has_value: bool,
    last_good: Option<Instant>,
    now: Instant,
    stale_after: Duration,
    cause: BadCause,
) -> Quality {
    match last_good {
        Some(at) if has_value && now.saturating_duration_since(at) < stale_after => {
            Quality::Uncertain(cause)
        }
        _ => Quality::Bad(cause),
    }
}

/// True when `new` differs from `old` by more than the deadband (or in kind).
pub fn exceeds_deadband(old: &Value, new: &Value, deadband: Option<f64>) -> bool {
    match (deadband, old.as_f64(), new.as_f64()) {
        (Some(db), Some(a), Some(b)) if !matches!(new, Value::Bool(_)) => (b - a).abs() > db,
        _ => old != new,
    }
}

/// Static description of a tag: what consumers need to present it.
#[derive(Debug, Clone)]
pub struct TagMeta {
    /// Index of the device in the config and in the store's device list.
    pub device: usize,
    pub device_name: String,
    pub name: String,
    /// The type a client sees (f64 when scaled).
    pub data_type: DataType,
    pub unit: Option<String>,
    pub description: Option<String>,
    pub writable: bool,
    pub deadband: Option<f64>,
}

/// The mutable part of a tag.
#[derive(Debug, Clone)]
struct TagState {
    value: Option<Value>,
    quality: Quality,
    /// When the response carrying the current value arrived; for a bad tag,
    /// when it went bad.
    source_time: Option<SystemTime>,
    /// When value or quality last changed.
    changed_at: Option<SystemTime>,
    /// When the last good value arrived, for the staleness rule.
    last_good: Option<Instant>,
}

/// A consistent copy of one tag's state for readers.
#[derive(Debug, Clone)]
pub struct TagSnapshot {
    pub value: Option<Value>,
    pub quality: Quality,
    pub source_time: Option<SystemTime>,
    pub changed_at: Option<SystemTime>,
}

impl TagSnapshot {
    /// The value if it may be shown as a value (good or uncertain), `None` when bad.
    pub fn usable_value(&self) -> Option<&Value> {
        match self.quality {
            Quality::Bad(_) => None,
            _ => self.value.as_ref(),
        }
    }
}

/// Live health of one device, written by its bus task.
#[derive(Debug, Clone, Default)]
pub struct DeviceStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    pub last_poll_duration: Duration,
    pub requests_per_cycle: u32,
    /// When the last cycle of this device finished (successfully or not).
    pub last_cycle_at: Option<SystemTime>,
    /// True while the RTU bus skips this slave after repeated timeouts.
    pub demoted: bool,
}

/// Static description of a device for consumers.
#[derive(Debug, Clone)]
pub struct DeviceMeta {
    pub name: String,
    /// False for a device without tags: it is never polled.
    pub polled: bool,
    pub poll: Duration,
    pub stale_after: Duration,
}

struct DeviceSlot {
    meta: DeviceMeta,
    status: Mutex<DeviceStatus>,
    counters: DeviceCounters,
}

/// Capacity of the change feed; a subscriber that falls further behind gets
/// `Lagged` and must re-read the whole store.
pub const CHANGE_FEED_CAPACITY: usize = 16_384;

/// Identifies a tag in the store.
pub type TagId = usize;

/// One change announced on the feed: the tag's state right after it changed,
/// so a subscriber sees every change in order, not just the latest.
#[derive(Debug, Clone)]
pub struct TagChange {
    pub id: TagId,
    pub value: Option<Value>,
    pub quality: Quality,
    pub source_time: SystemTime,
}

/// Latest value, quality and timestamps of every tag, fixed at start-up.
pub struct TagStore {
    metas: Vec<TagMeta>,
    states: Vec<Mutex<TagState>>,
    devices: Vec<DeviceSlot>,
    changes: broadcast::Sender<TagChange>,
}

impl std::fmt::Debug for TagStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagStore")
            .field("tags", &self.metas.len())
            .field("devices", &self.devices.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A writer that panicked cannot leave a TagState half-written (plain field
    // assignments), so a poisoned lock still holds consistent data.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TagStore {
    /// A store for these devices and tags, every tag `Bad(Waiting)`.
    pub fn new(devices: Vec<DeviceMeta>, tags: Vec<TagMeta>) -> Self {
        let (changes, _) = broadcast::channel(CHANGE_FEED_CAPACITY);
        let states = tags
            .iter()
            .map(|_| {
                Mutex::new(TagState {
                    value: None,
                    quality: Quality::Bad(BadCause::Waiting),
                    source_time: None,
                    changed_at: None,
                    last_good: None,
                })
            })
            .collect();
        let devices = devices
            .into_iter()
            .map(|meta| DeviceSlot {
                meta,
                status: Mutex::new(DeviceStatus::default()),
                counters: DeviceCounters::default(),
            })
            .collect();
        TagStore {
            metas: tags,
            states,
            devices,
            changes,
        }
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// True when the store has no tags.
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Every tag's static description, indexed by `TagId`.
    pub fn metas(&self) -> &[TagMeta] {
        &self.metas
    }

    /// Find a tag by device and tag name.
    pub fn find(&self, device: &str, tag: &str) -> Option<TagId> {
        self.metas
            .iter()
            .position(|m| m.device_name == device && m.name == tag)
    }

    /// A copy of one tag's state; `None` for an unknown id.
    pub fn snapshot(&self, id: TagId) -> Option<TagSnapshot> {
        let state = lock(self.states.get(id)?);
        Some(TagSnapshot {
            value: state.value.clone(),
            quality: state.quality,
            source_time: state.source_time,
            changed_at: state.changed_at,
        })
    }

    /// Subscribe to the change feed: every change of a tag's value or quality.
    pub fn subscribe(&self) -> broadcast::Receiver<TagChange> {
        self.changes.subscribe()
    }

    /// Record a good value that arrived at `source_time`.
    pub fn set_good(&self, id: TagId, value: Value, source_time: SystemTime, now: Instant) {
        self.store_good(id, value, source_time, now, false);
    }

    /// Record a value the device just acknowledged writing: stored as is, even
    /// inside the deadband, so a reader sees exactly what was written.
    pub fn set_written(&self, id: TagId, value: Value, source_time: SystemTime, now: Instant) {
        self.store_good(id, value, source_time, now, true);
    }

    fn store_good(
        &self,
        id: TagId,
        value: Value,
        source_time: SystemTime,
        now: Instant,
        exact: bool,
    ) {
        let (Some(slot), Some(meta)) = (self.states.get(id), self.metas.get(id)) else {
            return;
        };
        let changed = {
            let mut state = lock(slot);
            let changed = state.quality != Quality::Good
                || (exact && state.value.as_ref() != Some(&value))
                || state
                    .value
                    .as_ref()
                    .is_none_or(|old| exceeds_deadband(old, &value, meta.deadband));
            state.source_time = Some(source_time);
            state.last_good = Some(now);
            if changed {
                state.value = Some(value.clone());
                state.quality = Quality::Good;
                state.changed_at = Some(source_time);
            }
            changed
        };
        if changed {
            // No receivers is normal (nobody subscribed yet).
            let _ = self.changes.send(TagChange {
                id,
                value: Some(value),
                quality: Quality::Good,
                source_time,
            });
        }
    }

    /// Record a failed poll of the tag: uncertain while the last value is fresh, else bad.
    pub fn set_failed(&self, id: TagId, cause: BadCause, at: SystemTime, now: Instant) {
        let (Some(slot), Some(meta)) = (self.states.get(id), self.metas.get(id)) else {
            return;
        };
        let stale_after = self
            .devices
            .get(meta.device)
            .map_or(Duration::ZERO, |d| d.meta.stale_after);
        let changed = {
            let mut state = lock(slot);
            let quality = quality_after_failure(
                state.value.is_some(),
                state.last_good,
                now,
                stale_after,
                cause,
            );
            if quality == state.quality {
                None
            } else {
                state.quality = quality;
                state.changed_at = Some(at);
                // An uncertain value is the last usable one: it keeps the time it
                // was read. A bad tag has no value; its time is when it went bad.
                if matches!(quality, Quality::Bad(_)) || state.source_time.is_none() {
                    state.source_time = Some(at);
                }
                let at = state.source_time.unwrap_or(at);
                Some(TagChange {
                    id,
                    value: state.value.clone(),
                    quality,
                    source_time: at,
                })
            }
        };
        if let Some(change) = changed {
            let _ = self.changes.send(change);
        }
    }

    /// Static description of a device.
    pub fn device_meta(&self, device: usize) -> Option<&DeviceMeta> {
        self.devices.get(device).map(|d| &d.meta)
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// A copy of a device's live status.
    pub fn device_status(&self, device: usize) -> Option<DeviceStatus> {
        self.devices.get(device).map(|d| lock(&d.status).clone())
    }

    /// Update a device's live status in place.
    pub fn update_device(&self, device: usize, f: impl FnOnce(&mut DeviceStatus)) {
        if let Some(d) = self.devices.get(device) {
            f(&mut lock(&d.status));
        }
    }

    /// A device's counters.
    pub fn counters(&self, device: usize) -> Option<&DeviceCounters> {
        self.devices.get(device).map(|d| &d.counters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_one_tag(deadband: Option<f64>) -> TagStore {
        TagStore::new(
            vec![DeviceMeta {
                polled: true,
                name: "d".into(),
                poll: Duration::from_secs(1),
                stale_after: Duration::from_secs(3),
            }],
            vec![TagMeta {
                device: 0,
                device_name: "d".into(),
                name: "t".into(),
                data_type: DataType::F64,
                unit: None,
                description: None,
                writable: false,
                deadband,
            }],
        )
    }

    #[test]
    fn never_polled_tag_is_bad_waiting() {
        let store = store_with_one_tag(None);
        let snap = store.snapshot(0).unwrap();
        assert_eq!(snap.quality, Quality::Bad(BadCause::Waiting));
        assert!(snap.value.is_none());
    }

    #[test]
    fn failure_within_stale_after_keeps_value_uncertain() {
        let now = Instant::now();
        let q = quality_after_failure(
            true,
            Some(now),
            now + Duration::from_secs(2),
            Duration::from_secs(3),
            BadCause::Timeout,
        );
        assert_eq!(q, Quality::Uncertain(BadCause::Timeout));
    }

    #[test]
    fn failure_after_stale_after_is_bad() {
        let now = Instant::now();
        let q = quality_after_failure(
            true,
            Some(now),
            now + Duration::from_secs(3),
            Duration::from_secs(3),
            BadCause::Exception(4),
        );
        assert_eq!(q, Quality::Bad(BadCause::Exception(4)));
    }

    #[test]
    fn failure_without_any_value_is_bad() {
        let now = Instant::now();
        let q = quality_after_failure(false, None, now, Duration::from_secs(3), BadCause::Timeout);
        assert_eq!(q, Quality::Bad(BadCause::Timeout));
    }

    #[tokio::test]
    async fn change_feed_announces_changes_but_not_reconfirmations() {
        let store = store_with_one_tag(None);
        let mut feed = store.subscribe();
        let now = Instant::now();
        store.set_good(0, Value::F64(1.0), SystemTime::now(), now);
        assert_eq!(feed.try_recv().unwrap().id, 0);
        store.set_good(0, Value::F64(1.0), SystemTime::now(), now);
        assert!(feed.try_recv().is_err(), "same value must not notify");
        store.set_failed(0, BadCause::Timeout, SystemTime::now(), now);
        assert_eq!(feed.try_recv().unwrap().id, 0);
        assert_eq!(
            store.snapshot(0).unwrap().quality,
            Quality::Uncertain(BadCause::Timeout)
        );
    }

    #[test]
    fn deadband_suppresses_small_changes() {
        let store = store_with_one_tag(Some(0.5));
        let now = Instant::now();
        store.set_good(0, Value::F64(10.0), SystemTime::now(), now);
        store.set_good(0, Value::F64(10.4), SystemTime::now(), now);
        assert_eq!(store.snapshot(0).unwrap().value, Some(Value::F64(10.0)));
        store.set_good(0, Value::F64(10.6), SystemTime::now(), now);
        assert_eq!(store.snapshot(0).unwrap().value, Some(Value::F64(10.6)));
    }

    #[test]
    fn uncertain_keeps_the_source_time_of_the_last_good_value() {
        let store = store_with_one_tag(None);
        let t0 = Instant::now();
        let read_at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        store.set_good(0, Value::F64(1.0), read_at, t0);
        store.set_failed(
            0,
            BadCause::Timeout,
            read_at + Duration::from_secs(1),
            t0 + Duration::from_secs(1),
        );
        let snap = store.snapshot(0).unwrap();
        assert_eq!(snap.quality, Quality::Uncertain(BadCause::Timeout));
        assert_eq!(snap.source_time, Some(read_at));
        let failed_at = read_at + Duration::from_secs(10);
        store.set_failed(
            0,
            BadCause::Timeout,
            failed_at,
            t0 + Duration::from_secs(10),
        );
        assert_eq!(store.snapshot(0).unwrap().source_time, Some(failed_at));
    }

    #[test]
    fn a_written_value_is_stored_exactly_even_inside_the_deadband() {
        let store = store_with_one_tag(Some(5.0));
        let now = Instant::now();
        store.set_good(0, Value::F64(10.0), SystemTime::now(), now);
        store.set_written(0, Value::F64(11.0), SystemTime::now(), now);
        assert_eq!(store.snapshot(0).unwrap().value, Some(Value::F64(11.0)));
    }

    #[test]
    fn bad_tag_withholds_its_value() {
        let store = store_with_one_tag(None);
        let t0 = Instant::now();
        store.set_good(0, Value::F64(1.0), SystemTime::now(), t0);
        store.set_failed(
            0,
            BadCause::Timeout,
            SystemTime::now(),
            t0 + Duration::from_secs(10),
        );
        let snap = store.snapshot(0).unwrap();
        assert_eq!(snap.quality, Quality::Bad(BadCause::Timeout));
        assert!(snap.usable_value().is_none());
    }
}
